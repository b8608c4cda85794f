"""Back-fill: the WordPress files of images delivered earlier that lack them (thumbnails turned on for
a bucket already delivered, a changed `thumbnail_sizes`, a file deleted, a record lost).

`backfill_items` (pure) compares each unchanged image's record entry (record.py) and the derived
files the primary listing holds for it (attached by the `claim` hook) with what WordPress makes under
the configured sizes: an image with no entry for its current version is read and drawn whole; one
with an entry gets only its missing files drawn (decoded at the scale they need) and its files of
sizes no longer configured removed, which needs no read at all.

The candidates come from the source listing only (the plan's unchanged images), never from a listing
of the target, and the bytes drawn are the primary object's, streamed to a local file and checked
against the source version's hashes before they are decoded: a derived file is never an input.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gcs2s3.core.bounded import BoundedMap
from gcs2s3.core.errors import VerificationError
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.models import Action, Kind
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stages.image_names import extension, is_sized_image
from gcs2s3.stages.thumbnails.record import ImageEntry, ThumbnailRecord
from gcs2s3.stages.thumbnails.sizes import SizeSpec
from gcs2s3.stores.protocols import Target

READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BackfillItem:
    """What one image needs: files to draw (`draw` None: all of them, the image has no entry), files to
    remove (`stale`), and the files it keeps (`keep`: suffix -> ETag, from its `entry`)."""

    action: Action
    draw: frozenset[str] | None
    stale: tuple[str, ...] = ()
    keep: tuple[tuple[str, str], ...] = ()
    entry: ImageEntry | None = None  # its record entry (found in the walk: the record is read in key order)

    @property
    def reads(self) -> bool:
        return self.draw is None or bool(self.draw)


def backfill_items(
    actions: Iterable[Action], record: ThumbnailRecord, sizes: Sequence[SizeSpec]
) -> Iterator[BackfillItem]:
    """Every unchanged (or header-updated) image whose derived files are not what WordPress makes for it
    under `sizes`, in plan order, as a stream (a derived file whose listed ETag differs from the ETag
    written is drawn again). Images delivered by this run are not candidates: delivery drew them."""
    for action in actions:
        if action.kind not in (Kind.UNCHANGED, Kind.HEADERS) or not is_sized_image(action.dest_key):
            continue
        entry = record.get(action.dest_key, action.source.crc32c)
        if entry is None:
            yield BackfillItem(action, None)
            continue
        expected = {key: item.suffix for key, item in entry.expected(action.dest_key, sizes).items()}
        written = entry.etags
        etags = action.attached
        present = {key for key in action.attached if _as_written(key, expected, written, etags)}
        missing = frozenset(suffix for key, suffix in expected.items() if key not in present)
        stale = tuple(key for key in action.attached if key not in expected)
        if missing or stale:
            keep = tuple((s, written.get(s, "")) for k, s in expected.items() if k in present)
            yield BackfillItem(action, missing, stale, keep, entry)


def read_primary(target: Target, action: Action, spool: BinaryIO) -> None:
    """The primary object's bytes into `spool`, refused unless they are the source version's (size and
    CRC32C of the listing)."""
    hasher = BodyHasher(md5=False)
    for chunk in target.open(action.dest_key, READ_CHUNK):
        hasher.update(chunk)
        spool.write(chunk)
    spool.flush()
    problem = hasher.mismatch(action.source)
    if problem:
        raise VerificationError(f"{action.dest_key}: the primary object is not the source version ({problem}); "
                                "not drawn")


def _as_written(key: str, expected: Mapping[str, str], written: Mapping[str, str], etags: Mapping[str, str]) -> bool:
    """An expected file whose listed ETag is the one written (or not recorded: nothing to compare)."""
    suffix = expected.get(key)
    if suffix is None:
        return True  # not expected: stale, whatever its content
    recorded = written.get(suffix)
    return not recorded or etags.get(key) == recorded


@contextlib.contextmanager
def spooled(target: Target, action: Action) -> Iterator[Path]:
    """A temporary file holding the primary object's checked bytes, removed afterwards."""
    with tempfile.NamedTemporaryFile(prefix="gcs2s3-backfill-", suffix="." + extension(action.dest_key)) as spool:
        read_primary(target, action, spool)
        yield Path(spool.name)


@dataclass(slots=True)
class BackfillRun:
    """Carries out back-fill items `threads` at a time, until done, `limit` items were started, or a stop
    is requested. `do` is one item's work; `done` is told each result (or exception) as it comes, in
    this thread. Returns how many items were not started."""

    threads: int
    stop: StopFlag
    limit: int

    def run(self, items: Sequence[BackfillItem], do: Callable[[BackfillItem], object],
            done: Callable[[BackfillItem, object | BaseException], None]) -> int:
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="gcs2s3-backfill") as pool:
            mapped = BoundedMap(lambda item: pool.submit(do, item), itertools.islice(items, self.limit),
                                2 * self.threads, stop=lambda: self.stop.requested)
            for item, future in mapped:
                error = future.exception()
                done(item, error if error is not None else future.result())
        return len(items) - (mapped.submitted - mapped.cancelled)
