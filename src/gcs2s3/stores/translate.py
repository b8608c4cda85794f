"""The one decorator both adapters use to turn SDK exceptions into `gcs2s3.core.errors` at the boundary."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
# mapper(what was tried, exception) -> the gcs2s3 error to raise instead, or None to let it through
Mapper = Callable[[str, Exception], Exception | None]


def translating(mapper: Mapper) -> Callable[[str], Callable[[Callable[P, R]], Callable[P, R]]]:
    """Build a `@translated("what")` decorator from an adapter's exception mapper."""

    def translated(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        def wrap(func: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(func)
            def inner(*args: P.args, **kwargs: P.kwargs) -> R:
                try:
                    return func(*args, **kwargs)
                except Exception as exc:
                    mapped = mapper(what, exc)
                    if mapped is None:
                        raise
                    raise mapped from None

            return inner

        return wrap

    return translated
