"""Carrying out a Plan: archive first, then primary, each write verified, with bounded concurrency.

Per changed version: (1) stream the source into its archive key with a conditional write (an archive
entry is never overwritten; a rerun after a crash finds it and moves on) -- with thumbnails on, an
image's bytes are also spooled to a temporary file as they pass and WordPress's files are drawn from
it and written beside the primary key --, (2) server-side copy archive -> primary key (UploadPartCopy
above `multipart_copy_threshold_mb`), (3) verify both from what S3 reported. Both writes carry the
version's headers and metadata. A header-only change is one server-side copy of the primary object
onto itself with the new headers (no download, no archive entry). At most `workers`
objects are in flight, their parts uploaded by a shared pool, all object data within one ByteBudget
of `max_buffer_mb`. Progress goes to a callback; this module never prints.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO

from gcs2s3.budget import ByteBudget
from gcs2s3.config import Settings
from gcs2s3.errors import (
    Gcs2s3Error,
    IntegrityError,
    PreconditionFailedError,
    TransientError,
    VerificationError,
)
from gcs2s3.headers import META_POSTING, object_metadata
from gcs2s3.keys import UNSIZED_IMAGE_EXTENSIONS, extension, is_sized_image
from gcs2s3.models import Action, Kind, Outcome, SourceObject, TargetObject, ThumbnailOutcome, WriteResult
from gcs2s3.stages.thumbnails import Thumbnailer
from gcs2s3.stopping import StopFlag
from gcs2s3.stores.base import SourceStore, TargetStore
from gcs2s3.transfer import Streaming, copy_in_parts, stream_version
from gcs2s3.verify import confirm, deep_mismatch, written_mismatch

log = logging.getLogger(__name__)
OBJECT_ATTEMPTS = 3  # whole-object retries after the SDKs' own request retries gave up


class Deliverer:
    """Delivers actions; thread-safe stores are shared by all workers."""

    def __init__(
        self,
        settings: Settings,
        source_store: SourceStore,
        target: TargetStore,
        *,
        deep_verify: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
        stop: StopFlag | None = None,
    ) -> None:
        self.settings = settings
        self.rules = settings.key_rules
        self.source_store = source_store
        self.target = target
        self.deep_verify = deep_verify
        self.on_outcome = on_outcome
        self.stop = stop or StopFlag()
        self.not_started = 0
        # Parts in flight are bounded by the budget; the pool only needs enough threads to keep them moving.
        self.part_pool = ThreadPoolExecutor(
            max_workers=max(4, settings.max_buffer // settings.part_size + 2), thread_name_prefix="gcs2s3-part"
        )
        budget = ByteBudget(settings.max_buffer)
        self.streaming = Streaming(settings.part_size, settings.multipart_threshold, budget, self.part_pool, self.stop)
        self.thumbnailer = Thumbnailer(settings, target, budget) if settings.thumbnails else None

    def run(self, actions: Iterable[Action]) -> list[Outcome]:
        """Deliver every action, `workers` at a time; never raises for one object's failure. Once a stop
        is requested, no further action is started (`not_started` counts them)."""
        outcomes: list[Outcome] = []
        pending: set[Future[Outcome]] = set()
        todo = list(actions)
        with (
            self.part_pool,
            ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="gcs2s3") as pool,
            self.thumbnailer or contextlib.nullcontext(),
        ):
            for index, action in enumerate(todo):
                # Back-pressure: queue at most two actions per worker.
                while len(pending) >= 2 * self.settings.workers and not self.stop.requested:
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    outcomes.extend(self._collect(done))
                if self.stop.requested:
                    self.not_started = len(todo) - index
                    break
                pending.add(pool.submit(self.deliver, action))
            if self.stop.requested:  # queued behind the workers, not begun: leave them for the next run
                self.not_started += sum(future.cancel() for future in pending)
            done, _ = wait(pending)
            outcomes.extend(self._collect(f for f in done if not f.cancelled()))
        return outcomes

    def _collect(self, done: Iterable[Future[Outcome]]) -> list[Outcome]:
        collected = [future.result() for future in done]
        if self.on_outcome:
            for outcome in collected:
                self.on_outcome(outcome)
        return collected

    def deliver(self, action: Action) -> Outcome:
        """Archive then primary for one action, retrying the whole object on transient failures."""
        for attempt in range(1, OBJECT_ATTEMPTS + 1):
            try:
                return self._deliver_once(action)
            except (TransientError, IntegrityError) as exc:
                if attempt == OBJECT_ATTEMPTS or self.stop.requested:
                    return self._failed(action, exc)
                log.warning("retrying %s after: %s", action.dest_key, exc, extra={"key": action.dest_key})
            except Gcs2s3Error as exc:
                return self._failed(action, exc)
            except OSError as exc:  # local I/O: the spool file for thumbnails (disk full, ...)
                return self._failed(action, Gcs2s3Error(f"local file: {exc}"))
        raise AssertionError("unreachable")

    def _failed(self, action: Action, exc: Exception) -> Outcome:
        log.error("failed %s: %s", action.dest_key, exc, extra={"key": action.dest_key, "reason": str(exc)})
        return Outcome(action, ok=False, error=str(exc))

    def _deliver_once(self, action: Action) -> Outcome:
        """Archive, then thumbnails (from the bytes just archived), then the primary copy: the primary
        key is written last, so a run that stops before it does the whole version again next time.
        A header-only change is one server-side copy of the primary object onto itself."""
        if action.kind is Kind.HEADERS:
            return self._update_headers(action)
        source = action.source
        settings = self.settings
        with self._spool(action) as spool:
            archive_key, written = self._archive(action, spool)
            thumbnails = self._thumbnails(action, spool)
        copied = self._copy(action, (settings.archive_bucket, archive_key))
        evidence = self._verified(settings.s3_bucket, action.dest_key, source, copied)
        if self.deep_verify:
            for bucket, key in ((settings.archive_bucket, archive_key), (settings.s3_bucket, action.dest_key)):
                problem = deep_mismatch(self.target, bucket, key, source)
                if problem:
                    raise VerificationError(f"{key}: {problem}")
            evidence = "deep"
        log.info("delivered %s (%s)", action.dest_key, action.kind.value, extra={"key": action.dest_key})
        return Outcome(
            action, ok=True, bytes_copied=source.size if written else 0, archive_written=written,
            archive_key=archive_key, dest_etag=copied.etag, verified_by=evidence, thumbnails=thumbnails,
        )

    @contextlib.contextmanager
    def _spool(self, action: Action) -> Iterator[BinaryIO | None]:
        """A temporary file for the version's bytes when thumbnails are to be drawn from them."""
        if self.thumbnailer is None or not is_sized_image(action.dest_key):
            yield None
            return
        with tempfile.NamedTemporaryFile(prefix="gcs2s3-", suffix="." + extension(action.dest_key)) as spool:
            yield spool

    def _thumbnails(self, action: Action, spool: BinaryIO | None) -> ThumbnailOutcome | None:
        if self.thumbnailer is None:
            return None
        if spool is not None:
            return self.thumbnailer.make(action, Path(spool.name))
        ext = extension(action.dest_key)
        if ext in UNSIZED_IMAGE_EXTENSIONS:
            return ThumbnailOutcome(not_sized=f"{ext} images are not sized (WordPress sizes JPEG, PNG, WebP and GIF)")
        return None

    def _update_headers(self, action: Action) -> Outcome:
        """The primary object's bytes stay; its headers and metadata become the source's (no download, no
        new archive entry: the archive keeps each version as it was delivered)."""
        key = action.dest_key
        copied = self._copy(action, (self.settings.s3_bucket, key))
        evidence = self._verified(self.settings.s3_bucket, key, action.source, copied)
        log.info("updated the headers of %s (%s)", key, action.reason, extra={"key": key})
        return Outcome(action, ok=True, dest_etag=copied.etag, verified_by=evidence)

    def _archive(self, action: Action, spool: BinaryIO | None) -> tuple[str, bool]:
        """Write the version to its archive key; (key used, whether this run wrote it).

        The write is conditional. If the key is taken by this very version (a rerun after a crash) it
        is used as it is; if by another version created within the same second, the
        generation-qualified name is used instead.
        """
        source, key = action.source, action.archive_key
        bucket = self.settings.archive_bucket
        fallback = self.rules.archive_key(action.dest_key, source.created, source.generation)
        for candidate in (key, fallback):
            try:
                result = self._stream(action, candidate, spool)
            except PreconditionFailedError:
                existing = self.target.head(bucket, candidate)
                if existing is not None and _holds(source, existing):
                    log.info("archive entry %s already in place", candidate, extra={"key": candidate})
                    return candidate, False
                continue
            self._verified(bucket, candidate, source, result)
            return candidate, True
        raise VerificationError(f"archive keys {key} and {fallback} hold other content; refusing to overwrite")

    def _stream(self, action: Action, key: str, spool: BinaryIO | None) -> WriteResult:
        return stream_version(
            self.source_store, self.target, action.source, self.settings.archive_bucket, key,
            metadata=self._metadata(action), headers=action.headers, if_absent=True, how=self.streaming, spool=spool,
        )

    def _metadata(self, action: Action) -> dict[str, str]:
        """The source version's identity, its headers' digest and custom metadata, and for an image
        delivered while posting to WordPress is on, the flag that lets a later run find it if this run
        dies before recording its post."""
        metadata = object_metadata(action.source, action.headers)
        if self.settings.posts_to_wordpress and is_sized_image(action.dest_key) and (
            action.delivers or (action.target and (action.target.metadata or {}).get(META_POSTING))
        ):
            metadata[META_POSTING] = "1"
        return metadata

    def _copy(self, action: Action, src: tuple[str, str]) -> WriteResult:
        """`src` -> primary key, server-side, with the version's headers and metadata: CopyObject, or
        UploadPartCopy above the threshold."""
        settings = self.settings
        dest = (settings.s3_bucket, action.dest_key)
        metadata = self._metadata(action)
        if action.source.size <= settings.multipart_copy_threshold:
            return self.target.copy(*src, *dest, metadata=metadata, headers=action.headers)
        return copy_in_parts(
            self.target, action.source, src, dest, metadata=metadata, headers=action.headers,
            part_size=settings.part_size, copiers=self.part_pool,
        )

    def _verified(self, bucket: str, key: str, source: SourceObject, reported: WriteResult) -> str:
        """Check a write from what S3 reported; HEAD only when the write response proved nothing."""
        evidence, problem = confirm(self.target, bucket, key, source, reported)
        if problem:
            raise VerificationError(f"{key}: {problem}")
        if evidence is None:
            raise VerificationError(f"{key}: S3 reports neither an MD5 ETag nor a CRC32C; cannot verify")
        return evidence


def _holds(source: SourceObject, existing: WriteResult | TargetObject) -> bool:
    evidence, problem = written_mismatch(source, existing)
    return evidence is not None and problem is None
