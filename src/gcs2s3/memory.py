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

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        """Wait until `size` bytes fit, hold them for the block. A request larger than the whole
        budget waits until nothing else is held, then runs alone."""
        size = min(size, self.limit)
        with self._changed:
            self._changed.wait_for(lambda: self._used + size <= self.limit)
            self._used += size
        try:
            yield
        finally:
            with self._changed:
                self._used -= size
                self._changed.notify_all()
