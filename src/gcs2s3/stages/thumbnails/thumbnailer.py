"""The thumbnails stage: WordPress's derived files for the images a run delivers, drawn in a pool of
processes, written beside the image in the primary target, and the image's stale derived files removed.

Hooks (run/hooks.py): `claim` refuses a source name that is another image's thumbnail name and
attaches each image's derived files already in the target; `spool_suffix` asks for a sized image's
bytes; `on_delivered` draws and writes them; `finish` counts them for the report.

The input is only the file the deliverer spooled while it delivered the version (hash-checked bytes of
this run), never a listing of a target, so a thumbnail can never be taken for a source image. The
drawing runs in separate processes (one per core by default), so libvips' CPU work runs beside the
transfers and a process that dies (out of memory, a libvips crash) costs that one image, not the run.
Thumbnails are derived files: written to the primary target only, never archived.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import ImageError, NotSized, ThumbnailCollisionError, VerificationError
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.headers import META_DERIVED_FROM
from gcs2s3.core.models import Action, Failure, Headers, Outcome
from gcs2s3.core.report import StageReport
from gcs2s3.run.hooks import Delivery, RunContext, StageBase
from gcs2s3.stages.image_names import (
    SIZED_MIME,
    UNSIZED_IMAGE_EXTENSIONS,
    extension,
    find_thumbnail_claims,
    is_sized_image,
    thumbnail_key,
)
from gcs2s3.stages.thumbnails.render import Rendered, render
from gcs2s3.stages.thumbnails.sizes import SizeSpec

log = logging.getLogger(__name__)


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
    """The derived files made for one delivered image (its result on the outcome, under "thumbnails")."""

    written: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # an earlier version's derived files that this one does not have
    error: str | None = None  # why the image could not be sized (corrupt, truncated, over the limit)
    not_sized: str | None = None  # a type WordPress does not size


@dataclass(frozen=True, slots=True)
class ThumbnailCounts:
    images_sized: int = 0
    files_written: int = 0
    stale_files_removed: int = 0
    images_not_sized: int = 0
    images_failed: int = 0


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


class Thumbnailer(StageBase):
    """Draws an image's derived files and puts them beside it; shared by every delivering worker."""

    name = "thumbnails"

    def __init__(self, settings: Settings) -> None:
        self.sizes: tuple[SizeSpec, ...] = settings.sizes  # pydantic models: they pickle to the drawing processes
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

    def _drawn(self, path: Path) -> list[Rendered]:
        pool = self._get_pool()
        try:
            return pool.submit(render, str(path), self.sizes, self.max_pixels).result()
        except BrokenProcessPool:
            with self._lock:  # the next image gets a fresh pool
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise ImageError("the process drawing it died (out of memory, or a crash in libvips)") from None
        except (ImageError, NotSized):
            raise
        except Exception as exc:  # anything else the drawing raised: this image's problem, not the run's
            raise ImageError(f"drawing failed: {type(exc).__name__}: {str(exc)[:200]}") from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def claim(self, names: Mapping[str, str], listed: Sequence[str]) -> dict[str, list[str]]:
        return thumbnail_claims(names, listed)

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
        self.close()  # delivery is over: the drawing processes go before later stages (posting) run
        made = [(o.action.dest_key, o.stages[self.name]) for o in outcomes if o.ok and self.name in o.stages]
        counts = ThumbnailCounts(
            images_sized=sum(bool(t.written) for _, t in made), files_written=sum(len(t.written) for _, t in made),
            stale_files_removed=sum(len(t.removed) for _, t in made),
            images_not_sized=sum(t.not_sized is not None for _, t in made),
            images_failed=sum(t.error is not None for _, t in made),
        )
        failures = tuple(Failure(key, f"delivered, but no thumbnails: {t.error}") for key, t in made if t.error)
        return StageReport(self.name, counts, failures, metrics=(("ThumbnailsMade", counts.files_written, "Count"),))

    def make(self, delivery: Delivery) -> ThumbnailOutcome:
        """Draw and write the derived files of the version spooled for `delivery`, then remove the
        derived files of an earlier version that this one does not have. Storage errors propagate (the
        deliverer retries the object); an image that cannot be sized is reported in the outcome."""
        action, target = delivery.action, delivery.target
        problem = not_sized = None
        files: list[Rendered] = []
        try:
            files = self._drawn(delivery.spool)  # type: ignore[arg-type]  # spooled: spool_suffix asked
        except ImageError as exc:
            problem = str(exc)
        except NotSized as exc:
            not_sized = str(exc)
        written = self._put_all(delivery, files)
        removed = tuple(key for key in action.attached if key not in written)
        for key in removed:
            target.delete(delivery.bucket, key)
            log.info("removed stale thumbnail %s", key, extra={"key": key})
        if problem:
            log.error("no thumbnails for %s: %s", action.dest_key, problem,
                      extra={"key": action.dest_key, "reason": problem})
        return ThumbnailOutcome(written=written, removed=removed, error=problem, not_sized=not_sized)

    def _put_all(self, delivery: Delivery, files: list[Rendered]) -> tuple[str, ...]:
        """Each file beside the image, typed as the image type it is, cached as the image is."""
        action = delivery.action
        written = []
        for file in files:
            key = thumbnail_key(action.dest_key, file.suffix)
            with delivery.budget.hold(len(file.data)):
                hasher = BodyHasher()
                hasher.update(file.data)
                result = delivery.target.put(
                    delivery.bucket, key, file.data, md5_b64=hasher.md5_b64, crc32c=hasher.crc32c,
                    metadata={META_DERIVED_FROM: str(action.source.generation)}, if_absent=False,
                    headers=Headers(content_type=SIZED_MIME.get(extension(key)),
                                    cache_control=action.headers.cache_control),
                )
            if result.etag != hasher.md5_hex and result.crc32c != hasher.crc32c:
                raise VerificationError(f"{key}: S3 reports neither the MD5 nor the CRC32C of the thumbnail sent")
            written.append(key)
        return tuple(written)
