"""The one retry policy of gcs2s3's own loops. The SDKs retry each request by themselves; these loops
retry what is bigger than one request (a ranged read with its body, a whole object, the lease's
conditional PUT, a WordPress upload, the reachability check) when the request retries gave up on
something that may pass.

The policy: `attempts` tries in all; before try n + 1, a pause of n times `backoff_s` (0.5 s, 1 s, ... by
default); an error of `retry_on` is tried again unless `give_up(error)` says a retry cannot help (or
the run is stopping), any other error goes straight through, and the last try's error is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
BACKOFF_S = 0.5


def retried(
    call: Callable[[], T],
    *,
    attempts: int,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    give_up: Callable[[BaseException], bool] | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
    backoff_s: float = BACKOFF_S,
) -> T:
    """`call()`, tried up to `attempts` times by the policy above; `on_retry(error)` before each pause."""
    attempt = 1
    while True:
        try:
            return call()
        except retry_on as exc:
            if attempt >= attempts or (give_up is not None and give_up(exc)):
                raise
            if on_retry is not None:
                on_retry(exc)
        time.sleep(backoff_s * attempt)
        attempt += 1
