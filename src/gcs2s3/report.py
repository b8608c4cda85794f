"""The run report: one dict (printed as JSON with --json, kept in the archive bucket under
`report_prefix`) and its human rendering (a rich table)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from gcs2s3.config import Settings
from gcs2s3.documents import put_document
from gcs2s3.keys import ARCHIVE_TIME_FORMAT
from gcs2s3.lease import Busy
from gcs2s3.logs import RUN_ID
from gcs2s3.models import Kind
from gcs2s3.stores.base import TargetStore
from gcs2s3.sync import SyncResult
from gcs2s3.verify import VerifyResult
from gcs2s3.version import VERSION

SHOWN_ACTIONS = 50


def _targets(settings: Settings) -> dict[str, str]:
    return {
        "run_id": RUN_ID,
        "version": VERSION,
        "dev_level": settings.dev_level,
        "source": f"gs://{settings.gcs_bucket}/{settings.path}",
        "primary": f"s3://{settings.s3_bucket}/{settings.s3_prefix}",
        "archive": f"s3://{settings.archive_bucket}/{settings.archive_prefix}",
    }


def sync_report(command: str, settings: Settings, result: SyncResult) -> dict[str, Any]:
    plan = result.plan
    counts: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for kind in (Kind.NEW, Kind.CHANGED, Kind.UNCHANGED):
        actions = plan.of_kind(kind)
        counts[kind.value] = len(actions)
        sizes[kind.value] = sum(a.source.size for a in actions)
    counts["headers_changed"] = len(plan.of_kind(Kind.HEADERS))
    failures = [{"key": r.name, "reason": r.reason} for r in plan.refused]
    failures += [{"key": o.action.dest_key, "reason": o.error or "failed"} for o in result.failed]
    failures += [{"key": o.action.dest_key, "reason": f"delivered, but no thumbnails: {o.thumbnails.error}"}
                 for o in result.unsized if o.thumbnails]
    failures += [{"key": p.job.action.dest_key, "reason": f"delivered, but not posted to WordPress: {p.error}"}
                 for p in result.unposted]
    delivered = [o for o in result.outcomes if o.ok and o.action.delivers]
    report: dict[str, Any] = {
        "command": command,
        **_targets(settings),
        "dry_run": result.dry_run,
        "counts": {
            **counts,
            "delivered": len(delivered),
            "archived": sum(o.archive_written for o in delivered),
            "headers_updated": sum(o.ok and not o.action.delivers for o in result.outcomes),
            "failed": len(result.failed),
            "refused": len(plan.refused),
            "placeholders_skipped": plan.placeholders,
            "target_only": plan.target_only,
            "not_started": result.not_started,
            "aborted_stale_uploads": result.aborted_uploads,
        },
        "bytes": {**sizes, "copied": sum(o.bytes_copied for o in delivered)},
        **({"thumbnails": _thumbnail_counts(result)} if settings.thumbnails else {}),
        **({"wordpress": _wordpress_counts(result)} if settings.posts_to_wordpress else {}),
        "failures": failures,
        "seconds": round(result.seconds, 3),
        "exit_code": result.exit_code,
    }
    if settings.shard:
        report["shard"] = settings.shard_spec.label if settings.shard_spec else settings.shard
    if result.stopped_by:
        report["stopped_by"] = result.stopped_by
    if settings.posts_to_wordpress:
        report["wordpress_seconds"] = round(result.posting_seconds, 3)
    if result.posts:
        report["media"] = [{"key": p.job.action.dest_key, "media_id": p.media.id, "url": p.media.url}
                           for p in result.posts if p.media is not None]
    if result.dry_run:
        report["actions"] = [
            {"kind": a.kind.value, "source": a.source.name, "dest_key": a.dest_key,
             "archive_key": a.archive_key, "reason": a.reason}
            for a in plan.of_kind(Kind.NEW, Kind.CHANGED, Kind.HEADERS)
        ]
    return report


def _thumbnail_counts(result: SyncResult) -> dict[str, int]:
    made = [o.thumbnails for o in result.outcomes if o.ok and o.thumbnails is not None]
    return {
        "images_sized": sum(bool(t.written) for t in made),
        "files_written": sum(len(t.written) for t in made),
        "stale_files_removed": sum(len(t.removed) for t in made),
        "images_not_sized": sum(t.not_sized is not None for t in made),
        "images_failed": sum(t.error is not None for t in made),
    }


def _wordpress_counts(result: SyncResult) -> dict[str, int]:
    return {
        "posted": sum(p.ok and not p.found for p in result.posts),
        "found_already_posted": sum(p.found for p in result.posts),
        "failed": sum(not p.ok and not p.not_started for p in result.posts),
        "not_started": sum(p.not_started for p in result.posts),
    }


def skipped_report(settings: Settings, busy: Busy, held_for_s: float | None, seconds: float) -> dict[str, Any]:
    """A sync that found the targets in use by another run: nothing planned, nothing written."""
    return {
        "command": "sync",
        **_targets(settings),
        "skipped": True,
        "lease": {**(asdict(busy.holder) if busy.holder else {"holder": "unreadable"}),
                  "renewed_s_ago": None if busy.age_s is None else round(busy.age_s),
                  "held_for_s": None if held_for_s is None else round(held_for_s)},
        "counts": {},
        "failures": [],
        "seconds": round(seconds, 3),
        "exit_code": 0,
    }


def verify_report(settings: Settings, result: VerifyResult, seconds: float) -> dict[str, Any]:
    return {
        "command": "verify",
        **_targets(settings),
        "counts": {
            "checked": result.checked,
            "archive_checked": result.archive_checked,
            "problems": len(result.problems),
            "refused": len(result.refused),
        },
        "failures": result.problems + result.refused,
        "seconds": round(seconds, 3),
        "exit_code": 0 if result.ok and not result.refused else 1,
    }


def store_report(settings: Settings, target: TargetStore, report: dict[str, Any], started: datetime) -> str:
    """Write the report to `<report_prefix><run start, UTC>[-<command>][-shard-i-of-N].json` in the archive bucket;
    returns its s3:// location."""
    suffix = "" if report["command"] == "sync" else f"-{report['command']}"
    if settings.shard_spec:  # the shards of one tick start in the same second
        suffix += f"-shard-{settings.shard_spec.index}-of-{settings.shard_spec.count}"
    key = f"{settings.report_prefix}{started.strftime(ARCHIVE_TIME_FORMAT)}{suffix}.json"
    put_document(target, settings.archive_bucket, key, json.dumps(report, indent=2, ensure_ascii=False).encode(),
                 "application/json")
    return f"s3://{settings.archive_bucket}/{key}"


def render(report: dict[str, Any], console: Console) -> None:
    """Print a report for a person: counts (and bytes), planned actions, every failure."""
    title = f"gcs2s3 {report['command']} [{report['dev_level']}]  {report['source']} -> {report['primary']}"
    table = Table(title=title, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("bytes", justify="right")
    sizes = report.get("bytes", {})
    for name, count in report["counts"].items():
        table.add_row(name.replace("_", " "), str(count), f"{sizes[name]:,}" if name in sizes else "")
    if "copied" in sizes:
        table.add_row("bytes copied", "", f"{sizes['copied']:,}")
    for section in ("thumbnails", "wordpress"):
        for name, count in report.get(section, {}).items():
            table.add_row(f"{section}: {name.replace('_', ' ')}", str(count), "")
    console.print(table)
    actions = report.get("actions", [])
    if actions:
        shown = Table(title="would do (nothing written)", title_justify="left")
        for column in ("kind", "source", "dest_key", "reason"):
            shown.add_column(column)
        for action in actions[:SHOWN_ACTIONS]:
            shown.add_row(action["kind"], action["source"], action["dest_key"], action["reason"])
        console.print(shown)
        if len(actions) > SHOWN_ACTIONS:
            console.print(f"... and {len(actions) - SHOWN_ACTIONS} more (--json lists all)")
    if report["failures"]:
        failed = Table(title="failures", title_justify="left")
        failed.add_column("key")
        failed.add_column("reason")
        for failure in report["failures"]:
            failed.add_row(failure["key"], failure["reason"])
        console.print(failed)
    if report.get("skipped"):
        lease = report["lease"]
        console.print(f"skipped: the targets are in use by run {lease.get('run_id', '?')} on "
                      f"{lease.get('host', '?')} since {lease.get('started', '?')}; nothing written")
    if report.get("stopped_by"):
        console.print(
            f"stopped early by {report['stopped_by']}: "
            f"{report['counts']['not_started']} object(s) left for the next run"
        )
    verdict = "OK" if report["exit_code"] == 0 else "FAILED"
    console.print(f"{verdict} in {report['seconds']} s (exit {report['exit_code']})")
