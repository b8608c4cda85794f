"""Run results -> RunReport: what a sync, a verify or a skipped run reports (the records are in
core/report.py; each stage contributes its own StageReport, made by its `finish` hook)."""

from __future__ import annotations

from dataclasses import asdict

from gcs2s3.core.config import Settings
from gcs2s3.core.models import TODO_KINDS, Failure, Kind
from gcs2s3.core.report import ByteCounts, RunReport, SyncCounts, Targets, VerifyCounts
from gcs2s3.run.lease import Busy
from gcs2s3.run.sync import SyncResult
from gcs2s3.run.verify import VerifyResult


def sync_report(command: str, settings: Settings, result: SyncResult) -> RunReport:
    plan = result.plan
    failures = [Failure(r.name, r.reason) for r in plan.refused]
    failures += [Failure(o.action.dest_key, o.error or "failed") for o in result.failed]
    failures += [failure for stage in result.stage_reports for failure in stage.failures]
    delivered = [o for o in result.outcomes if o.ok and o.action.delivers]
    counts = SyncCounts(
        new=plan.count(Kind.NEW), changed=plan.count(Kind.CHANGED),
        unchanged=plan.count(Kind.UNCHANGED), headers_changed=plan.count(Kind.HEADERS),
        delivered=len(delivered), archived=sum(o.archive_written for o in delivered),
        headers_updated=sum(o.ok and not o.action.delivers for o in result.outcomes), failed=len(result.failed),
        refused=len(plan.refused), placeholders_skipped=plan.placeholders, target_only=plan.target_only,
        not_started=result.not_started, aborted_stale_uploads=result.aborted_uploads,
    )
    return RunReport(
        command=command, targets=Targets.of(settings), exit_code=result.exit_code, seconds=result.seconds,
        counts=counts,
        bytes=ByteCounts(plan.size(Kind.NEW), plan.size(Kind.CHANGED), plan.size(Kind.UNCHANGED),
                         sum(o.bytes_copied for o in delivered)),
        stages=tuple(result.stage_reports), failures=tuple(failures), dry_run=result.dry_run,
        shard=settings.shard.label if settings.shard else None,
        stopped_by=result.stopped_by,
        actions=tuple({"kind": a.kind.value, "source": a.source.name, "dest_key": a.dest_key,
                       "archive_key": a.archive_key, "reason": a.reason}
                      for a in plan.of_kind(*TODO_KINDS)) if result.dry_run else None,
    )


def skipped_report(settings: Settings, busy: Busy, held_for_s: float | None, seconds: float) -> RunReport:
    """A sync that found the targets in use by another run: nothing planned, nothing written."""
    lease = {**(asdict(busy.holder) if busy.holder else {"holder": "unreadable"}),
             "renewed_s_ago": None if busy.age_s is None else round(busy.age_s),
             "held_for_s": None if held_for_s is None else round(held_for_s)}
    return RunReport(command="sync", targets=Targets.of(settings), exit_code=0, seconds=seconds, skipped=True,
                     lease=lease)


def verify_report(settings: Settings, result: VerifyResult, seconds: float) -> RunReport:
    counts = VerifyCounts(checked=result.checked, archive_checked=result.archive_checked,
                          problems=len(result.problems), refused=len(result.refused))
    failures = tuple(result.problems + result.refused)
    return RunReport(command="verify", targets=Targets.of(settings), exit_code=0 if result.ok and not result.refused
                     else 1, seconds=seconds, counts=counts, failures=failures, stages=tuple(result.stage_reports))
