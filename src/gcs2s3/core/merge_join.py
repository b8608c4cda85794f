"""The one merge-join: a cursor over (key, value) pairs sorted by key, asked for keys in ascending order.
The planner joins its sorted listings, the state cache and the stages' attachments with it; `verify`
joins the archive listing; the bookkeeping documents look entries up with it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Any)  # comparable: bytes or str
V = TypeVar("V")


class Cursor(Generic[K, V]):
    """`take(key)` gives the values of `key`, passing over (and telling `passed`) the pairs of smaller
    keys; `rest()` gives what is left. Keys must be asked in ascending order: a key below the last one
    asked finds nothing."""

    def __init__(self, pairs: Iterable[tuple[K, V]], passed: Callable[[K, V], None] | None = None) -> None:
        self._pairs = iter(pairs)
        self._head: tuple[K, V] | None = next(self._pairs, None)
        self._passed = passed

    def _pass_below(self, key: K) -> tuple[K, V] | None:
        head = self._head
        while head is not None and head[0] < key:
            if self._passed is not None:
                self._passed(*head)
            head = next(self._pairs, None)
        self._head = head
        return head

    def peek(self, key: K) -> V | None:
        """The first value of `key`, left in place (asked again, it is found again); None when absent."""
        head = self._pass_below(key)
        return head[1] if head is not None and head[0] == key else None

    def take(self, key: K) -> list[V]:
        head = self._pass_below(key)
        found = []
        while head is not None and head[0] == key:
            found.append(head[1])
            head = next(self._pairs, None)
        self._head = head
        return found

    def first(self, key: K) -> V | None:
        """The first value of `key`, or None."""
        found = self.take(key)
        return found[0] if found else None

    def rest(self) -> Iterator[tuple[K, V]]:
        """The pairs not taken or passed over yet."""
        while self._head is not None:
            head, self._head = self._head, next(self._pairs, None)
            yield head
