"""The run report as typed, frozen records: what the CLI prints, notify sends and metrics measure, each
reading fields (a misspelt name is an AttributeError, never a silent 0).

`RunReport.to_json()` is the JSON shape `--json` prints and `report_prefix` keeps (unchanged from the
dict it replaces: `counts`, `bytes`, `thumbnails`, `wordpress`, `failures`, ... appear as before, and
the optional members only when they apply). No I/O and no rendering here (`report_output.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from gcs2s3.config import Settings
from gcs2s3.lease import Busy
from gcs2s3.logs import RUN_ID
from gcs2s3.models import Failure, Kind
from gcs2s3.sync import SyncResult
from gcs2s3.verify import VerifyResult
from gcs2s3.version import VERSION

__all__ = ["ByteCounts", "Failure", "RunReport", "SyncCounts", "Targets", "ThumbnailCounts", "VerifyCounts",
           "WordPressCounts", "failed_report", "skipped_report", "sync_report", "verify_report"]


@dataclass(frozen=True, slots=True)
class SyncCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    headers_changed: int = 0
    delivered: int = 0
    archived: int = 0
    headers_updated: int = 0
    failed: int = 0
    refused: int = 0
    placeholders_skipped: int = 0
    target_only: int = 0
    not_started: int = 0
    aborted_stale_uploads: int = 0


@dataclass(frozen=True, slots=True)
class VerifyCounts:
    checked: int = 0
    archive_checked: int = 0
    problems: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class ByteCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    copied: int = 0


@dataclass(frozen=True, slots=True)
class ThumbnailCounts:
    images_sized: int = 0
    files_written: int = 0
    stale_files_removed: int = 0
    images_not_sized: int = 0
    images_failed: int = 0


@dataclass(frozen=True, slots=True)
class WordPressCounts:
    posted: int = 0
    found_already_posted: int = 0
    failed: int = 0
    not_started: int = 0


@dataclass(frozen=True, slots=True)
class Targets:
    dev_level: str
    source: str = ""
    primary: str = ""
    archive: str = ""

    @classmethod
    def of(cls, settings: Settings) -> Targets:
        return cls(settings.dev_level, f"gs://{settings.gcs_bucket}/{settings.path}",
                   f"s3://{settings.s3_bucket}/{settings.s3_prefix}",
                   f"s3://{settings.archive_bucket}/{settings.archive_prefix}")


@dataclass(frozen=True, slots=True)
class RunReport:
    """How one command ended. `counts` is SyncCounts for sync/plan, VerifyCounts for verify, None when
    the run ended before it counted anything (an error, a skip)."""

    command: str
    targets: Targets
    exit_code: int
    seconds: float
    counts: SyncCounts | VerifyCounts | None = None
    bytes: ByteCounts | None = None
    thumbnails: ThumbnailCounts | None = None
    wordpress: WordPressCounts | None = None
    failures: tuple[Failure, ...] = ()
    dry_run: bool | None = None
    shard: str | None = None
    stopped_by: str | None = None
    wordpress_seconds: float | None = None
    media: tuple[dict[str, Any], ...] | None = None
    actions: tuple[dict[str, str], ...] | None = None
    skipped: bool = False
    lease: dict[str, Any] | None = None
    error: str | None = None  # why the run ended early (exit 1 or 2 before a report was made)
    location: str | None = None  # where the report was kept (report_prefix)
    run_id: str = field(default=RUN_ID)
    version: str = field(default=VERSION)

    @property
    def verify_failures(self) -> int:
        """Failures that are verification problems (verify's own, or a sync's mismatches)."""
        if isinstance(self.counts, VerifyCounts):
            return self.counts.problems
        return sum("verif" in failure.reason for failure in self.failures)

    def stored_at(self, location: str) -> RunReport:
        return replace(self, location=location)

    def to_json(self) -> dict[str, Any]:
        """The report as --json prints it."""
        document: dict[str, Any] = {"command": self.command, "run_id": self.run_id, "version": self.version,
                                    **asdict(self.targets)}
        if self.dry_run is not None:
            document["dry_run"] = self.dry_run
        if self.skipped:
            document["skipped"] = True
            document["lease"] = self.lease
        document["counts"] = _plain(self.counts) or {}
        for name in ("bytes", "thumbnails", "wordpress"):
            value = getattr(self, name)
            if value is not None:
                document[name] = _plain(value)
        document["failures"] = [{"key": f.key, "reason": f.reason} for f in self.failures]
        document["seconds"] = round(self.seconds, 3)
        document["exit_code"] = self.exit_code
        for name in ("shard", "stopped_by", "wordpress_seconds", "error"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        for name in ("media", "actions"):
            value = getattr(self, name)
            if value is not None:
                document[name] = list(value)
        if self.location is not None:
            document["report"] = self.location
        return document


def _plain(record: Any) -> dict[str, int] | None:
    return None if record is None else {f.name: getattr(record, f.name) for f in fields(record)}


def sync_report(command: str, settings: Settings, result: SyncResult) -> RunReport:
    plan = result.plan
    failures = [Failure(r.name, r.reason) for r in plan.refused]
    failures += [Failure(o.action.dest_key, o.error or "failed") for o in result.failed]
    failures += [Failure(o.action.dest_key, f"delivered, but no thumbnails: {o.thumbnails.error}")
                 for o in result.unsized if o.thumbnails]
    failures += [Failure(p.job.action.dest_key, f"delivered, but not posted to WordPress: {p.error}")
                 for p in result.unposted]
    delivered = [o for o in result.outcomes if o.ok and o.action.delivers]
    sizes = {kind: sum(a.source.size for a in plan.of_kind(kind)) for kind in (Kind.NEW, Kind.CHANGED, Kind.UNCHANGED)}
    counts = SyncCounts(
        new=len(plan.of_kind(Kind.NEW)), changed=len(plan.of_kind(Kind.CHANGED)),
        unchanged=len(plan.of_kind(Kind.UNCHANGED)), headers_changed=len(plan.of_kind(Kind.HEADERS)),
        delivered=len(delivered), archived=sum(o.archive_written for o in delivered),
        headers_updated=sum(o.ok and not o.action.delivers for o in result.outcomes), failed=len(result.failed),
        refused=len(plan.refused), placeholders_skipped=plan.placeholders, target_only=plan.target_only,
        not_started=result.not_started, aborted_stale_uploads=result.aborted_uploads,
    )
    return RunReport(
        command=command, targets=Targets.of(settings), exit_code=result.exit_code, seconds=result.seconds,
        counts=counts,
        bytes=ByteCounts(sizes[Kind.NEW], sizes[Kind.CHANGED], sizes[Kind.UNCHANGED],
                         sum(o.bytes_copied for o in delivered)),
        thumbnails=_thumbnail_counts(result) if settings.thumbnails else None,
        wordpress=_wordpress_counts(result) if settings.posts_to_wordpress else None,
        failures=tuple(failures), dry_run=result.dry_run,
        shard=(settings.shard_spec.label if settings.shard_spec else settings.shard) if settings.shard else None,
        stopped_by=result.stopped_by,
        wordpress_seconds=round(result.posting_seconds, 3) if settings.posts_to_wordpress else None,
        media=tuple({"key": p.job.action.dest_key, "media_id": p.media.id, "url": p.media.url}
                    for p in result.posts if p.media is not None) if result.posts else None,
        actions=tuple({"kind": a.kind.value, "source": a.source.name, "dest_key": a.dest_key,
                       "archive_key": a.archive_key, "reason": a.reason}
                      for a in plan.of_kind(Kind.NEW, Kind.CHANGED, Kind.HEADERS)) if result.dry_run else None,
    )


def _thumbnail_counts(result: SyncResult) -> ThumbnailCounts:
    made = [o.thumbnails for o in result.outcomes if o.ok and o.thumbnails is not None]
    return ThumbnailCounts(
        images_sized=sum(bool(t.written) for t in made), files_written=sum(len(t.written) for t in made),
        stale_files_removed=sum(len(t.removed) for t in made),
        images_not_sized=sum(t.not_sized is not None for t in made),
        images_failed=sum(t.error is not None for t in made),
    )


def _wordpress_counts(result: SyncResult) -> WordPressCounts:
    return WordPressCounts(
        posted=sum(p.ok and not p.found for p in result.posts), found_already_posted=sum(p.found for p in result.posts),
        failed=sum(not p.ok and not p.not_started for p in result.posts),
        not_started=sum(p.not_started for p in result.posts),
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
                     else 1, seconds=seconds, counts=counts, failures=failures)


def failed_report(command: str, dev_level: str, exit_code: int, seconds: float, error: str) -> RunReport:
    """A run that ended in an error before it could count anything (settings, credentials, a bug)."""
    return RunReport(command=command, targets=Targets(dev_level), exit_code=exit_code, seconds=seconds, error=error)
