"""One sync run, end to end: list both sides, plan, settle uncertain cases, deliver, verify.

Listing failures that mean the settings are wrong (bucket not found, access denied) become
ConfigError (exit 2) here, before any write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gcs2s3.config import Settings
from gcs2s3.execute import Executor
from gcs2s3.listings import in_background, primary_listing, probe_archive, source_listing
from gcs2s3.models import Action, Kind, Outcome, Plan
from gcs2s3.plan import build_plan, resolve
from gcs2s3.stores.base import SourceStore, TargetStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SyncResult:
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.plan.refused else 0


def make_plan(settings: Settings, source_store: SourceStore, target: TargetStore) -> Plan:
    """List both sides and plan, then settle CHECK actions with one HEAD each (in parallel)."""
    rules = settings.key_rules
    with ThreadPoolExecutor(max_workers=1) as pool:  # list both sides at once
        targets = in_background(pool, primary_listing(settings, target))
        plan = build_plan(rules, source_listing(settings, source_store), targets)
    checks = [i for i, a in enumerate(plan.actions) if a.kind is Kind.CHECK]
    if checks:
        def settle(index: int) -> Action:
            action = plan.actions[index]
            return resolve(action, target.head(settings.s3_bucket, action.dest_key))

        with ThreadPoolExecutor(max_workers=settings.workers) as pool:
            for index, settled in zip(checks, pool.map(settle, checks), strict=True):
                plan.actions[index] = settled
    return plan


def run_sync(
    settings: Settings,
    source_store: SourceStore,
    target: TargetStore,
    *,
    dry_run: bool = False,
    deep_verify: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> SyncResult:
    started = time.monotonic()
    for key in ("notify_sns_topic_arn", "notify_webhook_url"):
        if getattr(settings, key):
            log.warning("%s is set, but failure notification is not available in this version yet", key)
    plan = make_plan(settings, source_store, target)
    result = SyncResult(plan=plan, dry_run=dry_run)
    todo = plan.of_kind(Kind.NEW, Kind.CHANGED)
    log.info(
        "planned: %d new, %d changed, %d unchanged, %d refused",
        len(plan.of_kind(Kind.NEW)), len(plan.of_kind(Kind.CHANGED)), len(plan.of_kind(Kind.UNCHANGED)),
        len(plan.refused),
    )
    if todo and not dry_run:
        # One cheap request, so that a missing or forbidden archive bucket is a settings error
        # (exit 2, nothing written) rather than one failure per object.
        probe_archive(settings, target)
        executor = Executor(settings, source_store, target, deep_verify=deep_verify, on_outcome=on_outcome)
        result.outcomes = executor.run(todo)
    result.seconds = time.monotonic() - started
    return result
