"""One sync run, end to end: list both sides, plan (run/planning.py: streamed, sorted on disk, settled
from the state cache, else a HEAD), deliver (verified), let the stages finish (run/hooks.py:
thumbnails, WordPress, ...), and store the state cache for the next run (streamed, in key order).
The stages are passed in; this module names none of them.

Listing failures that mean the settings are wrong (bucket not found, access denied) become
ConfigError (exit 2) here, before any write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import Gcs2s3Error
from gcs2s3.core.headers import digest
from gcs2s3.core.models import TODO_KINDS, Action, DestObject, Kind, Outcome, Plan, SourceObject
from gcs2s3.core.report import StageReport
from gcs2s3.run.deliver import Deliverer
from gcs2s3.run.hooks import RunContext, Stage
from gcs2s3.run.listings import ListingGroup, primary_listing, probe_archive, source_listing
from gcs2s3.run.planning import plan_run
from gcs2s3.run.state import StateEntry, StoredState, state_entry, state_key, write_state
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stores.protocols import MultipartTarget, Stores, Target

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

    def listings(self, settings: Settings, stores: Stores) -> tuple[Iterable[SourceObject], Iterable[DestObject]]: ...

    def deliver(
        self, settings: Settings, stores: Stores, todo: Iterable[Action], *,
        stages: Sequence[Stage], deep_verify: bool, on_outcome: Callable[[Outcome], None] | None, stop: StopFlag,
    ) -> tuple[list[Outcome], int]: ...


class LocalEngine:
    """Both listings in this process (streamed into the planner; each walking its folders in parallel),
    then the Deliverer."""

    def listings(self, settings: Settings, stores: Stores) -> tuple[Iterable[SourceObject], Iterable[DestObject]]:
        return source_listing(settings, stores.source), primary_listing(settings, stores.primary)

    def deliver(
        self, settings: Settings, stores: Stores, todo: Iterable[Action], *,
        stages: Sequence[Stage], deep_verify: bool, on_outcome: Callable[[Outcome], None] | None, stop: StopFlag,
    ) -> tuple[list[Outcome], int]:
        deliverer = Deliverer(settings, stores, stages=stages, deep_verify=deep_verify,
                              on_outcome=on_outcome, stop=stop)
        return deliverer.run(todo), deliverer.not_started


def make_plan(settings: Settings, stores: Stores, *, stages: Sequence[Stage] = (), engine: Engine | None = None,
              stop: StopFlag | None = None) -> Plan:
    """What a sync would do now, nothing written (`gcs2s3 plan`). The plan's actions are in a temporary
    file, read in key order: use it as a context manager (or `close` it) to remove the file."""
    return plan_with_state(settings, stores, engine, stages, stop)[0]


def plan_with_state(
    settings: Settings, stores: Stores, engine: Engine | None = None,
    stages: Sequence[Stage] = (), stop: StopFlag | None = None,
) -> tuple[Plan, StoredState]:
    """List both sides and plan (run/planning.plan_run): the plan's actions are on disk, in key order;
    the stored state cache it was settled from is drained (its fingerprint spares an unchanged rewrite).
    A stop, or a failure of either listing or of the planner, ends both listings at once."""
    sources, targets = (engine or LocalEngine()).listings(settings, stores)
    with ListingGroup(stop) as group:
        return plan_run(settings, group.read(sources, "list-source"), group.read(targets, "list-primary"),
                        stores.primary, stages, on_error=group.abort)


def next_state(plan: Plan, outcomes: list[Outcome]) -> Iterator[tuple[str, StateEntry]]:
    """The cache after this run, in key order: every delivered key known to hold its source version
    and headers."""
    delivered = {o.action.dest_key: o for o in outcomes if o.ok}
    for action in plan.actions:
        outcome = delivered.get(action.dest_key)
        etag = outcome.dest_etag if outcome else (action.existing.etag if action.kind is Kind.UNCHANGED else None)
        if etag:
            yield action.dest_key, state_entry(etag, action.source, digest(action.headers))


def _save_state(settings: Settings, primary: Target, stored: StoredState, plan: Plan,
                outcomes: list[Outcome]) -> None:
    key = state_key(settings.s3_prefix, settings.shard)
    try:
        write_state(primary, key, lambda: next_state(plan, outcomes), stored)
    except Gcs2s3Error as exc:
        log.warning("state cache s3://%s/%s not written (%s); the next run costs more HEADs", settings.s3_bucket,
                    key, exc)


def run_sync(
    settings: Settings,
    stores: Stores,
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
        plan, stored = plan_with_state(settings, stores, engine, stages, stop)
        result = SyncResult(plan=plan, dry_run=dry_run)
        run = RunContext(settings, stores.primary, plan, stop, dry_run)
        _log_plan(plan)
        if not dry_run:
            for stage in stages:
                stage.start(run)
        if on_plan is not None and not dry_run:
            on_plan(plan)
        if plan.count(*TODO_KINDS) and not dry_run:
            # One cheap request, so that a missing or forbidden archive bucket is a settings error
            # (exit 2, nothing written) rather than one failure per object.
            probe_archive(settings, stores.archive)
            result.aborted_uploads = abort_open_uploads(settings, stores, plan)
            result.outcomes, result.not_started = engine.deliver(
                settings, stores, plan.of_kind(*TODO_KINDS), stages=stages, deep_verify=deep_verify,
                on_outcome=on_outcome, stop=stop,
            )
        result.stage_reports = [r for r in (stage.finish(run, result.outcomes) for stage in stages) if r is not None]
        if not dry_run:
            _save_state(settings, stores.primary, stored, plan, result.outcomes)
    finally:
        for stage in stages:
            stage.close()
    result.stopped_by = stop.reason if stop.requested else None
    result.seconds = time.monotonic() - started
    return result


def _log_plan(plan: Plan) -> None:
    log.info(
        "planned: %d new, %d changed, %d headers only, %d unchanged, %d refused",
        plan.count(Kind.NEW), plan.count(Kind.CHANGED), plan.count(Kind.HEADERS), plan.count(Kind.UNCHANGED),
        len(plan.refused),
    )
    for refusal in plan.refused:
        log.error("refused %s: %s", refusal.name, refusal.reason, extra={"key": refusal.name, "reason": refusal.reason})


def _own_uploads(settings: Settings, plan: Plan, open_keys: set[str]) -> set[str]:
    """Which of `open_keys` (keys with an open upload) are keys of this shard's actions."""
    rules = settings.key_rules
    own: set[str] = set()
    for action in plan.actions:
        keys = (action.dest_key, action.archive_key,
                rules.archive_key(action.dest_key, action.source.created, action.source.generation))
        own.update(key for key in keys if key in open_keys)
    return own


def abort_open_uploads(settings: Settings, stores: Stores, plan: Plan) -> int:
    """Abort the multipart uploads left open under our two prefixes (by a run that was killed).

    Called before this run writes anything, so every open upload found belongs to an earlier run; two
    runs against the same targets at once are not supported. A shard aborts only the uploads of its
    own keys (the other shards may be writing theirs right now); uploads of keys whose source is gone
    are left to the bucket's AbortIncompleteMultipartUpload lifecycle rule.
    """
    places: dict[tuple[str, str], MultipartTarget] = {}
    for target, prefix in ((stores.archive, settings.archive_prefix), (stores.primary, settings.s3_prefix)):
        if isinstance(target, MultipartTarget):  # a target without multipart uploads has none open
            places.setdefault((target.bucket, prefix), target)
    found: list[tuple[MultipartTarget, str, str, str]] = []  # (target, prefix, key, upload id)
    for (_, prefix), target in sorted(places.items(), key=lambda place: place[0]):
        try:
            found += [(target, prefix, key, upload) for key, upload in target.open_uploads(prefix)]
        except Gcs2s3Error as exc:  # cleanup only: never a reason not to deliver
            _not_cleaned(target.bucket, prefix, exc)
    own = _own_uploads(settings, plan, {key for *_, key, _ in found}) if settings.shard and found else None
    aborted = 0
    for target, prefix, key, upload_id in found:
        if own is not None and key not in own:
            continue
        try:
            target.abort_multipart(key, upload_id)
        except Gcs2s3Error as exc:
            _not_cleaned(target.bucket, prefix, exc)
            continue
        log.info("aborted a multipart upload left open by an earlier run: s3://%s/%s", target.bucket, key,
                 extra={"key": key})
        aborted += 1
    return aborted


def _not_cleaned(bucket: str, prefix: str, exc: Gcs2s3Error) -> None:
    log.warning("open multipart uploads under s3://%s/%s not cleaned up: %s (the role needs "
                "s3:ListBucketMultipartUploads and s3:AbortMultipartUpload)", bucket, prefix, exc)
