"""A plan's actions on disk: appended in key order as the streaming planner decides them, read back
in that order as often as needed, with their counts and sizes by kind kept in memory.

This is what lets a run plan ten million objects without holding one Python record per object: the
plan carries the spool instead of a list (core/models.Plan accepts either), and whoever walks the
plan (delivery, the stages, the next state cache) reads it from the file. Each action is packed with
marshal (core/records.pack_action) behind a 4-byte length; writes and reads go through 1 MiB buffers.
The file is a TemporaryFile: the system removes it when it is closed or the process ends.
"""

from __future__ import annotations

import struct
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from gcs2s3.core.models import Action, Kind
from gcs2s3.core.records import pack_action, unpack_action

_LENGTH = struct.Struct(">I")
_BUFFER = 1024 * 1024


class ActionSpool:
    """Actions in the order appended. `count`/`size` answer from memory; iterating reads the file."""

    def __init__(self, folder: str | None = None) -> None:
        self._file: BinaryIO = tempfile.TemporaryFile(prefix="gcs2s3-plan-", dir=folder)  # noqa: SIM115
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._counts: Counter[Kind] = Counter()
        self._sizes: Counter[Kind] = Counter()
        self.flagged = 0
        self.written = 0  # bytes of the spool file
        self.sorted_bytes = 0  # bytes the planner's sorts spilled to disk while making it (run/planning.py)

    def append(self, action: Action, flag: bool = False) -> None:
        record = pack_action(action, flag)
        self._pending.append(_LENGTH.pack(len(record)) + record)
        self._pending_bytes += len(record) + 4
        self.written += len(record) + 4
        self._counts[action.kind] += 1
        self._sizes[action.kind] += action.source.size
        self.flagged += flag
        if self._pending_bytes >= _BUFFER:
            self._flush()

    def extend(self, actions: Iterable[Action]) -> None:
        for action in actions:
            self.append(action)

    def _flush(self) -> None:
        if self._pending:
            self._file.seek(0, 2)
            self._file.write(b"".join(self._pending))
            self._pending, self._pending_bytes = [], 0

    def items(self) -> Iterator[tuple[Action, bool]]:
        """(action, flag) in the order appended."""
        self._flush()
        position = 0
        buffer = b""
        start = 0
        while True:
            if len(buffer) - start < 4 or len(buffer) - start < 4 + _LENGTH.unpack_from(buffer, start)[0]:
                self._file.seek(position)
                more = self._file.read(_BUFFER)
                if not more:
                    if start != len(buffer):
                        raise EOFError("plan spool ended inside a record")
                    return
                position += len(more)
                buffer, start = buffer[start:] + more, 0
                continue
            (length,) = _LENGTH.unpack_from(buffer, start)
            yield unpack_action(buffer[start + 4:start + 4 + length])
            start += 4 + length

    def __iter__(self) -> Iterator[Action]:
        for action, _ in self.items():
            yield action

    def __len__(self) -> int:
        return sum(self._counts.values())

    def count(self, *kinds: Kind) -> int:
        return sum(self._counts[kind] for kind in kinds)

    def size(self, *kinds: Kind) -> int:
        return sum(self._sizes[kind] for kind in kinds)

    def close(self) -> None:
        self._file.close()
