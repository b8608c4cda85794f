"""One sync run, end to end: list both sides, plan, settle uncertain cases (state cache, else HEAD),
deliver (verified), let the stages finish (run/hooks.py: thumbnails, WordPress, ...), and store the
state cache for the next run. The stages are passed in; this module names none of them.

Listing failures that mean the settings are wrong (bucket not found, access denied) become
ConfigError (exit 2) here, before any write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import Gcs2s3Error
from gcs2s3.core.headers import digest
from gcs2s3.core.models import Action, DestObject, Kind, Outcome, Plan, SourceObject
from gcs2s3.core.plan import build_plan, needs_confirming, resolve
from gcs2s3.core.report import StageReport
from gcs2s3.run.deliver import Deliverer
from gcs2s3.run.hooks import RunContext, Stage
from gcs2s3.run.listings import in_background, primary_listing, probe_archive, source_listing
from gcs2s3.run.state import StateCache, load_state, save_state, state_key
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stores.protocols import MultipartTarget, Source, Target

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SyncResult:
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0
    stopped_by: str | None = None  # the signal that stopped the run early
    not_started: int = 0  # actions left for the next run because of the stop
    aborted_uploads: int = 0  # multipart uploads an earlier, interrupted run left open
    stage_reports: list[StageReport] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def exit_code(self) -> int:
        stage_failed = any(stage.failures for stage in self.stage_reports)
        return 1 if self.failed or self.plan.refused or self.stopped_by or stage_failed else 0


class Engine(Protocol):
    """Where the listing and the copying run: this process (LocalEngine) or a Dask cluster (cluster.py)."""

    def listings(
        self, settings: Settings, source_store: Source, target: Target, pool: ThreadPoolExecutor
    ) -> tuple[Iterable[SourceObject], Iterable[DestObject]]: ...

    def deliver(
        self, settings: Settings, source_store: Source, target: Target, todo: list[Action], *,
        stages: Sequence[Stage], deep_verify: bool, on_outcome: Callable[[Outcome], None] | None, stop: StopFlag,
    ) -> tuple[list[Outcome], int]: ...


class LocalEngine:
    """Both listings at once in this process (each walking its folders in parallel), then the Deliverer."""

    def listings(
        self, settings: Settings, source_store: Source, target: Target, pool: ThreadPoolExecutor
    ) -> tuple[Iterable[SourceObject], Iterable[DestObject]]:
        return source_listing(settings, source_store), in_background(pool, primary_listing(settings, target))

    def deliver(
        self, settings: Settings, source_store: Source, target: Target, todo: list[Action], *,
        stages: Sequence[Stage], deep_verify: bool, on_outcome: Callable[[Outcome], None] | None, stop: StopFlag,
    ) -> tuple[list[Outcome], int]:
        deliverer = Deliverer(settings, source_store, target, stages=stages, deep_verify=deep_verify,
                              on_outcome=on_outcome, stop=stop)
        return deliverer.run(todo), deliverer.not_started


def make_plan(
    settings: Settings, source_store: Source, target: Target, engine: Engine | None = None,
    stages: Sequence[Stage] = (),
) -> tuple[Plan, StateCache]:
    """List both sides (and read the state cache) at once and plan, then confirm what the listings
    alone cannot (the headers of every object, the bytes of multipart ones): from the cache when it
    knows the listed object, otherwise with one HEAD each (in parallel)."""
    rules = settings.key_rules
    with ThreadPoolExecutor(max_workers=2) as pool:
        cache = pool.submit(load_state, target, settings.s3_bucket, state_key(settings.s3_prefix, settings.shard_spec))
        sources, targets = (engine or LocalEngine()).listings(settings, source_store, target, pool)
        plan = build_plan(rules, sources, targets, claimants=stages, shard=settings.shard_spec)
        state = cache.result()
    heads: list[int] = []
    for index, action in enumerate(plan.actions):
        if needs_confirming(action):
            vouched = state.vouch(action.existing) if action.existing else None
            settled = resolve(action, vouched) if vouched else None
            if settled and settled.kind in (Kind.UNCHANGED, Kind.HEADERS):
                plan.actions[index] = settled
            else:
                heads.append(index)
    if heads:
        def settle(index: int) -> Action:
            action = plan.actions[index]
            return resolve(action, target.head(settings.s3_bucket, action.dest_key))

        with ThreadPoolExecutor(max_workers=settings.workers) as pool:
            for index, settled in zip(heads, pool.map(settle, heads), strict=True):
                plan.actions[index] = settled
    return plan, state


def next_state(plan: Plan, outcomes: list[Outcome]) -> StateCache:
    """The cache after this run: every delivered key known to hold its source version and headers."""
    state = StateCache()
    delivered = {o.action.dest_key: o for o in outcomes if o.ok}
    for action in plan.actions:
        outcome = delivered.get(action.dest_key)
        etag = outcome.dest_etag if outcome else (action.existing.etag if action.kind is Kind.UNCHANGED else None)
        if etag:
            state.record(action.dest_key, etag, action.source, digest(action.headers))
    return state


def _save_state(settings: Settings, target: Target, old: StateCache, new: StateCache) -> None:
    if new.entries == old.entries:
        return
    key = state_key(settings.s3_prefix, settings.shard_spec)
    try:
        save_state(target, settings.s3_bucket, key, new)
    except Gcs2s3Error as exc:
        log.warning("state cache s3://%s/%s not written (%s); the next run costs more HEADs", settings.s3_bucket,
                    key, exc)


def run_sync(
    settings: Settings,
    source_store: Source,
    target: Target,
    *,
    stages: Sequence[Stage],
    dry_run: bool = False,
    deep_verify: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    stop: StopFlag | None = None,
    engine: Engine | None = None,
) -> SyncResult:
    """One sync. `stages` ride along (gcs2s3.stages.stages_for(settings) gives the configured ones; pass
    () for none); they are closed when the run ends."""
    started = time.monotonic()
    stop = stop or StopFlag()
    engine = engine or LocalEngine()
    try:
        plan, state = make_plan(settings, source_store, target, engine, stages)
        result = SyncResult(plan=plan, dry_run=dry_run)
        run = RunContext(settings, target, plan, stop, dry_run)
        todo = plan.of_kind(Kind.NEW, Kind.CHANGED, Kind.HEADERS)
        _log_plan(plan)
        if not dry_run:
            for stage in stages:
                stage.start(run)
        if on_plan is not None and not dry_run:
            on_plan(plan)
        if todo and not dry_run:
            # One cheap request, so that a missing or forbidden archive bucket is a settings error
            # (exit 2, nothing written) rather than one failure per object.
            probe_archive(settings, target)
            result.aborted_uploads = abort_open_uploads(settings, target, plan)
            result.outcomes, result.not_started = engine.deliver(
                settings, source_store, target, todo, stages=stages, deep_verify=deep_verify, on_outcome=on_outcome,
                stop=stop,
            )
        result.stage_reports = [r for r in (stage.finish(run, result.outcomes) for stage in stages) if r is not None]
        if not dry_run:
            _save_state(settings, target, state, next_state(plan, result.outcomes))
    finally:
        for stage in stages:
            stage.close()
    result.stopped_by = stop.reason if stop.requested else None
    result.seconds = time.monotonic() - started
    return result


def _log_plan(plan: Plan) -> None:
    log.info(
        "planned: %d new, %d changed, %d headers only, %d unchanged, %d refused",
        len(plan.of_kind(Kind.NEW)), len(plan.of_kind(Kind.CHANGED)), len(plan.of_kind(Kind.HEADERS)),
        len(plan.of_kind(Kind.UNCHANGED)), len(plan.refused),
    )
    for refusal in plan.refused:
        log.error("refused %s: %s", refusal.name, refusal.reason, extra={"key": refusal.name, "reason": refusal.reason})


def _own_keys(settings: Settings, plan: Plan) -> set[str]:
    rules = settings.key_rules
    keys: set[str] = set()
    for action in plan.actions:
        keys.update((action.dest_key, action.archive_key,
                     rules.archive_key(action.dest_key, action.source.created, action.source.generation)))
    return keys


def abort_open_uploads(settings: Settings, target: Target, plan: Plan) -> int:
    """Abort the multipart uploads left open under our two prefixes (by a run that was killed).

    Called before this run writes anything, so every open upload found belongs to an earlier run; two
    runs against the same targets at once are not supported. A shard aborts only the uploads of its
    own keys (the other shards may be writing theirs right now); uploads of keys whose source is gone
    are left to the bucket's AbortIncompleteMultipartUpload lifecycle rule.
    """
    if not isinstance(target, MultipartTarget):  # a target without multipart uploads has none open
        return 0
    places = {(settings.archive_bucket, settings.archive_prefix), (settings.s3_bucket, settings.s3_prefix)}
    own = _own_keys(settings, plan) if settings.shard_spec else None
    aborted = 0
    for bucket, prefix in sorted(places):
        try:
            for key, upload_id in target.open_uploads(bucket, prefix):
                if own is not None and key not in own:
                    continue
                target.abort_multipart(bucket, key, upload_id)
                log.info("aborted a multipart upload left open by an earlier run: s3://%s/%s", bucket, key,
                         extra={"key": key})
                aborted += 1
        except Gcs2s3Error as exc:  # cleanup only: never a reason not to deliver
            log.warning("open multipart uploads under s3://%s/%s not cleaned up: %s (the role needs "
                        "s3:ListBucketMultipartUploads and s3:AbortMultipartUpload)", bucket, prefix, exc)
    return aborted
