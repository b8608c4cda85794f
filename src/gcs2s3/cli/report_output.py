"""The run report where people and machines read it: a rich table on a terminal, one JSON line with
`--json`, and the JSON document kept in the archive bucket under `report_prefix`."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING

from gcs2s3.core.config import Settings
from gcs2s3.core.keys import ARCHIVE_TIME_FORMAT
from gcs2s3.core.report import RunReport, SyncCounts
from gcs2s3.run.documents import put_document
from gcs2s3.stores.protocols import Target

if TYPE_CHECKING:  # rich is imported only to draw the table (--json and the logs do without it)
    from rich.console import Console

SHOWN_ACTIONS = 50


def store_report(settings: Settings, archive: Target, report: RunReport, started: datetime) -> str:
    """Write the report to `<report_prefix><run start, UTC>[-<command>][-shard-i-of-N].json` in the archive
    bucket; returns its s3:// location."""
    suffix = "" if report.command == "sync" else f"-{report.command}"
    if settings.shard:  # the shards of one tick start in the same second
        suffix += f"-shard-{settings.shard.index}-of-{settings.shard.count}"
    key = f"{settings.report_prefix}{started.strftime(ARCHIVE_TIME_FORMAT)}{suffix}.json"
    put_document(archive, key, json.dumps(report.to_json(), indent=2, ensure_ascii=False).encode(), "application/json")
    return f"s3://{archive.bucket}/{key}"


def as_json_line(report: RunReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False)


def render(report: RunReport, console: Console) -> None:
    """Print a report for a person: counts (and bytes), planned actions, every failure."""
    from rich.table import Table

    targets = report.targets
    table = Table(title=f"gcs2s3 {report.command} [{targets.dev_level}]  {targets.source} -> {targets.primary}",
                  title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("bytes", justify="right")
    sizes = {f.name: getattr(report.bytes, f.name) for f in fields(report.bytes)} if report.bytes else {}
    if report.counts is not None:
        for item in fields(report.counts):
            size = f"{sizes[item.name]:,}" if item.name in sizes else ""
            table.add_row(item.name.replace("_", " "), str(getattr(report.counts, item.name)), size)
    if "copied" in sizes:
        table.add_row("bytes copied", "", f"{sizes['copied']:,}")
    for stage in report.stages:
        for item in fields(stage.counts):
            table.add_row(f"{stage.name}: {item.name.replace('_', ' ')}", str(getattr(stage.counts, item.name)), "")
    console.print(table)
    actions = report.actions or ()
    if actions:
        shown = Table(title="would do (nothing written)", title_justify="left")
        for column in ("kind", "source", "dest_key", "reason"):
            shown.add_column(column)
        for action in actions[:SHOWN_ACTIONS]:
            shown.add_row(action["kind"], action["source"], action["dest_key"], action["reason"])
        console.print(shown)
        if len(actions) > SHOWN_ACTIONS:
            console.print(f"... and {len(actions) - SHOWN_ACTIONS} more (--json lists all)")
    if report.failures:
        failed = Table(title="failures", title_justify="left")
        failed.add_column("key")
        failed.add_column("reason")
        for failure in report.failures:
            failed.add_row(failure.key, failure.reason)
        console.print(failed)
    if report.skipped and report.lease is not None:
        lease = report.lease
        console.print(f"skipped: the targets are in use by run {lease.get('run_id', '?')} on "
                      f"{lease.get('host', '?')} since {lease.get('started', '?')}; nothing written")
    if report.stopped_by:
        not_started = report.counts.not_started if isinstance(report.counts, SyncCounts) else 0
        console.print(f"stopped early by {report.stopped_by}: {not_started} object(s) left for the next run")
    verdict = "OK" if report.exit_code == 0 else "FAILED"
    console.print(f"{verdict} in {round(report.seconds, 3)} s (exit {report.exit_code})")
