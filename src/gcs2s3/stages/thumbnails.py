"""Thumbnails for the images a run delivers: drawn in a pool of processes, written beside the image in
the primary target, and the image's stale derived files removed.

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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from gcs2s3.budget import ByteBudget
from gcs2s3.config import Settings
from gcs2s3.errors import ImageError, NotSized, VerificationError
from gcs2s3.hashes import BodyHasher
from gcs2s3.headers import META_DERIVED_FROM
from gcs2s3.keys import SIZED_MIME, extension, thumbnail_key
from gcs2s3.models import Action, Headers, ThumbnailOutcome
from gcs2s3.stages.render import Rendered, render
from gcs2s3.stages.wp_sizes import SizeSpec
from gcs2s3.stores.base import TargetStore

log = logging.getLogger(__name__)


def _start_worker() -> None:
    """Each process draws one image at a time on one thread (the pool gives the parallelism), keeps no
    libvips operation cache between images, and leaves Ctrl-C to the main process (which stops the run
    in order)."""
    import pyvips

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)


class Thumbnailer:
    """Draws an image's derived files and puts them beside it; shared by every executor worker."""

    def __init__(self, settings: Settings, target: TargetStore, budget: ByteBudget) -> None:
        self.bucket = settings.s3_bucket
        self.target = target
        self.budget = budget
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

    def __enter__(self) -> Thumbnailer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def make(self, action: Action, path: Path) -> ThumbnailOutcome:
        """Draw and write the derived files of the version spooled at `path`, then remove the derived
        files of an earlier version that this one does not have. Storage errors propagate (the deliverer
        retries the object); an image that cannot be sized is reported in the outcome."""
        problem = not_sized = None
        files: list[Rendered] = []
        try:
            files = self._drawn(path)
        except ImageError as exc:
            problem = str(exc)
        except NotSized as exc:
            not_sized = str(exc)
        written = self._put_all(action, files)
        removed = tuple(key for key in action.derived if key not in written)
        for key in removed:
            self.target.delete(self.bucket, key)
            log.info("removed stale thumbnail %s", key, extra={"key": key})
        if problem:
            log.error("no thumbnails for %s: %s", action.dest_key, problem,
                      extra={"key": action.dest_key, "reason": problem})
        return ThumbnailOutcome(written=written, removed=removed, error=problem, not_sized=not_sized)

    def _put_all(self, action: Action, files: list[Rendered]) -> tuple[str, ...]:
        """Each file beside the image, typed as the image type it is, cached as the image is."""
        written = []
        for file in files:
            key = thumbnail_key(action.dest_key, file.suffix)
            with self.budget.hold(len(file.data)):
                hasher = BodyHasher()
                hasher.update(file.data)
                result = self.target.put(
                    self.bucket, key, file.data, md5_b64=hasher.md5_b64, crc32c=hasher.crc32c,
                    metadata={META_DERIVED_FROM: str(action.source.generation)}, if_absent=False,
                    headers=Headers(content_type=SIZED_MIME.get(extension(key)),
                                    cache_control=action.headers.cache_control),
                )
            if result.etag != hasher.md5_hex and result.crc32c != hasher.crc32c:
                raise VerificationError(f"{key}: S3 reports neither the MD5 nor the CRC32C of the thumbnail sent")
            written.append(key)
        return tuple(written)
