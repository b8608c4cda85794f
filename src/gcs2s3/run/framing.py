"""The one framing of records in our temporary files: each record preceded by its length (4 bytes,
big-endian), read back through a buffer from any offset. The plan spool and the entry store
(run/record_file.py) keep single records; the external sort (run/sorting.py) keeps (key, record)
pairs as one framed record each (`pair` / `unpair`)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

_LENGTH = struct.Struct(">I")
BUFFER = 1024 * 1024


def frame(record: bytes) -> bytes:
    return _LENGTH.pack(len(record)) + record


def pair(key: bytes, record: bytes) -> bytes:
    """A framed (key, record) pair."""
    return _LENGTH.pack(4 + len(key) + len(record)) + _LENGTH.pack(len(key)) + key + record


def unpair(framed: bytes) -> tuple[bytes, bytes]:
    """The (key, record) of a record `pair` framed."""
    (length,) = _LENGTH.unpack_from(framed)
    return framed[4:4 + length], framed[4 + length:]


def read_frames(file: BinaryIO, offset: int = 0, count: int | None = None, read_size: int = BUFFER) -> Iterator[bytes]:
    """The records framed in `file` from `offset`: `count` of them, or to the end of the file."""
    position, buffer, start, read = offset, b"", 0, 0
    unpack = _LENGTH.unpack_from
    while count is None or read < count:
        if len(buffer) - start < 4 or len(buffer) - start < 4 + unpack(buffer, start)[0]:
            file.seek(position)
            more = file.read(read_size)
            if not more:
                if start != len(buffer) or count is not None:
                    raise EOFError("temporary file ended inside a record")
                return
            position += len(more)
            buffer, start = buffer[start:] + more, 0
            continue
        (length,) = unpack(buffer, start)
        yield buffer[start + 4:start + 4 + length]
        start += 4 + length
        read += 1
