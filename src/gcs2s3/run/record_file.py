"""A temporary file of length-prefixed byte records: appended through a 1 MiB buffer, read back in the
order written, from the start, as often as needed, through a 1 MiB buffer. What the plan spool
(run/action_spool.py) and the entry store (run/entry_store.py) keep on disk. The file is a
TemporaryFile: the system removes it when it is closed or the process ends.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

_LENGTH = struct.Struct(">I")
BUFFER = 1024 * 1024


class RecordFile:
    def __init__(self, prefix: str) -> None:
        self._file: BinaryIO = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.written = 0  # bytes, with the length prefixes

    def append(self, record: bytes) -> None:
        self._pending.append(_LENGTH.pack(len(record)) + record)
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
        position = 0
        buffer = b""
        start = 0
        while True:
            if len(buffer) - start < 4 or len(buffer) - start < 4 + _LENGTH.unpack_from(buffer, start)[0]:
                self._file.seek(position)
                more = self._file.read(BUFFER)
                if not more:
                    if start != len(buffer):
                        raise EOFError("temporary record file ended inside a record")
                    return
                position += len(more)
                buffer, start = buffer[start:] + more, 0
                continue
            (length,) = _LENGTH.unpack_from(buffer, start)
            yield buffer[start + 4:start + 4 + length]
            start += 4 + length

    def close(self) -> None:
        self._file.close()
