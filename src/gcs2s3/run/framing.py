"""The one framing of records in our temporary files: each record preceded by its length (4 bytes,
big-endian), read back through a buffer from any offset. The plan file and the entry store keep
single records in a FrameFile; the external sort (run/sorting.py) keeps (key, record) pairs as one
framed record each (`pair` / `read_pairs`)."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

_LENGTH = struct.Struct(">I")
_PAIR = struct.Struct(">II")  # a pair's frame length, then its key's length
BUFFER = 1024 * 1024


def frame(record: bytes) -> bytes:
    return _LENGTH.pack(len(record)) + record


def pair(key: bytes, record: bytes) -> bytes:
    """A framed (key, record) pair."""
    return _PAIR.pack(4 + len(key) + len(record), len(key)) + key + record


def read_frames(file: BinaryIO, offset: int = 0, count: int | None = None, read_size: int = BUFFER) -> Iterator[bytes]:
    """The records framed in `file` from `offset`: `count` of them, or to the end of the file."""
    return _read(file, offset, count, read_size, pairs=False)


def read_pairs(file: BinaryIO, offset: int, count: int, read_size: int = BUFFER) -> Iterator[tuple[bytes, bytes]]:
    """`count` (key, record) pairs framed by `pair` in `file` from `offset`."""
    return _read(file, offset, count, read_size, pairs=True)


def _read(file: BinaryIO, offset: int, count: int | None, read_size: int, *, pairs: bool) -> Iterator[Any]:
    """The one reading loop: each frame sliced from the buffer once (a pair's key and record apart)."""
    position, buffer, start = offset, b"", 0
    header, unpack = (_PAIR.size, _PAIR.unpack_from) if pairs else (_LENGTH.size, _LENGTH.unpack_from)
    remaining = -1 if count is None else count
    while remaining:
        if len(buffer) - start >= header:
            lengths = unpack(buffer, start)
            end = start + 4 + lengths[0]
            if end <= len(buffer):
                if pairs:
                    split = start + 8 + lengths[1]
                    yield buffer[start + 8:split], buffer[split:end]
                else:
                    yield buffer[start + 4:end]
                start = end
                remaining -= 1
                continue
        file.seek(position)
        more = file.read(read_size)
        if not more:
            if start != len(buffer) or count is not None:
                raise EOFError("temporary file ended inside a record")
            return
        position += len(more)
        buffer, start = buffer[start:] + more, 0


class FrameFile:
    """A temporary file of framed records: appended through a BUFFER, read back in the order written,
    from the start, as often as needed. What the plan file and the entry store keep on disk; the
    system removes it when it is closed or the process ends."""

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
