"""Logging and every other line on stderr: rich lines on a terminal, otherwise one JSON object per line
(CloudWatch-ready), the final error included.

stderr may be a pipe nobody reads or one whose reader is gone: nothing here may turn that into a crash
or a hang of the run. `ensure_std_streams` gives a process started with a closed stdout/stderr a
harmless /dev/null in their place (so that no socket the run opens later can take file descriptor 2),
and `quiet_flush` swaps a stream that broke for /dev/null, so the interpreter's own last flush cannot
fail the exit code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from enum import StrEnum
from typing import TextIO

from gcs2s3.core.version import RUN_ID

# Members a log call may add with `extra=`, carried into the JSON line when set.
FIELDS = ("key", "reason", "progress", "exit_code", "lease")


class LogFormat(StrEnum):
    """How log lines look: JSON unless stderr is a terminal (auto), or as asked."""

    AUTO = "auto"
    JSON = "json"
    TEXT = "text"


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def stderr_is_terminal() -> bool:
    return _is_terminal(sys.stderr)


def stdout_is_terminal() -> bool:
    return _is_terminal(sys.stdout)


def ensure_std_streams() -> None:
    """Point a closed file descriptor 1 or 2 at /dev/null, and give Python a stream for it."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115


def quiet_flush() -> None:
    """Flush stdout and stderr; a stream that cannot take writes any more is replaced by /dev/null."""
    for name in ("stdout", "stderr"):
        stream: TextIO | None = getattr(sys, name)
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def write_stderr(text: str) -> None:
    """One line on stderr, never raising (a closed or broken stderr loses the line, not the run)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


class JsonFormatter(logging.Formatter):
    def __init__(self, dev_level: str | None) -> None:
        super().__init__()
        self.dev_level = dev_level

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
            "run_id": RUN_ID,
        }
        if self.dev_level:
            entry["dev_level"] = self.dev_level
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


_json_lines = True


def setup_logging(debug: bool = False, dev_level: str | None = None, log_format: LogFormat = LogFormat.AUTO,
                  quiet: bool = False) -> None:
    """Configure the root logger once per process: JSON lines unless stderr is a terminal (or as
    `log_format` says); `debug` logs everything of gcs2s3's, `quiet` only warnings and errors."""
    global _json_lines
    json_lines = log_format == LogFormat.JSON or (log_format == LogFormat.AUTO and not stderr_is_terminal())
    _json_lines = json_lines
    handler: logging.Handler
    if json_lines:
        handler = logging.StreamHandler(sys.stderr if sys.stderr is not None else open(os.devnull, "w"))  # noqa: SIM115
        handler.setFormatter(JsonFormatter(dev_level))
    else:
        from rich.console import Console
        from rich.logging import RichHandler

        # on stderr, as the JSON lines: stdout carries only the report
        handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False, rich_tracebacks=debug)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    logging.captureWarnings(True)  # a library's warning is a log line too, JSON off a terminal
    threading.excepthook = _log_thread_exception
    root.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    # The SDKs stay at WARNING even with --debug: their debug output carries request headers.
    for noisy in ("botocore", "boto3", "urllib3", "google", "s3transfer", "pyvips", "distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    name = args.thread.name if args.thread else "?"
    logging.getLogger("gcs2s3").error("uncaught error in thread %s: %s", name, args.exc_value,
                                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def error_line(text: str, exit_code: int) -> str:
    """The final error as stderr shows it, built without the logging machinery (which may be blocked):
    a JSON line off a terminal, the plain `gcs2s3: …` line on one."""
    line = f"gcs2s3: {text}"
    if not _json_lines:
        return line
    return json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "error",
                       "message": line, "logger": "gcs2s3", "run_id": RUN_ID, "exit_code": exit_code},
                      ensure_ascii=False)


def say_error(text: str, exit_code: int) -> None:
    """The run's final error: `gcs2s3: error: …` on a terminal, else one JSON line with `exit_code`."""
    line = f"gcs2s3: {text}"
    if _json_lines:
        logging.getLogger("gcs2s3").error(line, extra={"exit_code": exit_code})
    else:
        write_stderr(line)
