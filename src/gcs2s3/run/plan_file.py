"""A plan's actions on disk: appended in key order as the streaming planner decides them, read back
in that order as often as needed, with their counts and sizes by kind kept in memory.

This is what lets a run plan ten million objects without holding one Python record per object: the
plan carries this file instead of a list, and whoever walks the plan (delivery, the stages, the next
state cache) reads it from the file. Each action is packed with
marshal (core/packing.pack_action) in a temporary frame file (run/framing.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from gcs2s3.core.models import Action, Kind
from gcs2s3.core.packing import pack_action, unpack_action
from gcs2s3.run.framing import FrameFile


class PlanFile:
    """Actions in the order appended. `count`/`size` answer from memory; iterating reads the file."""

    def __init__(self) -> None:
        self._file = FrameFile("gcs2s3-plan-")
        self._counts: Counter[Kind] = Counter()
        self._sizes: Counter[Kind] = Counter()
        self.flagged = 0
        self.sorted_bytes = 0  # bytes the planner's sorts spilled to disk while making it (run/planning.py)

    @property
    def written(self) -> int:
        """Bytes of the file."""
        return self._file.written

    def append(self, action: Action, flag: bool = False) -> None:
        self._file.append(pack_action(action, flag))
        self._counts[action.kind] += 1
        self._sizes[action.kind] += action.source.size
        self.flagged += flag

    def items(self) -> Iterator[tuple[Action, bool]]:
        """(action, flag) in the order appended."""
        for record in self._file.records():
            yield unpack_action(record)

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
