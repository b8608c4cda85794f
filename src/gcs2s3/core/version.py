"""gcs2s3's version (the installed distribution's, so the report, the metrics and `--version` agree) and
this process's run id (in every log line, report and lease)."""

from __future__ import annotations

import uuid
from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("gcs2s3")
except PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0+unknown"

RUN_ID = uuid.uuid4().hex[:12]
