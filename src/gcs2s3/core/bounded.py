"""The one bounded map: work submitted to a pool from an iterator, never more than a window in flight,
results taken as they finish (or in the order given), a stop signal honoured between submissions.
Delivery, back-fill, the planner's HEADs and the folder listings all run through it, so memory stays
bounded by the window however long the iterator is."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def done(value: R) -> Future[R]:
    """A future that already holds `value` (an item that needs no work, kept in its place in order)."""
    future: Future[R] = Future()
    future.set_result(value)
    return future


class BoundedMap(Generic[T, R]):
    """Iterate to get (item, future) for each piece of work finished, never a cancelled one.

    `submit(item)` starts the work (usually `pool.submit`). At most `window` futures are in flight.
    With `ordered`, results come in the order of `items`; otherwise as they finish. Once `stop()` is
    true, nothing more is submitted, the work queued but not begun is cancelled, and what runs is
    waited for and yielded. After the iteration: `submitted`, `cancelled`, and `left` (items never
    submitted: counted by reading the iterator to its end when `count_left` is set, else 0). Leaving
    the iteration early cancels what has not begun."""

    def __init__(self, submit: Callable[[T], Future[R]], items: Iterable[T], window: int, *,
                 ordered: bool = False, stop: Callable[[], bool] | None = None, count_left: bool = False,
                 poll_s: float = 1.0) -> None:
        self._submit, self._items, self._window = submit, iter(items), max(1, window)
        self._ordered, self._stop, self._count_left, self._poll_s = ordered, stop, count_left, poll_s
        self.submitted = self.cancelled = self.left = 0

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop()

    def _next(self) -> tuple[T, Future[R]] | None:
        """The next item submitted, or None when there is none (or a stop came)."""
        if self._stopping():
            return None
        for item in self._items:
            self.submitted += 1
            return item, self._submit(item)
        return None

    def __iter__(self) -> Iterator[tuple[T, Future[R]]]:
        running: dict[Future[R], T] = {}  # in submission order
        try:
            yield from (self._in_order(running) if self._ordered else self._as_finished(running))
        finally:
            self._cancel(running)
            if self._count_left and self._stopping():
                self.left = sum(1 for _ in self._items)

    def _cancel(self, running: dict[Future[R], T]) -> None:
        for future in running:
            if not future.done() and future.cancel():
                self.cancelled += 1

    def _fill(self, running: dict[Future[R], T]) -> None:
        while len(running) < self._window:
            nxt = self._next()
            if nxt is None:
                return
            running[nxt[1]] = nxt[0]

    def _in_order(self, running: dict[Future[R], T]) -> Iterator[tuple[T, Future[R]]]:
        self._fill(running)
        while running:
            future = next(iter(running))
            wait([future])
            item = running.pop(future)
            if not future.cancelled():
                yield item, future
            self._fill(running)

    def _as_finished(self, running: dict[Future[R], T]) -> Iterator[tuple[T, Future[R]]]:
        self._fill(running)
        while running:
            if self._stopping():
                self._cancel(running)
            finished, _ = wait(running, timeout=self._poll_s, return_when=FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                if not future.cancelled():
                    yield item, future
            self._fill(running)
