"""The run report as typed, frozen records: what the CLI prints, notify sends and metrics measure, each
reading fields (a misspelt name is an AttributeError, never a silent 0).

`RunReport.to_json()` is the JSON shape `--json` prints and `report_prefix` keeps: `counts`, `bytes`,
`failures`, ..., and one section per stage under the stage's name (`thumbnails`, `wordpress`) with any
top-level members the stage adds (`wordpress_seconds`, `media`). Stages fill StageReports; this module
names none of them. Built from run results by `run/summary.py`; rendered by `cli/report_output.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from gcs2s3.core.config import Settings
from gcs2s3.core.models import Failure
from gcs2s3.core.version import RUN_ID, VERSION

__all__ = ["ByteCounts", "Failure", "RunReport", "StageReport", "SyncCounts", "Targets", "VerifyCounts",
           "failed_report"]


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
class StageReport:
    """One stage's part of a run report."""

    name: str  # the section of the JSON report, the prefix of its rows in the table
    counts: Any  # a frozen dataclass of ints
    failures: tuple[Failure, ...] = ()  # each one makes the run exit 1
    members: tuple[tuple[str, Any], ...] = ()  # further top-level members of the JSON report
    metrics: tuple[tuple[str, float, str], ...] = ()  # (metric name, value, CloudWatch unit)


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
    stages: tuple[StageReport, ...] = ()
    failures: tuple[Failure, ...] = ()  # the stages' included
    dry_run: bool | None = None
    shard: str | None = None
    stopped_by: str | None = None
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

    def member(self, name: str) -> Any:
        """A top-level member a stage added (None when no stage did)."""
        return next((value for stage in self.stages for key, value in stage.members if key == name), None)

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
        if self.bytes is not None:
            document["bytes"] = _plain(self.bytes)
        for stage in self.stages:
            document[stage.name] = _plain(stage.counts)
        document["failures"] = [{"key": f.key, "reason": f.reason} for f in self.failures]
        document["seconds"] = round(self.seconds, 3)
        document["exit_code"] = self.exit_code
        for name in ("shard", "stopped_by", "error"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        for stage in self.stages:
            document.update(stage.members)
        if self.actions is not None:
            document["actions"] = list(self.actions)
        if self.location is not None:
            document["report"] = self.location
        return document


def _plain(record: Any) -> dict[str, int] | None:
    return None if record is None else {f.name: getattr(record, f.name) for f in fields(record)}


def failed_report(command: str, dev_level: str, exit_code: int, seconds: float, error: str) -> RunReport:
    """A run that ended in an error before it could count anything (settings, credentials, a bug)."""
    return RunReport(command=command, targets=Targets(dev_level), exit_code=exit_code, seconds=seconds, error=error)
