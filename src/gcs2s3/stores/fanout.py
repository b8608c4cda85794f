"""Parallel listing by "folder", shared by the GCS and S3 adapters.

A flat listing is one request per 1,000 keys, one after the other, so the client's parsing and the
server's work never overlap; against a slow server that is the whole cost of a no-change run. So:
delimited listings walk down from the prefix, level by level, until there are at least `in_flight`
sub-prefixes (or `max_depth` levels); each of those is then listed flat, several at once. A level that
would have more than `max_prefixes` sub-prefixes (many tiny folders cost one request each) is not
split: its parents are listed flat instead. Items come out in no particular order; the planner sorts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gcs2s3.core.bounded import BoundedMap

T = TypeVar("T")
# list_level(prefix, delimited) -> (items, sub-prefixes); sub-prefixes only when delimited
ListLevel = Callable[[str, bool], tuple[list[T], list[str]]]
LISTINGS_IN_FLIGHT = 8  # per side
MAX_PREFIXES = 512
MAX_DEPTH = 3


def fanout_list(
    list_level: ListLevel[T],
    prefix: str,
    in_flight: int = LISTINGS_IN_FLIGHT,
    max_prefixes: int = MAX_PREFIXES,
    max_depth: int = MAX_DEPTH,
) -> Iterator[T]:
    """Every item under `prefix`, exactly once."""
    frontier = [prefix]
    depth = 0
    with ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="list") as pool:
        while len(frontier) < in_flight and depth < max_depth:
            levels = list(pool.map(lambda p: list_level(p, True), frontier))
            deeper = [sub for _, subs in levels for sub in subs]
            if len(deeper) > max_prefixes:
                break  # too many folders to list one by one: list this frontier flat instead
            for items, _ in levels:
                yield from items
            frontier = deeper
            depth += 1
            if not frontier:
                return
        yield from _flat(pool, list_level, frontier, in_flight)


def _flat(
    pool: ThreadPoolExecutor,
    list_level: ListLevel[T],
    prefixes: list[str],
    in_flight: int,
) -> Iterator[T]:
    """Flat listings of `prefixes`, at most 2 x `in_flight` at once (bounded memory)."""
    for _, future in BoundedMap(lambda prefix: pool.submit(list_level, prefix, False), prefixes, 2 * in_flight):
        yield from future.result()[0]
