"""One sync run, end to end: list both sides, plan, settle uncertain cases (state cache, else HEAD),
deliver, verify, post images to WordPress (when configured), and store the state cache and the
posting ledger for the next run.

Listing failures that mean the settings are wrong (bucket not found, access denied) become
ConfigError (exit 2) here, before any write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from gcs2s3.config import Settings
from gcs2s3.errors import Gcs2s3Error
from gcs2s3.execute import Deliverer
from gcs2s3.headers import digest
from gcs2s3.listings import in_background, primary_listing, probe_archive, source_listing
from gcs2s3.models import Action, Kind, Outcome, Plan, SourceObject, TargetObject
from gcs2s3.plan import build_plan, needs_confirming, resolve
from gcs2s3.stages.wordpress import Poster, PostOutcome, posting_jobs
from gcs2s3.stages.wordpress_ledger import Ledger, ledger_key, load_ledger, save_ledger
from gcs2s3.state import StateCache, load_state, save_state, state_key
from gcs2s3.stopping import StopFlag
from gcs2s3.stores.base import SourceStore, TargetStore
from gcs2s3.stores.wordpress import WordPressSite

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
    posts: list[PostOutcome] = field(default_factory=list)  # WordPress uploads (and look-ups) of this run
    posting_seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def unsized(self) -> list[Outcome]:
        """Images delivered without thumbnails because they could not be sized (corrupt, over the limit)."""
        return [o for o in self.outcomes if o.ok and o.thumbnails is not None and o.thumbnails.error]

    @property
    def unposted(self) -> list[PostOutcome]:
        return [p for p in self.posts if not p.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.plan.refused or self.stopped_by or self.unsized or self.unposted else 0


class Engine(Protocol):
    """Where the listing and the copying run: this process (LocalEngine) or a Dask cluster (cluster.py)."""

    def listings(
        self, settings: Settings, source_store: SourceStore, target: TargetStore, pool: ThreadPoolExecutor
    ) -> tuple[Iterable[SourceObject], Iterable[TargetObject]]: ...

    def deliver(
        self, settings: Settings, source_store: SourceStore, target: TargetStore, todo: list[Action], *,
        deep_verify: bool, on_outcome: Callable[[Outcome], None] | None, stop: StopFlag,
    ) -> tuple[list[Outcome], int]: ...


class LocalEngine:
    """Both listings at once in this process (each walking its folders in parallel), then the Deliverer."""

    def listings(
        self, settings: Settings, source_store: SourceStore, target: TargetStore, pool: ThreadPoolExecutor
    ) -> tuple[Iterable[SourceObject], Iterable[TargetObject]]:
        return source_listing(settings, source_store), in_background(pool, primary_listing(settings, target))

    def deliver(
        self, settings: Settings, source_store: SourceStore, target: TargetStore, todo: list[Action], *,
        deep_verify: bool, on_outcome: Callable[[Outcome], None] | None, stop: StopFlag,
    ) -> tuple[list[Outcome], int]:
        deliverer = Deliverer(settings, source_store, target, deep_verify=deep_verify, on_outcome=on_outcome, stop=stop)
        return deliverer.run(todo), deliverer.not_started


def make_plan(
    settings: Settings, source_store: SourceStore, target: TargetStore, engine: Engine | None = None
) -> tuple[Plan, StateCache]:
    """List both sides (and read the state cache) at once and plan, then confirm what the listings
    alone cannot (the headers of every object, the bytes of multipart ones): from the cache when it
    knows the listed object, otherwise with one HEAD each (in parallel)."""
    rules = settings.key_rules
    with ThreadPoolExecutor(max_workers=2) as pool:
        cache = pool.submit(load_state, target, settings.s3_bucket, state_key(settings.s3_prefix, settings.shard_spec))
        sources, targets = (engine or LocalEngine()).listings(settings, source_store, target, pool)
        plan = build_plan(rules, sources, targets, thumbnails=settings.thumbnails, shard=settings.shard_spec)
        state = cache.result()
    heads: list[int] = []
    for index, action in enumerate(plan.actions):
        if needs_confirming(action):
            vouched = state.vouch(action.target) if action.target else None
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
        etag = outcome.dest_etag if outcome else (action.target.etag if action.kind is Kind.UNCHANGED else None)
        if etag:
            state.record(action.dest_key, etag, action.source, digest(action.headers))
    return state


def _save_state(settings: Settings, target: TargetStore, old: StateCache, new: StateCache) -> None:
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
    source_store: SourceStore,
    target: TargetStore,
    *,
    dry_run: bool = False,
    deep_verify: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    stop: StopFlag | None = None,
    engine: Engine | None = None,
) -> SyncResult:
    started = time.monotonic()
    stop = stop or StopFlag()
    engine = engine or LocalEngine()
    plan, state = make_plan(settings, source_store, target, engine)
    result = SyncResult(plan=plan, dry_run=dry_run)
    todo = plan.of_kind(Kind.NEW, Kind.CHANGED, Kind.HEADERS)
    log.info(
        "planned: %d new, %d changed, %d headers only, %d unchanged, %d refused",
        len(plan.of_kind(Kind.NEW)), len(plan.of_kind(Kind.CHANGED)), len(plan.of_kind(Kind.HEADERS)),
        len(plan.of_kind(Kind.UNCHANGED)), len(plan.refused),
    )
    for refusal in plan.refused:
        log.error("refused %s: %s", refusal.name, refusal.reason, extra={"key": refusal.name, "reason": refusal.reason})
    ledger = _open_ledger(settings, target, plan) if settings.posts_to_wordpress and not dry_run else None
    if on_plan is not None and not dry_run:
        on_plan(plan)
    if todo and not dry_run:
        # One cheap request, so that a missing or forbidden archive bucket is a settings error
        # (exit 2, nothing written) rather than one failure per object.
        probe_archive(settings, target)
        result.aborted_uploads = abort_open_uploads(settings, target, plan)
        result.outcomes, result.not_started = engine.deliver(
            settings, source_store, target, todo, deep_verify=deep_verify, on_outcome=on_outcome, stop=stop
        )
    if ledger is not None:
        posting_started = time.monotonic()
        result.posts = _post(settings, target, plan, result.outcomes, ledger, stop)
        result.posting_seconds = time.monotonic() - posting_started
    if not dry_run:
        _save_state(settings, target, state, next_state(plan, result.outcomes))
    result.stopped_by = stop.reason if stop.requested else None
    result.seconds = time.monotonic() - started
    return result


def _open_ledger(settings: Settings, target: TargetStore, plan: Plan) -> Ledger:
    """The posting ledger. On the first run with posting on, the images already delivered are recorded
    as predating it, and the ledger is written before anything is delivered: from then on an image
    flagged on the object but missing from the ledger is known to be a killed run's."""
    ledger = load_ledger(target, settings.s3_bucket, ledger_key(settings.s3_prefix, settings.shard_spec))
    if not ledger.exists:
        posting_jobs(settings, plan, [], ledger, target)  # records the unchanged images as predating
        _save_ledger(settings, target, ledger)
        ledger.exists = True
    return ledger


def _post(
    settings: Settings, target: TargetStore, plan: Plan, outcomes: list[Outcome], ledger: Ledger, stop: StopFlag
) -> list[PostOutcome]:
    jobs = posting_jobs(settings, plan, outcomes, ledger, target)
    site = WordPressSite(settings.wordpress_url, settings.wordpress_user,
                         settings.wordpress_app_password.get_secret_value(), timeout_s=settings.wordpress_timeout_s,
                         connections=settings.wordpress_workers)
    try:
        posts = Poster(settings, target, site, ledger, stop).run(jobs)
    finally:
        site.close()
        _save_ledger(settings, target, ledger)
    return posts


def _save_ledger(settings: Settings, target: TargetStore, ledger: Ledger) -> None:
    if not ledger.changed:
        return
    key = ledger_key(settings.s3_prefix, settings.shard_spec)
    try:
        save_ledger(target, settings.s3_bucket, key, ledger)
    except Gcs2s3Error as exc:
        log.warning("WordPress ledger s3://%s/%s not written (%s); the next run looks posted images up again",
                    settings.s3_bucket, key, exc)


def _own_keys(settings: Settings, plan: Plan) -> set[str]:
    rules = settings.key_rules
    keys: set[str] = set()
    for action in plan.actions:
        keys.update((action.dest_key, action.archive_key,
                     rules.archive_key(action.dest_key, action.source.created, action.source.generation)))
    return keys


def abort_open_uploads(settings: Settings, target: TargetStore, plan: Plan) -> int:
    """Abort the multipart uploads left open under our two prefixes (by a run that was killed).

    Called before this run writes anything, so every open upload found belongs to an earlier run; two
    runs against the same targets at once are not supported. A shard aborts only the uploads of its
    own keys (the other shards may be writing theirs right now); uploads of keys whose source is gone
    are left to the bucket's AbortIncompleteMultipartUpload lifecycle rule.
    """
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
