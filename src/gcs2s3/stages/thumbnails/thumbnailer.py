"""The thumbnails stage: WordPress's derived files for the images a run delivers, drawn in a pool of
processes, written beside the image in the primary target, and the image's stale derived files removed.

Hooks (run/hooks.py): `claim` refuses a source name that is another image's thumbnail name and
attaches each image's derived files already in the target; `spool_suffix` asks for a sized image's
bytes; `on_delivered` draws and writes them; `finish` reads the thumbnail record (record.py), records
them, back-fills images delivered earlier (backfill.py), writes the record and counts; `verify`
checks every image's files (checking.py).

The input is the file the deliverer spooled while it delivered the version (hash-checked bytes of this
run), or for back-fill the primary object of an unchanged source image, checked against the source's
hashes; never a listing of a target, so a thumbnail can never be taken for a source image. The
drawing runs in separate processes (one per core by default), so libvips' CPU work runs beside the
transfers and a process that dies (out of memory, a libvips crash) costs that one image, not the run.
Thumbnails are derived files: written to the primary target only, never archived.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import (
    DrawingDied,
    Gcs2s3Error,
    ImageError,
    NotSized,
    ThumbnailCollisionError,
    VerificationError,
)
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.headers import META_DERIVED_FROM
from gcs2s3.core.models import Action, Failure, Headers, Outcome, PutOptions
from gcs2s3.core.report import StageReport
from gcs2s3.run.budget import ByteBudget
from gcs2s3.run.hooks import Delivery, RunContext, StageBase, VerifyContext
from gcs2s3.stages.image_names import (
    SIZED_MIME,
    UNSIZED_IMAGE_EXTENSIONS,
    extension,
    find_thumbnail_claims,
    is_sized_image,
    thumbnail_key,
    thumbnail_scope,
)
from gcs2s3.stages.thumbnails.backfill import BackfillItem, BackfillRun, backfill_items, spooled
from gcs2s3.stages.thumbnails.checking import verify_thumbnails
from gcs2s3.stages.thumbnails.record import (
    ImageEntry,
    ThumbnailRecord,
    files_field,
    load_all_records,
    load_record,
    record_key,
    save_record,
)
from gcs2s3.stages.thumbnails.render import Drawing, Rendered, render
from gcs2s3.stages.thumbnails.sizes import SizeSpec, configured_sizes
from gcs2s3.stores.protocols import Target

log = logging.getLogger(__name__)
SAVE_EVERY_S = 30.0  # a long back-fill writes the record this often


def _start_worker() -> None:
    """Each process draws one image at a time on one thread (the pool gives the parallelism), keeps no
    libvips operation cache between images, and leaves Ctrl-C to the main process (which stops the run
    in order)."""
    import pyvips

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)


@dataclass(frozen=True, slots=True)
class ThumbnailOutcome:
    """The derived files made for one image (its result on the outcome, under "thumbnails")."""

    written: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # an earlier version's derived files that this one does not have
    error: str | None = None  # why the image could not be sized (corrupt, truncated, over the limit)
    not_sized: str | None = None  # a type WordPress does not size
    entry: ImageEntry | None = None  # what the thumbnail record keeps of it (None: nothing lasting known)


@dataclass(frozen=True, slots=True)
class ThumbnailCounts:
    """Delivery's counts (the images this run delivered), then back-fill's (images delivered earlier)."""

    images_sized: int = 0
    files_written: int = 0
    stale_files_removed: int = 0
    images_not_sized: int = 0
    images_failed: int = 0
    backfill_due: int = 0  # images delivered earlier whose files are not what the sizes ask for
    backfill_done: int = 0  # of them, brought up to date by this run
    backfill_failed: int = 0
    backfill_left: int = 0  # left for later runs (the per-run limit, a stop, a record not read)
    backfill_files_written: int = 0
    backfill_files_removed: int = 0


def thumbnail_claims(names: Mapping[str, str], listed: Sequence[str]) -> dict[str, list[str]]:
    """The stage's `claim` (pure): refuse source names that are another source image's thumbnail names;
    then {image key: the keys in the primary target that are its derived files}."""
    claims = find_thumbnail_claims(names)
    if claims:
        raise ThumbnailCollisionError({key: (names[key], names[owner]) for key, owner in claims.items()})
    derived: dict[str, list[str]] = {}
    for key, owner in find_thumbnail_claims([*names, *(k for k in listed if k not in names)]).items():
        if owner in names:
            derived.setdefault(owner, []).append(key)
    return derived


class ThumbnailClaims:
    """An image's derived files are its own (attached to it, never target-only), and a source name that
    is another image's derived file name is refused; asked one image's group of names at a time."""

    claim = staticmethod(thumbnail_claims)
    scope = staticmethod(thumbnail_scope)


class Thumbnailer(StageBase):
    """Draws an image's derived files and puts them beside it; shared by every delivering worker."""

    name = "thumbnails"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.claims = ThumbnailClaims()
        self.sizes: tuple[SizeSpec, ...] = configured_sizes(settings.thumbnail_sizes)  # pickled to the drawers
        self.max_pixels = settings.thumbnail_max_pixels
        self.processes = settings.thumbnail_processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:  # started on the first image: a run without images starts none
                self._pool = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker
                )
            return self._pool

    def _drawn(self, path: Path, only: frozenset[str] | None = None) -> Drawing:
        pool = self._get_pool()
        try:
            return pool.submit(render, str(path), self.sizes, self.max_pixels, only).result()
        except BrokenProcessPool:
            with self._lock:  # the next image gets a fresh pool
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise DrawingDied("the process drawing it died (out of memory, or a crash in libvips)") from None
        except (ImageError, NotSized):
            raise
        except Exception as exc:  # anything else the drawing raised: this image's problem, not the run's
            raise ImageError(f"drawing failed: {type(exc).__name__}: {str(exc)[:200]}") from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def spool_suffix(self, action: Action) -> str | None:
        return "." + extension(action.dest_key) if is_sized_image(action.dest_key) else None

    def on_delivered(self, delivery: Delivery) -> ThumbnailOutcome | None:
        if delivery.spool is not None:
            return self.make(delivery)
        ext = extension(delivery.action.dest_key)
        if ext in UNSIZED_IMAGE_EXTENSIONS:
            return ThumbnailOutcome(not_sized=f"{ext} images are not sized (WordPress sizes JPEG, PNG, WebP and GIF)")
        return None

    def finish(self, run: RunContext, outcomes: Sequence[Outcome]) -> StageReport:
        """Record what delivery drew, back-fill the images delivered earlier (up to the per-run limit;
        on a dry run only counted), write the record, and report."""
        try:
            record = load_record(run.primary, self._record_key)
            made = [(o.action.dest_key, o.stages[self.name]) for o in outcomes if o.ok and self.name in o.stages]
            for key, outcome in made:
                if outcome.entry is not None:
                    record.put(key, outcome.entry)
            found = backfill_items(run.plan.actions, record, self.sizes)  # a stream: only this run's share is held
            due = list(itertools.islice(found, self.settings.thumbnail_backfill_per_run))
            later = sum(1 for _ in found)
            filled: list[tuple[str, ThumbnailOutcome | BaseException]] = []
            left = len(due) + later
            if due and not run.dry_run and record.read:
                left = self._backfill(run, record, due, filled) + later
            if not run.dry_run:
                self._save_record(run.primary, record)
        finally:
            self.close()  # the drawing processes go before later stages (posting) run
        return self._report(made, len(due) + later, filled, left)

    def _report(self, made: list[tuple[str, ThumbnailOutcome]], due: int,
                filled: list[tuple[str, ThumbnailOutcome | BaseException]], left: int) -> StageReport:
        done = [(key, t) for key, t in filled if isinstance(t, ThumbnailOutcome)]
        broken = [(key, str(t)) for key, t in filled if not isinstance(t, ThumbnailOutcome)]
        broken += [(key, t.error) for key, t in done if t.error is not None]
        counts = ThumbnailCounts(
            images_sized=sum(bool(t.written) for _, t in made), files_written=sum(len(t.written) for _, t in made),
            stale_files_removed=sum(len(t.removed) for _, t in made),
            images_not_sized=sum(t.not_sized is not None for _, t in made),
            images_failed=sum(t.error is not None for _, t in made),
            backfill_due=due, backfill_done=sum(t.error is None for _, t in done),
            backfill_failed=len(broken), backfill_left=left,
            backfill_files_written=sum(len(t.written) for _, t in done),
            backfill_files_removed=sum(len(t.removed) for _, t in done),
        )
        failures = tuple(Failure(key, f"delivered, but no thumbnails: {t.error}") for key, t in made if t.error)
        failures += tuple(Failure(key, f"thumbnails not back-filled: {why}") for key, why in broken)
        metrics = (("ThumbnailsMade", counts.files_written + counts.backfill_files_written, "Count"),
                   ("ThumbnailBackfillLeft", counts.backfill_left, "Count"))
        return StageReport(self.name, counts, failures, metrics=metrics)

    def make(self, delivery: Delivery) -> ThumbnailOutcome:
        """Draw and write the derived files of the version spooled for `delivery`, then remove the
        derived files of an earlier version that this one does not have. Storage errors propagate (the
        deliverer retries the object); an image that cannot be sized is reported in the outcome."""
        action = delivery.action
        made = self._produce(delivery.primary, delivery.budget, action, delivery.spool)  # type: ignore[arg-type]
        removed = tuple(key for key in action.attached if key not in made.written)
        self._remove(delivery.primary, removed)
        return replace(made, removed=removed)

    def _produce(self, target: Target, budget: ByteBudget, action: Action, path: Path,
                 only: frozenset[str] | None = None, keep: Sequence[tuple[str, str]] = ()) -> ThumbnailOutcome:
        """Draw the image at `path` (with `only`: just those files), write the files, and say what the
        record is to keep of it (`keep`: the files it already has, suffix -> ETag)."""
        try:
            drawing = self._drawn(path, only)
        except DrawingDied as exc:  # may pass: nothing lasting is recorded, the image is drawn again later
            log.error("no thumbnails for %s: %s", action.dest_key, exc, extra={"key": action.dest_key})
            return ThumbnailOutcome(error=str(exc))
        except (ImageError, NotSized) as exc:
            entry = ImageEntry(action.source.crc32c, problem=str(exc))
            if isinstance(exc, NotSized):
                return ThumbnailOutcome(not_sized=str(exc), entry=entry)
            log.error("no thumbnails for %s: %s", action.dest_key, exc,
                      extra={"key": action.dest_key, "reason": str(exc)})
            return ThumbnailOutcome(error=str(exc), entry=entry)
        etags = self._put_all(target, budget, action, drawing.files)
        header = drawing.header
        entry = ImageEntry(action.source.crc32c, header.mime, header.width, header.height, header.orientation,
                           files=files_field({**dict(keep), **etags}))
        return ThumbnailOutcome(written=tuple(thumbnail_key(action.dest_key, s) for s in etags), entry=entry)

    def _put_all(self, target: Target, budget: ByteBudget, action: Action,
                 files: list[Rendered]) -> dict[str, str]:
        """Each file beside the image, typed as the image type it is, cached as the image is: {suffix: ETag}."""
        written = {}
        for file in files:
            key = thumbnail_key(action.dest_key, file.suffix)
            with budget.hold(len(file.data)):
                hasher = BodyHasher()
                hasher.update(file.data)
                headers = Headers(content_type=SIZED_MIME.get(extension(key)),
                                  cache_control=action.headers.cache_control)
                result = target.put(key, file.data, PutOptions(
                    {META_DERIVED_FROM: str(action.source.generation)}, headers, crc32c=hasher.crc32c,
                    md5_b64=hasher.md5_b64))
            if result.etag != hasher.md5_hex and result.crc32c != hasher.crc32c:
                raise VerificationError(f"{key}: S3 reports neither the MD5 nor the CRC32C of the thumbnail sent")
            written[file.suffix] = result.etag
        return written

    def _remove(self, target: Target, keys: Sequence[str]) -> None:
        for key in keys:
            target.delete(key)
            log.info("removed stale thumbnail %s", key, extra={"key": key})

    # -- back-fill: the images delivered earlier (backfill.py) --------------------------------------

    def _backfill(self, run: RunContext, record: ThumbnailRecord, due: list[BackfillItem],
                  filled: list[tuple[str, ThumbnailOutcome | BaseException]]) -> int:
        """Bring up to `thumbnail_backfill_per_run` of `due` up to date; how many are left for later."""
        settings, target = self.settings, run.primary
        budget = ByteBudget(settings.max_buffer)
        saved = time.monotonic()

        def one(item: BackfillItem) -> ThumbnailOutcome:
            action = item.action
            if not item.reads:  # only files of sizes no longer configured: nothing to read or draw
                known = item.entry
                made = ThumbnailOutcome(entry=replace(known, files=files_field(dict(item.keep))) if known else None)
            else:
                with spooled(target, action) as path:
                    made = self._produce(target, budget, action, path, item.draw, item.keep)
            stale = item.stale if item.draw is not None else tuple(k for k in action.attached if k not in made.written)
            if made.entry is None:  # not drawn this time (the drawing process died): remove nothing
                stale = ()
            self._remove(target, stale)
            return replace(made, removed=stale)

        def done(item: BackfillItem, result: object) -> None:
            nonlocal saved
            key = item.action.dest_key
            if isinstance(result, ThumbnailOutcome):
                if result.entry is not None:
                    record.put(key, result.entry)
                filled.append((key, result))
                log.info("back-filled thumbnails of %s (%d written, %d removed)", key, len(result.written),
                         len(result.removed), extra={"key": key})
            else:  # a storage or local-file error: this image's, retried by the next run
                why = str(result) if isinstance(result, Gcs2s3Error) else f"{type(result).__name__}: {result}"
                log.error("thumbnails of %s not back-filled: %s", key, why, extra={"key": key, "reason": why})
                filled.append((key, Gcs2s3Error(why)))
            if time.monotonic() - saved > SAVE_EVERY_S:  # a killed run redoes little
                self._save_record(target, record)
                saved = time.monotonic()

        runner = BackfillRun(threads=2 * self.processes, stop=run.stop, limit=settings.thumbnail_backfill_per_run)
        return runner.run(due, one, done)

    # -- the record -----------------------------------------------------------------------------------

    @property
    def _record_key(self) -> str:
        return record_key(self.settings.s3_prefix, self.settings.shard)

    def _save_record(self, target: Target, record: ThumbnailRecord) -> None:
        if not record.changed or not record.read:
            return
        try:
            save_record(target, self._record_key, record)
        except Gcs2s3Error as exc:
            log.warning("thumbnail record s3://%s/%s not written (%s); the next run reads and draws those images "
                        "again", target.bucket, self._record_key, exc)

    # -- verify ---------------------------------------------------------------------------------------

    def verify(self, check: VerifyContext) -> StageReport:
        """Every delivered image has exactly the files WordPress makes for it under the configured sizes,
        each as written (ETag as recorded); with `deep`, each file is decoded and its dimensions checked.
        `verify` runs unsharded: the records of every shard are read."""
        record = load_all_records(check.primary, self.settings.s3_prefix)
        return verify_thumbnails(check, record, self.sizes, self.name)
