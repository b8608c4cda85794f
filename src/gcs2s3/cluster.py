"""One sync on a Dask cluster (dask.distributed), for a migration too big for one machine.

- Listing: the name space below `path` (and below `s3_prefix`) is cut into ranges at fixed
  boundaries; each range of each side is listed by a task on a worker (GCS `startOffset`/`endOffset`,
  S3 `StartAfter`). The ranges partition every possible name, so the union of the tasks' listings is
  the whole listing, whatever the names and whatever flattening does to their order.
- Planning stays on the client: the ranges come back packed (core/packing.py), one range at a time,
  into the same streaming planner as one process (run/planning.py: sorted on disk), so collisions
  between names of different ranges are still refused and the client holds one range a side, not
  the listing.
- Copying: the new and changed actions go to the workers in chunks; each chunk is delivered by a
  worker's own Deliverer, exactly as one process would (archive first, verified writes), with the
  stages the settings turn on (`stages_for`) made on the worker: their per-version results come back
  on the outcomes, and their run-level hooks (start, finish) run on the client with the client's
  stage objects. A stage that is not among the configured ones therefore does not ride along here.
- What a task carries is a `SettingsRef` (the settings file, the level and the shard) and the listed
  objects: each worker loads the settings and makes its own GCS and S3 clients from its own
  environment, so no credential ever travels inside a task.
- A worker lost mid-run: Dask runs its tasks again elsewhere. Delivery is idempotent (an archive entry
  already written is found and reused, thumbnails and primary copies are rewritten whole), so the
  outcome equals the single-process run.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import ConfigError
from gcs2s3.core.models import Action, DestObject, Outcome, SourceObject
from gcs2s3.core.packing import pack_dest, pack_source, unpack_dest, unpack_source
from gcs2s3.run.deliver import Deliverer
from gcs2s3.run.hooks import Stage
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stages import stages_for
from gcs2s3.stores.opening import open_settings, open_stores
from gcs2s3.stores.protocols import Stores, ranged

log = logging.getLogger(__name__)
T = TypeVar("T")
# Range boundaries (on the part of a name below the prefix): digits, upper and lower case letters cut
# evenly. Names are compared as the stores compare them (by code point / UTF-8 bytes).
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHUNK_ACTIONS = 64  # actions per delivery task
CHUNKS_IN_FLIGHT = 32  # delivery tasks submitted and not yet collected


def name_ranges(count: int) -> list[tuple[str, str | None]]:
    """`count` ranges [start, end) that together cover every string exactly once."""
    count = max(1, min(count, len(_ALPHABET)))
    cuts = [_ALPHABET[round(i * len(_ALPHABET) / count)] for i in range(1, count)]
    bounds: list[str] = ["", *cuts]
    return [(bounds[i], bounds[i + 1] if i + 1 < len(bounds) else None) for i in range(len(bounds))]


@dataclass(frozen=True, slots=True)
class SettingsRef:
    """What a worker needs to build the same settings and its own clients: no secret, no client."""

    config: str
    dev_level: str
    shard: str | None = None


@cache
def _context(ref: SettingsRef) -> tuple[Settings, Stores]:
    """A worker's settings and clients, made once per worker process."""
    settings = open_settings(ref.config, ref.dev_level, ref.shard)
    return settings, open_stores(settings)


def list_source_range(ref: SettingsRef, start: str, end: str | None) -> list[bytes]:
    """One range of the source listing, packed (core/packing.py: a few hundred bytes an object)."""
    settings, stores = _context(ref)
    source = ranged(stores.source, "listing on a Dask cluster")
    return [pack_source(obj) for obj in source.list_range(settings.path, start, end)]


def list_target_range(ref: SettingsRef, start: str, end: str | None) -> list[bytes]:
    settings, stores = _context(ref)
    primary = ranged(stores.primary, "listing on a Dask cluster")
    return [pack_dest(obj) for obj in primary.list_range(settings.s3_prefix, start, end)]


def deliver_chunk(ref: SettingsRef, actions: list[Action], deep_verify: bool) -> list[Outcome]:
    settings, stores = _context(ref)
    stages = stages_for(settings)
    try:
        return Deliverer(settings, stores, stages=stages, deep_verify=deep_verify).run(actions)
    finally:
        for stage in stages:
            stage.close()


class DaskEngine:
    """Listing and copying on a Dask cluster; the client plans and gathers (see run.sync.Engine)."""

    def __init__(self, client: Any, ref: SettingsRef, ranges: int = 16, chunk: int = CHUNK_ACTIONS,
                 in_flight: int = CHUNKS_IN_FLIGHT) -> None:
        self.client = client
        self.ref = ref
        self.ranges = name_ranges(ranges)
        self.chunk = chunk
        self.in_flight = in_flight

    def listings(self, settings: Settings, stores: Stores) -> tuple[Iterable[SourceObject], Iterable[DestObject]]:
        """Every range of both sides listed on the workers at once; the client takes the ranges one at a
        time, in order, as the planner reads them (holding one packed range a side, not the listing)."""
        sources = [self.client.submit(list_source_range, self.ref, lo, hi, pure=False) for lo, hi in self.ranges]
        targets = [self.client.submit(list_target_range, self.ref, lo, hi, pure=False) for lo, hi in self.ranges]
        log.info("listing %d name ranges of each side on the cluster", len(sources))
        return _gathered(sources, unpack_source), _gathered(targets, unpack_dest)

    def deliver(
        self, settings: Settings, stores: Stores, todo: Iterable[Action], *,
        stages: Sequence[Stage], deep_verify: bool, on_outcome: Callable[[Outcome], None] | None, stop: StopFlag,
    ) -> tuple[list[Outcome], int]:
        """Chunks of `todo` delivered on the workers, read from the plan as chunks finish (at most
        `in_flight` chunks submitted at once: the plan is never held whole). `stages` are the client's:
        each worker delivers with its own, made from the same settings."""
        from distributed import as_completed

        actions = iter(todo)
        running: dict[str, tuple[Any, int]] = {}  # future key -> (future, actions in its chunk)
        done = as_completed()

        def submit() -> None:
            chunk = list(itertools.islice(actions, self.chunk))
            if chunk:
                future = self.client.submit(deliver_chunk, self.ref, chunk, deep_verify, pure=False)
                running[future.key] = (future, len(chunk))
                done.add(future)

        for _ in range(self.in_flight):
            submit()
        outcomes: list[Outcome] = []

        def collect(future: Any) -> None:
            for outcome in future.result():
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)

        for future in done:
            del running[future.key]
            collect(future)
            if stop.requested:  # leave what has not run for the next run
                not_started = sum(1 for _ in actions)
                for other, size in running.values():
                    if other.done():  # finished meanwhile: its outcomes count
                        collect(other)
                    else:
                        other.cancel()
                        not_started += size
                return outcomes, not_started
            submit()
        return outcomes, 0


def _gathered(futures: list[Any], unpack: Callable[[bytes], T]) -> Iterator[T]:
    """The futures' packed objects, one range at a time; each range is released once read."""
    for index, future in enumerate(futures):
        part = future.result()
        futures[index] = None  # the client's last reference: the cluster may drop the range now
        future.release()
        for packed in part:
            yield unpack(packed)
        del part


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A client of the scheduler at `scheduler`, or of a local cluster of `workers` processes."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("running on Dask needs the cluster extra: pip install 'gcs2s3[cluster]'") from None
    # Workers draw thumbnails in processes of their own: they must not be daemonic.
    with dask.config.set({"distributed.worker.daemon": False, "distributed.scheduler.allowed-failures": 5}):
        if scheduler:
            with Client(scheduler) as client:
                yield client
                _log_worker_memory(client)
        else:
            n = workers or os.cpu_count() or 1
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                yield client
                _log_worker_memory(client)


def _peak_rss_mib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _log_worker_memory(client: Any) -> None:
    try:
        peaks = sorted(client.run(_peak_rss_mib).values())
    except Exception as exc:  # diagnostics only
        log.debug("worker memory not read: %s", exc)
        return
    log.info("Dask workers' peak RSS MiB: %s", ", ".join(map(str, peaks)))
