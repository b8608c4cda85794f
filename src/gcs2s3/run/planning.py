"""Planning a run at any size: the listings streamed through core/stream_plan.py, sorted by
destination key on disk beyond a memory bound (run/sorting.py), joined with the stored state cache,
and the actions written to a file in key order (run/plan_file.py). The plan the run walks holds no
Python record per object: its memory is the sort buffers, whatever the object count.

`plan_streamed` is the pure part (listings in, plan out; the tests compare it with the in-memory
reference planner of gcs2s3.testing); `plan_run` adds the I/O: both listings at once, the cache streamed from S3,
and one HEAD for each object neither the listings nor the cache settle, in key order through a
bounded window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait

from gcs2s3.core.bounded import BoundedMap, done
from gcs2s3.core.config import Settings
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.models import Action, DestObject, Plan, SourceObject
from gcs2s3.core.plan import Claimant, resolve
from gcs2s3.core.shards import Shard
from gcs2s3.core.stream_plan import Pair, StreamingPlan, Vouch, merge_sorted
from gcs2s3.run.hooks import claims_of
from gcs2s3.run.plan_file import PlanFile
from gcs2s3.run.sorting import RUN_BYTES, ExternalSorter
from gcs2s3.run.state import StoredState, state_key, vouched_packed
from gcs2s3.stores.protocols import Target

log = logging.getLogger(__name__)
HEAD_WINDOW = 256  # HEADs in flight or done and waiting for their turn (results are written in key order)


def plan_streamed(
    rules: KeyRules,
    sources: Iterable[SourceObject],
    targets: Iterable[DestObject],
    *,
    shard: Shard | None = None,
    claimants: Sequence[Claimant] = (),
    cache: Iterable[Pair] = (),
    vouch: Vouch | None = None,
    run_bytes: int = RUN_BYTES,
    background: Executor | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> tuple[Plan, PlanFile]:
    """The plan of both listings (settled from `cache` where it can be) with its actions in a file, in
    key order; each is flagged when it still needs a HEAD. Raises a collision or a claimant's refusal
    once everything is listed, before anything is decided. With `background`,
    the target listing is read and sorted on it while this thread reads the source listing. About
    `run_bytes` of listing is held at once (half a side), plus a quarter per claimant and side.
    `on_error` hears of a failure first, before the background listing is waited for (it can end it)."""
    streaming = StreamingPlan(rules, shard, claimants)
    half, quarter = max(run_bytes // 2, 1), max(run_bytes // 4, 1)  # both listings are sorted at once
    named = [ExternalSorter(quarter) for _ in claimants]  # each claimant's groups of source keys ...
    found = [ExternalSorter(quarter) for _ in claimants]  # ... and of listed keys
    listed = ExternalSorter(half)
    mapped = ExternalSorter(half)
    plan_file = PlanFile()

    def take_listing() -> None:
        listed.extend(streaming.listed(targets, [sorter.add for sorter in found]))

    pending = background.submit(take_listing) if background is not None else None
    attached: list[ExternalSorter] = []
    try:
        mapped.extend(streaming.mapped(sources, [sorter.add for sorter in named]))
        if pending is not None:
            pending.result()
        else:
            take_listing()
        for claimant, names, keys in zip(claimants, named, found, strict=True):
            grouped = merge_sorted([iter(names), iter(keys)])  # stable: names before listed keys in a group
            attached.append(ExternalSorter(quarter).extend(streaming.claims(claimant, grouped)))
        for action, unsure in streaming.join(mapped, listed, cache, vouch, merge_sorted(attached)):
            plan_file.append(action, unsure)
        plan_file.sorted_bytes = sum(sorter.spilled for sorter in (mapped, listed, *named, *found, *attached))
        streaming.refuse()
    except BaseException as exc:
        if on_error is not None:
            on_error(exc)
        plan_file.close()
        raise
    finally:
        if pending is not None:
            wait([pending])  # the listing thread is done with its sorters before they are dropped
        for sorter in (mapped, listed, *named, *found, *attached):
            sorter.close()
    streaming.plan.actions = plan_file
    return streaming.plan, plan_file


def plan_run(
    settings: Settings, sources: Iterable[SourceObject], targets: Iterable[DestObject], primary: Target,
    stages: Sequence[Claimant] = (), on_error: Callable[[BaseException], None] | None = None,
) -> tuple[Plan, StoredState]:
    """Plan from both listings (the primary's read on a second thread) and the stored state cache
    (streamed from S3 as the join reaches its keys), then confirm what neither settles (an object's
    headers, a multipart object's bytes) with one HEAD each, `settings.workers` at a time."""
    stored = StoredState(primary, state_key(settings.s3_prefix, settings.shard))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gcs2s3-list") as pool:
        plan, plan_file = plan_streamed(settings.key_rules, sources, targets, shard=settings.shard,
                                    claimants=claims_of(stages), cache=stored, vouch=vouched_packed,
                                    background=pool, on_error=on_error)
    stored.drain()
    log.info("planned %d object(s): %.0f MiB sorted on disk, %.0f MiB of plan file", len(plan_file),
             plan_file.sorted_bytes / 2**20, plan_file.written / 2**20)
    if plan_file.flagged:
        log.info("confirming %d object(s) the listings and the state cache cannot settle (a HEAD each)",
                 plan_file.flagged)
        settled = PlanFile()
        settled.sorted_bytes = plan_file.sorted_bytes
        try:
            with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="gcs2s3-head") as pool:
                def settle(action: Action) -> Action:
                    return resolve(action, primary.head(action.dest_key))

                # Written in key order: at most HEAD_WINDOW HEADs in flight, or done and waiting their turn.
                def start(item: tuple[Action, bool]) -> Future[Action]:
                    return pool.submit(settle, item[0]) if item[1] else done(item[0])

                for _, future in BoundedMap(start, plan_file.items(), HEAD_WINDOW, ordered=True):
                    settled.append(future.result())
        except BaseException:
            settled.close()
            raise
        finally:
            plan_file.close()
        plan.actions = settled
    return plan, stored

