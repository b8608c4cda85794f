"""Carrying out a Plan: archive first, then primary, each write verified, with bounded concurrency.

Per changed version: (1) stream the source into its archive key with a conditional write (an archive
entry is never overwritten; a rerun after a crash finds it and moves on) -- when a stage asks for the
bytes, they are also spooled to a temporary file as they pass --, then each stage's `on_delivered`
hook (run/hooks.py), (2) server-side copy archive -> primary key (UploadPartCopy above
`multipart_copy_threshold_mb`), (3) verify both from what S3 reported. Both writes carry the
version's headers and metadata. A header-only change is one server-side copy of the primary object
onto itself with the new headers (no download, no archive entry). At most `workers`
objects are in flight, their parts uploaded by a shared pool, all object data within one ByteBudget
of `max_buffer_mb`. Progress goes to a callback; this module never prints.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from gcs2s3.core.bounded import BoundedMap
from gcs2s3.core.config import Settings
from gcs2s3.core.errors import (
    Gcs2s3Error,
    IntegrityError,
    PreconditionFailedError,
    TransientError,
    VerificationError,
)
from gcs2s3.core.headers import object_metadata
from gcs2s3.core.models import Action, DestObject, Kind, Outcome, PutMode, PutOptions, SourceObject, WriteResult
from gcs2s3.core.retrying import retried
from gcs2s3.run.budget import BufferPool, ByteBudget
from gcs2s3.run.hooks import Delivery, Stage
from gcs2s3.run.stopping import StopFlag
from gcs2s3.run.transfer import PartTransport, copy_in_parts, stream_version
from gcs2s3.run.verify import confirm, deep_mismatch, written_mismatch
from gcs2s3.stores.protocols import Stores, Target, multipart

log = logging.getLogger(__name__)
OBJECT_ATTEMPTS = 3  # whole-object retries after the SDKs' own request retries gave up


class Deliverer:
    """Delivers actions; thread-safe stores are shared by all workers."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        *,
        stages: Sequence[Stage] = (),
        deep_verify: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
        stop: StopFlag | None = None,
    ) -> None:
        self.settings = settings
        self.rules = settings.key_rules
        self.source_store = stores.source
        self.primary = stores.primary
        self.archive = stores.archive
        self.stages = tuple(stages)
        self.deep_verify = deep_verify
        self.on_outcome = on_outcome
        self.stop = stop or StopFlag()
        self.not_started = 0
        # Parts in flight are bounded by the budget; the pool only needs enough threads to keep them moving.
        self.part_pool = ThreadPoolExecutor(
            max_workers=max(4, settings.max_buffer // settings.part_size + 2), thread_name_prefix="gcs2s3-part"
        )
        self.budget = ByteBudget(settings.max_buffer)
        self.streaming = PartTransport(settings.part_size, settings.multipart_threshold, self.budget, self.part_pool,
                                   BufferPool(settings.part_size, self.budget), self.stop)

    def run(self, actions: Iterable[Action]) -> list[Outcome]:
        """Deliver every action, `workers` at a time; never raises for one object's failure. Once a stop
        is requested, no further action is started (`not_started` counts them). `actions` is read as
        delivery goes (a plan's spool: never held whole)."""
        outcomes: list[Outcome] = []
        with (
            self.part_pool,
            ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="gcs2s3") as pool,
        ):
            # Back-pressure: at most two actions queued per worker; after a stop, what has not begun is
            # left for the next run.
            mapped = BoundedMap(lambda action: pool.submit(self.deliver, action), actions,
                                2 * self.settings.workers, stop=lambda: self.stop.requested, count_left=True)
            for _, future in mapped:
                outcomes.extend(self._collect([future]))
        self.not_started = mapped.cancelled + mapped.left
        return outcomes

    def _collect(self, done: Iterable[Future[Outcome]]) -> list[Outcome]:
        collected = [future.result() for future in done]
        if self.on_outcome:
            for outcome in collected:
                self.on_outcome(outcome)
        return collected

    def deliver(self, action: Action) -> Outcome:
        """Archive then primary for one action, retrying the whole object on transient failures."""
        def again(exc: BaseException) -> None:
            log.warning("retrying %s after: %s", action.dest_key, exc, extra={"key": action.dest_key})

        try:
            return retried(lambda: self._deliver_once(action), attempts=OBJECT_ATTEMPTS,
                           retry_on=(TransientError, IntegrityError), give_up=lambda _: self.stop.requested,
                           on_retry=again)
        except Gcs2s3Error as exc:
            return self._failed(action, exc)
        except OSError as exc:  # local I/O: the spool file a stage asked for (disk full, ...)
            return self._failed(action, Gcs2s3Error(f"local file: {exc}"))

    def _failed(self, action: Action, exc: Exception) -> Outcome:
        log.error("failed %s: %s", action.dest_key, exc, extra={"key": action.dest_key, "reason": str(exc)})
        return Outcome(action, ok=False, error=str(exc))

    def _deliver_once(self, action: Action) -> Outcome:
        """Archive, then the stages (with the bytes just archived), then the primary copy: the primary
        key is written last, so a run that stops before it does the whole version again next time.
        A header-only change is one server-side copy of the primary object onto itself."""
        if action.kind is Kind.HEADERS:
            return self._update_headers(action)
        source = action.source
        with self._spool(action) as spool:
            archive_key, written = self._archive(action, spool)
            results = self._stages(action, spool)
        copied = self._copy(action, (self.archive, archive_key))
        evidence = self._verified(self.primary, action.dest_key, source, copied)
        if self.deep_verify:
            for target, key in ((self.archive, archive_key), (self.primary, action.dest_key)):
                problem = deep_mismatch(target, key, source)
                if problem:
                    raise VerificationError(f"{key}: {problem}")
            evidence = "deep"
        log.info("delivered %s (%s)", action.dest_key, action.kind.value, extra={"key": action.dest_key})
        return Outcome(
            action, ok=True, bytes_copied=source.size if written else 0, archive_written=written,
            archive_key=archive_key, dest_etag=copied.etag, verified_by=evidence, stages=results,
        )

    @contextlib.contextmanager
    def _spool(self, action: Action) -> Iterator[BinaryIO | None]:
        """A temporary file for the version's bytes when a stage asks for them."""
        suffix = next((s for s in (stage.spool_suffix(action) for stage in self.stages) if s is not None), None)
        if suffix is None:
            yield None
            return
        with tempfile.NamedTemporaryFile(prefix="gcs2s3-", suffix=suffix) as spool:
            yield spool

    def _stages(self, action: Action, spool: BinaryIO | None) -> dict[str, Any]:
        """Each stage's `on_delivered` result, by stage name (a stage that returns None is left out)."""
        spooled = Path(spool.name) if spool is not None else None
        delivery = Delivery(action, spooled, self.primary, self.budget)
        results = {}
        for stage in self.stages:
            result = stage.on_delivered(delivery)
            if result is not None:
                results[stage.name] = result
        return results

    def _update_headers(self, action: Action) -> Outcome:
        """The primary object's bytes stay; its headers and metadata become the source's (no download, no
        new archive entry: the archive keeps each version as it was delivered)."""
        key = action.dest_key
        copied = self._copy(action, (self.primary, key))
        evidence = self._verified(self.primary, key, action.source, copied)
        log.info("updated the headers of %s (%s)", key, action.reason, extra={"key": key})
        return Outcome(action, ok=True, dest_etag=copied.etag, verified_by=evidence)

    def _archive(self, action: Action, spool: BinaryIO | None) -> tuple[str, bool]:
        """Write the version to its archive key; (key used, whether this run wrote it).

        The write is conditional. If the key is taken by this very version (a rerun after a crash) it
        is used as it is; if by another version created within the same second, the
        generation-qualified name is used instead.
        """
        source, key = action.source, action.archive_key
        fallback = self.rules.archive_key(action.dest_key, source.created, source.generation)
        for candidate in (key, fallback):
            try:
                result = self._stream(action, candidate, spool)
            except PreconditionFailedError:
                existing = self.archive.head(candidate)
                if existing is not None and _holds(source, existing):
                    log.info("archive entry %s already in place", candidate, extra={"key": candidate})
                    return candidate, False
                continue
            self._verified(self.archive, candidate, source, result)
            return candidate, True
        raise VerificationError(f"archive keys {key} and {fallback} hold other content; refusing to overwrite")

    def _stream(self, action: Action, key: str, spool: BinaryIO | None) -> WriteResult:
        options = PutOptions(self._metadata(action), action.headers, PutMode.create())
        return stream_version(self.source_store, self.archive, action.source, key, options, self.streaming, spool)

    def _metadata(self, action: Action) -> dict[str, str]:
        """The source version's identity, its headers' digest and custom metadata, and what the stages
        add (e.g. WordPress's posting flag)."""
        metadata = object_metadata(action.source, action.headers)
        for stage in self.stages:
            metadata.update(stage.metadata(action))
        return metadata

    def _copy(self, action: Action, src: tuple[Target, str]) -> WriteResult:
        """`src` -> primary key, server-side, with the version's headers and metadata: CopyObject, or
        UploadPartCopy above the threshold."""
        settings = self.settings
        options = PutOptions(self._metadata(action), action.headers)
        if action.source.size <= settings.multipart_copy_threshold:
            return self.primary.copy(src, action.dest_key, options)
        what = f"{action.dest_key} ({action.source.size:,} bytes, over the multipart copy threshold)"
        return copy_in_parts(multipart(self.primary, what), action.source, src, action.dest_key, options,
                             part_size=settings.part_size, copiers=self.part_pool)

    def _verified(self, target: Target, key: str, source: SourceObject, reported: WriteResult) -> str:
        """Check a write from what S3 reported; HEAD only when the write response proved nothing."""
        evidence, problem = confirm(target, key, source, reported)
        if problem:
            raise VerificationError(f"{key}: {problem}")
        if evidence is None:
            raise VerificationError(f"{key}: S3 reports neither an MD5 ETag nor a CRC32C; cannot verify")
        return evidence


def _holds(source: SourceObject, existing: WriteResult | DestObject) -> bool:
    evidence, problem = written_mismatch(source, existing)
    return evidence is not None and problem is None
