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


class BufferPool:
    """Buffers of one size (the part size) kept for the next read instead of freed.

    A new multi-MB buffer costs a page fault per 4 KiB when it is first written, and the allocator is
    told to hand large buffers back to the OS as soon as they are freed (below), so a fresh buffer per
    part costs client CPU for every GB moved. Reads of exactly `size` bytes (every part but an
    object's last, and objects of that size) reuse a kept buffer. A buffer is only made when none is
    free, and every buffer in use holds its room in the ByteBudget, so kept plus in-use buffers never
    exceed the budget's peak.
    """

    def __init__(self, size: int, budget: ByteBudget) -> None:
        self.size = size
        self._keep = max(1, budget.limit // size)
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray | None:
        """A kept buffer of exactly `size` bytes (its old contents still in it), or None: read into a new one."""
        if size != self.size:
            return None
        with self._lock:
            return self._free.pop() if self._free else bytearray(size)

    @contextmanager
    def lent(self, size: int) -> Iterator[bytearray | None]:
        """`take(size)` for the block, given back after it."""
        buffer = self.take(size)
        try:
            yield buffer
        finally:
            if buffer is not None:
                self.give(buffer)

    def give(self, buffer: bytearray) -> None:
        """`buffer` is no longer used by anyone: keep it for the next read."""
        if len(buffer) == self.size:
            with self._lock:
                if len(self._free) < self._keep:
                    self._free.append(buffer)


_M_MMAP_THRESHOLD = -3  # glibc mallopt parameters (malloc.h)
_M_ARENA_MAX = -8


def release_large_buffers_to_the_os() -> None:
    """Make glibc give part buffers back to the OS as soon as they are freed.

    By default glibc raises its mmap threshold after the first large free, so later multi-MB buffers
    come from per-thread arenas that keep their pages: with 8 workers that retains far more than the
    budget (`make bench-sync`'s memory rows show the peak with this setting). A fixed 1 MiB
    threshold and two arenas keep RSS near interpreter + budget. No effect off glibc.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)
        libc.mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass
