"""Sorting more (key, record) pairs than fit in memory: sorted runs spilled to a temporary file, then
merged (the external merge sort of `sort(1)` and of rclone's `--fast-list` alternatives).

Keys and records are bytes. Up to `run_bytes` of pairs are held at once; each full run is sorted and
appended to one spill file; the runs are then merged with one read buffer each. A sort that fits in
one run never touches the disk. Equal keys come out in input order (the sort is stable), so a
collision is two adjacent equal keys. The spill file is removed when the iteration ends (or is
abandoned and collected).
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from gcs2s3.run.framing import pair, read_pairs

RUN_BYTES = 32 * 1024 * 1024  # pairs held in memory at once (keys + records + ~120 bytes per pair)
_PAIR_OVERHEAD = 120  # a tuple of two bytes objects and its list slot, in CPython
# While merging, each run is read through its own buffer: 64 KiB, less when there are many runs, so that
# all buffers together stay within 8 MiB (10 M objects spill ~150 runs a side, 100 M ~1,500): the merge
# then holds as much for 100 M objects as for 10 M.
READ_BUFFER = 64 * 1024
MERGE_BUFFERS = 8 * 1024 * 1024
MIN_READ_BUFFER = 4 * 1024


class ExternalSorter:
    """Pairs added one at a time (`add`, `extend`), then read back sorted once (iterate). Full runs are
    sorted and spilled as they fill, so adding costs the sorting; iterating merges."""

    def __init__(self, run_bytes: int = RUN_BYTES, folder: str | None = None) -> None:
        self.run_bytes = run_bytes
        self.folder = folder
        self.spilled = 0  # bytes written to the spill file
        self._run: list[tuple[bytes, bytes]] = []
        self._held = 0
        self._spill: BinaryIO | None = None
        self._runs: list[tuple[int, int]] = []  # (offset, count) of each run in the spill file

    def add(self, key: bytes, record: bytes) -> None:
        self._run.append((key, record))
        self._held += len(key) + len(record) + _PAIR_OVERHEAD
        if self._held >= self.run_bytes:
            if self._spill is None:
                self._spill = tempfile.TemporaryFile(prefix="gcs2s3-sort-", dir=self.folder)  # noqa: SIM115
            self._spill_run()

    def _spill_run(self) -> None:
        assert self._spill is not None
        self._run.sort(key=_key)
        offset, count = _write_run(self._spill, self._run)
        self._runs.append((offset, count))
        self.spilled = self._spill.tell()
        self._run, self._held = [], 0

    def extend(self, pairs: Iterable[tuple[bytes, bytes]]) -> ExternalSorter:
        for key, record in pairs:
            self.add(key, record)
        return self

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        spill = self._spill
        if spill is None:
            run, self._run = self._run, []
            run.sort(key=_key)
            yield from run
            return
        with spill:
            if self._run:
                self._spill_run()
            spill.flush()
            size = max(MIN_READ_BUFFER, min(READ_BUFFER, MERGE_BUFFERS // len(self._runs)))
            yield from heapq.merge(*(_read_run(spill, offset, count, size) for offset, count in self._runs), key=_key)

    def close(self) -> None:
        """Drop what is held (for a sort abandoned before it was read)."""
        self._run = []
        if self._spill is not None:
            self._spill.close()


def _key(pair: tuple[bytes, bytes]) -> bytes:
    return pair[0]


def _write_run(spill: BinaryIO, run: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """Append one sorted run to the spill file: (its offset, its pair count)."""
    offset = spill.seek(0, 2)
    spill.write(b"".join(pair(k, r) for k, r in run))
    return offset, len(run)


def _read_run(spill: BinaryIO, offset: int, count: int, read_size: int) -> Iterator[tuple[bytes, bytes]]:
    """One run, read back through its own buffer (the runs share the file, each at its own offset)."""
    return read_pairs(spill, offset, count, read_size)
