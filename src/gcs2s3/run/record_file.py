"""A temporary file of byte records (framed by run/framing.py): appended through a 1 MiB buffer, read
back in the order written, from the start, as often as needed, through a 1 MiB buffer. What the plan spool
(run/action_spool.py) and the entry store (run/entry_store.py) keep on disk. The file is a
TemporaryFile: the system removes it when it is closed or the process ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from gcs2s3.run.framing import BUFFER, frame, read_frames


class RecordFile:
    def __init__(self, prefix: str) -> None:
        self._file: BinaryIO = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.written = 0  # bytes, with the length prefixes

    def append(self, record: bytes) -> None:
        self._pending.append(frame(record))
        self._pending_bytes += len(record) + 4
        self.written += len(record) + 4
        if self._pending_bytes >= BUFFER:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._file.seek(0, 2)
            self._file.write(b"".join(self._pending))
            self._pending, self._pending_bytes = [], 0

    def records(self) -> Iterator[bytes]:
        """Every record appended so far, in order."""
        self.flush()
        return read_frames(self._file)

    def close(self) -> None:
        self._file.close()
