"""The memory bound: a budget of object bytes held at once, shared by every worker.

Workers take room before reading a body or part and give it back once S3 has it, so object data in
memory never exceeds `max_buffer_mb`, whatever the number of workers or the object sizes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ByteBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._changed = threading.Condition()

    def acquire(self, size: int) -> int:
        """Wait until `size` bytes fit and take them; returns the amount to give back to `release`.

        A request larger than the whole budget waits until nothing else is held, then runs alone.
        """
        size = min(size, self.limit)
        with self._changed:
            self._changed.wait_for(lambda: self._used + size <= self.limit)
            self._used += size
        return size

    def release(self, taken: int) -> None:
        with self._changed:
            self._used -= taken
            self._changed.notify_all()

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        """Hold `size` bytes of the budget for the block."""
        taken = self.acquire(size)
        try:
            yield
        finally:
            self.release(taken)


_M_MMAP_THRESHOLD = -3  # glibc mallopt parameters (malloc.h)
_M_ARENA_MAX = -8


def release_large_buffers_to_the_os() -> None:
    """Make glibc give part buffers back to the OS as soon as they are freed.

    By default glibc raises its mmap threshold after the first large free, so later multi-MB buffers
    come from per-thread arenas that keep their pages: with 8 workers that retains ~120 MB more than
    the budget (measured: peak RSS 278 MiB -> 156 MiB on 1.2 GB of mixed objects). A fixed 1 MiB
    threshold and two arenas keep RSS near interpreter + budget. No effect off glibc.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)
        libc.mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass
