"""The three listings a run reads (source, primary, archive), each turning "bucket not found" and
"access denied" into a ConfigError that names the setting to fix, and the group that reads listings
so that a stop or a failure ends them at once."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import as_config_error, guarded
from gcs2s3.core.models import DestObject, SourceObject
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stores.protocols import Source, Target

T = TypeVar("T")


def source_listing(settings: Settings, store: Source) -> Iterator[SourceObject]:
    return guarded(store.list(settings.path), f"GCS bucket gs://{settings.gcs_bucket}", "gcs_bucket")


def primary_listing(settings: Settings, target: Target) -> Iterator[DestObject]:
    return guarded(target.list(settings.s3_prefix), f"S3 bucket s3://{settings.s3_bucket}", "s3_bucket")


def probe_archive(settings: Settings, archive: Target) -> None:
    """Fail with a ConfigError before any write when the archive bucket cannot be listed."""
    with as_config_error(f"archive bucket s3://{settings.archive_bucket}", "archive_bucket"):
        archive.probe(settings.archive_prefix)


def archive_listing(settings: Settings, archive: Target) -> Iterator[DestObject]:
    return guarded(
        archive.list(settings.archive_prefix),
        f"archive bucket s3://{settings.archive_bucket}",
        "archive_bucket",
    )


class ListingGroup:
    """Listings read together, each on a daemon thread of its own, handed over in chunks through a
    small queue. A stop (SIGTERM, Ctrl-C, max_run_s), `abort` (the planner failed), or the failure of
    one listing ends every reader of the group within POLL_S, with that failure, instead of when the
    requests in flight give up (an SDK may retry a dead connection for minutes). A reader that gave
    up leaves its thread behind, as a daemon: nothing waits for it."""

    CHUNK = 1000  # items per hand-over: the queue's cost per item stays negligible
    POLL_S = 0.1

    def __init__(self, stop: StopFlag | None = None) -> None:
        self._stop = stop
        self._failed: BaseException | None = None
        self._closed = threading.Event()

    def __enter__(self) -> ListingGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()  # readers still producing stop putting

    def abort(self, exc: BaseException) -> None:
        """End every reader of the group, raising `exc` (the first failure wins)."""
        if self._failed is None:
            self._failed = exc
        self._closed.set()

    def read(self, items: Iterable[T], name: str) -> Iterator[T]:
        """`items`, read on a thread of their own; raises the group's first failure, or StoppedError."""
        chunks: queue.Queue[list[T]] = queue.Queue(maxsize=4)  # an empty chunk: the end
        gone = threading.Event()  # this reader stopped reading

        def hand_over(chunk: list[T]) -> bool:
            while not self._closed.is_set() and not gone.is_set():
                try:
                    chunks.put(chunk, timeout=self.POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                iterator = iter(items)
                while hand_over(chunk := list(itertools.islice(iterator, self.CHUNK))) and chunk:
                    pass
            except BaseException as exc:  # every reader of the group raises it
                self.abort(exc)

        threading.Thread(target=produce, name=f"gcs2s3-{name}", daemon=True).start()
        try:
            while True:
                try:
                    chunk = chunks.get(timeout=self.POLL_S)
                except queue.Empty:
                    self._check()
                    continue
                if not chunk:
                    return
                yield from chunk
                self._check()
        finally:
            gone.set()

    def _check(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._stop is not None:
            self._stop.check()
