"""gcs2s3's version: the installed distribution's, so the report, the metrics and `--version` agree."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("gcs2s3")
except PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0+unknown"
