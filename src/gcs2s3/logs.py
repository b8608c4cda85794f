"""Logging to stderr: rich lines on a terminal, one JSON object per line otherwise (CloudWatch-ready)."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import UTC, datetime

RUN_ID = uuid.uuid4().hex[:12]


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
        for field in ("key", "progress"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(debug: bool = False, dev_level: str | None = None, json_lines: bool | None = None) -> None:
    """Configure the root logger once per process; `json_lines` defaults to "stderr is not a terminal"."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler: logging.Handler
    if json_lines:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(dev_level))
    else:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, markup=False, rich_tracebacks=debug)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # The SDKs stay at WARNING even with --debug: their debug output carries request headers.
    for noisy in ("botocore", "boto3", "urllib3", "google", "s3transfer", "pyvips"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
