"""Command line: argument parsing and output only. Exit codes: 0 ok, 1 run failed, 2 usage/config."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gcs2s3.budget import release_large_buffers_to_the_os
from gcs2s3.config import Settings, load_settings, with_shard
from gcs2s3.errors import Gcs2s3Error
from gcs2s3.logs import setup_logging
from gcs2s3.metrics import emit_metrics
from gcs2s3.notify import notify
from gcs2s3.progress import ProgressReporter
from gcs2s3.report import render, store_report, sync_report, verify_report
from gcs2s3.stopping import StopFlag, stop_on_signals
from gcs2s3.stores.opening import open_stores
from gcs2s3.stores.s3 import S3Target
from gcs2s3.sync import Engine, run_sync
from gcs2s3.verify import run_verify

log = logging.getLogger("gcs2s3")
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Keep an S3 bucket in step with a GCS bucket; archive every delivered version; verify it.",
)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Settings file (copy of template_primary.ini).")]
LevelOpt = Annotated[
    str | None, typer.Option("--dev-level", help="Section to use: Stage or Prod (default: $DevLevel).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Verbose logs and tracebacks.")]
DeepOpt = Annotated[bool, typer.Option("--deep-verify", help="Also re-read every written body and hash it.")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--dask-scheduler", help="Run the listing and the copying on this Dask scheduler (tcp://HOST:PORT)."),
]
ClusterOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Run the listing and the copying on a local Dask cluster of N processes."),
]
ShardOpt = Annotated[
    str | None,
    typer.Option("--shard", envvar="GCS2S3_SHARD",
                 help="Do only shard i of N (i/N, from 0): N tasks with i = 0..N-1 together do one whole run."),
]


def _emit(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        render(report, Console())


def _run(debug: bool, body: Callable[[], int]) -> None:
    """Run a command body; turn gcs2s3 errors into one line on stderr and the right exit code."""
    try:
        code = body()
    except Gcs2s3Error as exc:
        if debug:
            log.exception("gcs2s3 failed")
        sys.stderr.write(f"gcs2s3: error: {exc}\n")
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("gcs2s3: interrupted\n")
        code = 130
    except Exception as exc:  # a bug or an unmapped SDK error: still one line, no secret, exit 1
        if debug:
            log.exception("unexpected error")
        sys.stderr.write(f"gcs2s3: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)\n")
        code = 1
    raise typer.Exit(code)


def _finish(settings: Settings, target: S3Target, report: dict[str, Any], started: datetime, as_json: bool) -> int:
    """After a run: keep the report (report_prefix), print it, emit metrics, notify."""
    location = None
    if settings.report_prefix:
        try:
            location = store_report(settings, target, report, started)
            report["report"] = location
        except Gcs2s3Error as exc:
            log.error("run report not kept under s3://%s/%s: %s", settings.archive_bucket, settings.report_prefix, exc)
    _emit(report, as_json)
    emit_metrics(report, settings.dev_level)
    notify(settings, report["command"], int(report["exit_code"]), report=report, report_location=location)
    return int(report["exit_code"])


@contextmanager
def _notifying(settings: Settings, command: str) -> Iterator[None]:
    """A run that ends in an error (exit 2, or an unexpected one) still notifies."""
    try:
        yield
    except Gcs2s3Error as exc:
        notify(settings, command, exc.exit_code, error=str(exc))
        raise
    except Exception as exc:
        notify(settings, command, 1, error=f"unexpected error: {type(exc).__name__}")
        raise


@contextmanager
def _engine(scheduler: str | None, workers: int | None, config: Path, settings: Settings) -> Iterator[Engine | None]:
    """The Dask engine when asked for (--dask-scheduler / --workers), else None (this process)."""
    if not scheduler and not workers:
        yield None
        return
    from gcs2s3.cluster import DaskEngine, SettingsRef, dask_client

    with dask_client(scheduler, workers) as client:
        ref = SettingsRef(str(config.resolve()), settings.dev_level, settings.shard or None)
        yield DaskEngine(client, ref, ranges=4 * max(1, len(client.scheduler_info().get("workers", {}))))


def _sync(command: str, config: Path, dev_level: str | None, dry_run: bool, deep_verify: bool,
          as_json: bool, debug: bool, shard: str | None, scheduler: str | None = None,
          cluster_workers: int | None = None) -> None:
    setup_logging(debug)

    def body() -> int:
        settings = with_shard(load_settings(config, dev_level), shard)
        setup_logging(debug, settings.dev_level)
        source, target = open_stores(settings)
        started = datetime.now(UTC)
        if dry_run:
            with _engine(scheduler, cluster_workers, config, settings) as engine:
                result = run_sync(settings, source, target, dry_run=True, engine=engine)
            report = sync_report(command, settings, result)
            _emit(report, as_json)
            return int(report["exit_code"])
        progress = ProgressReporter(interactive=sys.stderr.isatty() and not as_json)
        with _notifying(settings, command), stop_on_signals(StopFlag()) as stop, \
                _engine(scheduler, cluster_workers, config, settings) as engine:
            try:
                result = run_sync(settings, source, target, deep_verify=deep_verify, stop=stop,
                                  on_plan=progress.planned, on_outcome=progress.done, engine=engine)
            finally:
                progress.close()
        return _finish(settings, target, sync_report(command, settings, result), started, as_json)

    _run(debug, body)


@app.command()
def sync(
    config: ConfigOpt = Path("primary.ini"),
    dev_level: LevelOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    deep_verify: DeepOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
    shard: ShardOpt = None,
    dask_scheduler: SchedulerOpt = None,
    workers: ClusterOpt = None,
) -> None:
    """Copy new and changed objects: archive first, then the primary target, each verified."""
    _sync("sync", config, dev_level, dry_run, deep_verify, as_json, debug, shard, dask_scheduler, workers)


@app.command()
def plan(
    config: ConfigOpt = Path("primary.ini"),
    dev_level: LevelOpt = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
    shard: ShardOpt = None,
    dask_scheduler: SchedulerOpt = None,
    workers: ClusterOpt = None,
) -> None:
    """Show what sync would do; nothing is written."""
    _sync("plan", config, dev_level, True, False, as_json, debug, shard, dask_scheduler, workers)


@app.command()
def verify(
    config: ConfigOpt = Path("primary.ini"),
    dev_level: LevelOpt = None,
    deep_verify: DeepOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Re-check every delivered object and archive entry against the current source."""
    setup_logging(debug)

    def body() -> int:
        settings = load_settings(config, dev_level)
        setup_logging(debug, settings.dev_level)
        source, target = open_stores(settings)
        started, clock = datetime.now(UTC), time.monotonic()
        with _notifying(settings, "verify"):
            result = run_verify(settings, source, target, deep=deep_verify)
        return _finish(settings, target, verify_report(settings, result, time.monotonic() - clock), started, as_json)

    _run(debug, body)


@app.command()
def demo(debug: DebugOpt = False) -> None:
    """Start local emulators, upload sample data and run the whole job end to end."""
    from gcs2s3.demo import run_demo

    setup_logging(debug)
    _run(debug, run_demo)


def main() -> None:
    release_large_buffers_to_the_os()
    app()
