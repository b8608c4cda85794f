"""Command line: argument parsing, output, and a run's life around the library: the lease (one run at a
time), signals, the report, metrics and notification on every way a run can end.

Exit codes: 0 ok (or skipped: another run holds the targets), 1 run failed, 2 usage/config.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gcs2s3.cli.metrics import emit_metrics
from gcs2s3.cli.notify import notify
from gcs2s3.cli.progress import ProgressReporter
from gcs2s3.cli.report_output import as_json_line, render, store_report
from gcs2s3.core.config import DEV_LEVEL_ENV, S3_SCHEME, Settings
from gcs2s3.core.errors import AccessDeniedError, Gcs2s3Error, as_config_error
from gcs2s3.core.report import RunReport, failed_report
from gcs2s3.core.version import VERSION
from gcs2s3.run.budget import release_large_buffers_to_the_os
from gcs2s3.run.lease import Busy, Lease, lease_key
from gcs2s3.run.logs import (
    RUN_ID,
    LogFormat,
    ensure_std_streams,
    quiet_flush,
    say_error,
    setup_logging,
    stderr_is_terminal,
    stdout_is_terminal,
)
from gcs2s3.run.reachability import check_reachable
from gcs2s3.run.stopping import StopFlag, stop_on_signals
from gcs2s3.run.stopping import stop as request_stop
from gcs2s3.run.summary import skipped_report, sync_report, verify_report
from gcs2s3.run.sync import Engine, run_sync
from gcs2s3.run.verify import run_verify
from gcs2s3.stages import stages_for
from gcs2s3.stores.opening import open_settings, open_stores
from gcs2s3.stores.protocols import Target

log = logging.getLogger("gcs2s3")
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Keep an S3 bucket in step with a GCS bucket; archive every delivered version; verify it.",
)

ConfigOpt = Annotated[
    str, typer.Option("--config", "-c", envvar="GCS2S3_CONFIG",
                      help="Settings file (copy of template_primary.ini), or s3://BUCKET/KEY.")
]
LevelOpt = Annotated[
    str | None, typer.Option("--dev-level", help="Section to use: Stage or Prod (default: $DevLevel).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as one line of JSON on stdout.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", "--debug", help="Debug logs, and tracebacks for unexpected errors.")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only warnings and errors; no report unless --json asks for it.")
]
LogFormatOpt = Annotated[
    LogFormat, typer.Option("--log-format", envvar="GCS2S3_LOG_FORMAT", case_sensitive=False,
                            help="Log lines as text or JSON (auto: JSON unless stderr is a terminal).")
]
DeepOpt = Annotated[bool, typer.Option("--deep-verify", help="Also re-read every written body and hash it.")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--dask-scheduler", help="Run the listing and the copying on this Dask scheduler (tcp://HOST:PORT)."),
]
ClusterOpt = Annotated[
    int | None,
    typer.Option("--dask-workers", min=1,
                 help="Run the listing and the copying on a local Dask cluster of N processes."),
]
ShardOpt = Annotated[
    str | None,
    typer.Option("--shard", envvar="GCS2S3_SHARD",
                 help="Do only shard i of N (i/N, from 0): N tasks with i = 0..N-1 together do one whole run."),
]


@dataclass(frozen=True)
class Output:
    """What a command prints and how: the report (a table on a terminal, else one JSON line; with
    --json always the JSON line; with -q nothing but the JSON line --json asks for) and the logs."""

    as_json: bool = False
    verbose: bool = False
    quiet: bool = False
    log_format: LogFormat = LogFormat.AUTO

    def setup(self, dev_level: str | None = None) -> None:
        setup_logging(self.verbose, dev_level, self.log_format, self.quiet)


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"gcs2s3 {VERSION}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Keep an S3 bucket in step with a GCS bucket; archive every delivered version; verify it."""


def _emit(report: RunReport, output: Output) -> None:
    """The report on stdout: a table for a person at a terminal, one JSON line for anything else (a
    pipe, a log driver) or with --json; a reader that went away loses it, not the run."""
    if output.quiet and not output.as_json:
        return
    with contextlib.suppress(OSError, ValueError):
        if output.as_json or not stdout_is_terminal():
            sys.stdout.write(as_json_line(report) + "\n")
            sys.stdout.flush()
        else:
            from rich.console import Console

            render(report, Console())


def _life(command: str, config: str, dev_level: str | None, output: Output, body: Callable[[Settings], int],
          shard: str | None = None) -> None:
    """Run a command around `body`: whatever ends it (exit 1 or 2, an unexpected exception, Ctrl-C)
    from the moment the settings are read notifies as configured, and every run that fails writes its
    metrics line (RunFailed = 1), also when the settings themselves cannot be read (DevLevel from the
    command line or the environment). `body` reports, notifies and measures a run that it finishes."""
    output.setup()
    clock = time.monotonic()
    settings: Settings | None = None
    try:
        settings = open_settings(config, dev_level, shard)
        output.setup(settings.dev_level)
        raise typer.Exit(body(settings))
    except Gcs2s3Error as exc:
        code, error = exc.exit_code, f"error: {exc}"
    except KeyboardInterrupt:
        code, error = 130, "error: interrupted"
    except typer.Exit:
        raise
    except Exception as exc:  # a bug or an unmapped SDK error: still one line, no secret, exit 1
        code, error = 1, f"unexpected error: {type(exc).__name__}: {exc} (run with --verbose for details)"
    if output.verbose:
        log.exception("gcs2s3 failed")
    say_error(error, code)
    level = settings.dev_level if settings else (dev_level or os.environ.get(DEV_LEVEL_ENV) or "unknown")
    failed = failed_report(command, level, code, time.monotonic() - clock, error)
    emit_metrics(failed, settings.aws_region if settings else None)
    if settings is not None:
        notify(settings, failed)
    raise typer.Exit(code)


def _finish(settings: Settings, archive: Target, report: RunReport, started: datetime, output: Output) -> int:
    """After a run: keep the report (report_prefix), print it, emit metrics, notify."""
    if settings.report_prefix:
        try:
            report = report.stored_at(store_report(settings, archive, report, started))
        except Gcs2s3Error as exc:
            log.error("run report not kept under s3://%s/%s: %s", settings.archive_bucket, settings.report_prefix, exc)
    _emit(report, output)
    emit_metrics(report, settings.aws_region)
    notify(settings, report)
    return report.exit_code


def _skipped(settings: Settings, busy: Busy, seconds: float, output: Output) -> int:
    """Another run holds the targets: nothing written, nothing aborted; say who, since when; exit 0.
    A holder older than `max_run_s` is stuck (or the schedule too tight): that is notified."""
    held = busy.holder.held_for_s() if busy.holder else None
    log.warning("skipped: the targets are in use by %s (lease renewed %s s ago); nothing written",
                busy.describe(), f"{busy.age_s:.0f}" if busy.age_s is not None else "?",
                extra={"lease": asdict(busy.holder) if busy.holder else None})
    report = skipped_report(settings, busy, held, seconds)
    _emit(report, output)
    emit_metrics(report, settings.aws_region)
    stuck = None
    if settings.max_run_s and held is not None and held > settings.max_run_s:
        stuck = (f"skipped: the lease has been held for {held:.0f} s by {busy.describe()}, longer than max_run_s "
                 f"({settings.max_run_s} s): the holder is stuck, or the schedule is too tight")
    notify(settings, report, alert=stuck)
    return 0


@contextmanager
def _engine(scheduler: str | None, workers: int | None, config: str, settings: Settings) -> Iterator[Engine | None]:
    """The Dask engine when asked for (--dask-scheduler / --dask-workers), else None (this process)."""
    if not scheduler and not workers:
        yield None
        return
    from gcs2s3.cluster import DaskEngine, SettingsRef, dask_client

    with dask_client(scheduler, workers) as client:
        where = config if config.startswith(S3_SCHEME) else str(Path(config).resolve())
        ref = SettingsRef(where, settings.dev_level, settings.shard.label if settings.shard else None)
        yield DaskEngine(client, ref, ranges=4 * max(1, len(client.scheduler_info().get("workers", {}))))


def _sync(command: str, config: str, dev_level: str | None, dry_run: bool, deep_verify: bool,
          output: Output, shard: str | None, scheduler: str | None = None,
          cluster_workers: int | None = None) -> None:
    def body(settings: Settings) -> int:
        stages = stages_for(settings)  # a stage's own settings are checked before anything is reached
        stores = open_stores(settings)
        started, clock = datetime.now(UTC), time.monotonic()
        check_reachable(settings, stores.source, stores.primary)
        if dry_run:
            with _engine(scheduler, cluster_workers, config, settings) as engine:
                result = run_sync(settings, stores, stages=stages, dry_run=True, engine=engine)
            report = sync_report(command, settings, result)
            _emit(report, output)
            return report.exit_code
        with stop_on_signals(StopFlag(), settings.stop_grace_s, settings.max_run_s) as stop:
            lease = Lease(stores.primary, lease_key(settings.s3_prefix, settings.shard),
                          ttl_s=settings.lease_ttl_s, run_id=RUN_ID, version=VERSION,
                          on_lost=lambda: request_stop(stop, "lease lost", settings.stop_grace_s,
                                                       "another run took the lease over"))
            with as_config_error(f"S3 bucket s3://{settings.s3_bucket}", "s3_bucket"):
                try:
                    busy = lease.acquire()
                except AccessDeniedError:  # some servers deny a write to a missing bucket: a listing tells
                    stores.primary.probe(settings.s3_prefix)
                    raise
            if busy is not None:
                return _skipped(settings, busy, time.monotonic() - clock, output)
            lease.start_renewing()
            progress = ProgressReporter(interactive=stderr_is_terminal() and not output.as_json and not output.quiet)
            try:
                with _engine(scheduler, cluster_workers, config, settings) as engine:
                    result = run_sync(settings, stores, stages=stages, deep_verify=deep_verify,
                                      stop=stop, on_plan=progress.planned, on_outcome=progress.done, engine=engine)
            finally:
                progress.close()
                lease.release()
        return _finish(settings, stores.archive, sync_report(command, settings, result), started, output)

    _life(command, config, dev_level, output, body, shard)


@app.command()
def sync(
    config: ConfigOpt = "primary.ini",
    dev_level: LevelOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    deep_verify: DeepOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.AUTO,
    shard: ShardOpt = None,
    dask_scheduler: SchedulerOpt = None,
    dask_workers: ClusterOpt = None,
) -> None:
    """Copy new and changed objects: archive first, then the primary target, each verified."""
    _sync("sync", config, dev_level, dry_run, deep_verify, Output(as_json, verbose, quiet, log_format), shard,
          dask_scheduler, dask_workers)


@app.command()
def plan(
    config: ConfigOpt = "primary.ini",
    dev_level: LevelOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.AUTO,
    shard: ShardOpt = None,
    dask_scheduler: SchedulerOpt = None,
    dask_workers: ClusterOpt = None,
) -> None:
    """Show what sync would do; nothing is written."""
    _sync("plan", config, dev_level, True, False, Output(as_json, verbose, quiet, log_format), shard,
          dask_scheduler, dask_workers)


@app.command()
def verify(
    config: ConfigOpt = "primary.ini",
    dev_level: LevelOpt = None,
    deep_verify: DeepOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = LogFormat.AUTO,
) -> None:
    """Re-check every delivered object and archive entry against the current source."""
    output = Output(as_json, verbose, quiet, log_format)

    def body(settings: Settings) -> int:
        stages = stages_for(settings)
        stores = open_stores(settings)
        started, clock = datetime.now(UTC), time.monotonic()
        check_reachable(settings, stores.source, stores.primary)
        result = run_verify(settings, stores, deep=deep_verify, stages=stages)
        report = verify_report(settings, result, time.monotonic() - clock)
        return _finish(settings, stores.archive, report, started, output)

    _life("verify", config, dev_level, output, body)


@app.command()
def demo(verbose: VerboseOpt = False, log_format: LogFormatOpt = LogFormat.AUTO) -> None:
    """Start local emulators, upload sample data and run the whole job end to end."""
    setup_logging(verbose, log_format=log_format)
    try:
        from gcs2s3.testing.demo import run_demo  # test tooling: only this command uses it

        code = run_demo()
    except Gcs2s3Error as exc:
        say_error(f"error: {exc}", exc.exit_code)
        code = exc.exit_code
    except (ImportError, RuntimeError) as exc:  # the emulators extra or the peers are missing here
        say_error(f"error: {exc}", 2)
        code = 2
    raise typer.Exit(code)


def main() -> None:
    ensure_std_streams()
    release_large_buffers_to_the_os()
    try:
        app()
    except SystemExit as done:
        quiet_flush()
        if _lingering_threads():
            # A run that stopped or failed early may leave a request in flight on a pool thread (a
            # listing an SDK retries for minutes); the interpreter would wait for it at exit, daemon
            # or not (concurrent.futures joins its workers). The report, metrics and notification
            # are out: end the process now, with the run's code.
            os._exit(0 if done.code is None else done.code if isinstance(done.code, int) else 1)
        raise
    finally:
        quiet_flush()


def _lingering_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
