"""Parallel listing by top-level "folder", shared by the GCS and S3 adapters.

A flat listing is one request per 1,000 keys, one after the other; against a slow server that is the
whole cost of a no-change run. So: one delimited listing of the prefix finds its top-level entries and
sub-prefixes, then each sub-prefix is listed flat, several at once. With more sub-prefixes than
`max_prefixes` (many tiny folders would cost one request each) it falls back to one flat listing.
Items come out in no particular order; the planner sorts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
# list_level(prefix, delimited) -> (items, sub-prefixes); sub-prefixes only when delimited
ListLevel = Callable[[str, bool], tuple[list[T], list[str]]]
MAX_PREFIXES = 256


def fanout_list(list_level: ListLevel[T], prefix: str, workers: int, max_prefixes: int = MAX_PREFIXES) -> Iterator[T]:
    items, prefixes = list_level(prefix, True)
    if len(prefixes) > max_prefixes:
        yield from list_level(prefix, False)[0]
        return
    yield from items
    del items
    if not prefixes:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(prefixes))), thread_name_prefix="list") as pool:
        pending: set[Future[tuple[list[T], list[str]]]] = set()
        queued = iter(prefixes)
        try:
            for sub in queued:
                pending.add(pool.submit(list_level, sub, False))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()[0]
                    following = next(queued, None)
                    if following is not None:
                        pending.add(pool.submit(list_level, following, False))
        finally:
            for future in pending:
                future.cancel()
