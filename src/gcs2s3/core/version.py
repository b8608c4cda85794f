"""gcs2s3's version (the installed distribution's, so the report, the metrics and `--version` agree),
the build it came from, and this process's run id (in every log line, report and lease).

The build is `GCS2S3_BUILD` when set (the image sets it to the commit it was built from), else, for a
source checkout, the commit `git describe` names; it rides on the version as a local label
(`0.1.0+6e9f5e8`), so two images of one release are told apart in every report and metrics line.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

BUILD_ENV = "GCS2S3_BUILD"

try:
    RELEASE = version("gcs2s3")
except PackageNotFoundError:  # running from a source tree that is not installed
    RELEASE = "0+unknown"


def _checkout_commit() -> str:
    """`git describe` of the checkout this module lives in, or "" (an installed wheel, no git)."""
    top = Path(__file__).resolve().parents[3]
    if not (top / ".git").exists():
        return ""
    try:
        answer = subprocess.run(["git", "-C", str(top), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return answer.stdout.strip() if answer.returncode == 0 else ""


def _label(build: str) -> str:
    """A build as a PEP 440 local version label (letters, digits and dots)."""
    return ".".join(part for part in re.split(r"[^A-Za-z0-9]+", build) if part)


BUILD = os.environ.get(BUILD_ENV, "").strip() or _checkout_commit()
VERSION = f"{RELEASE}+{_label(BUILD)}" if _label(BUILD) else RELEASE
RUN_ID = uuid.uuid4().hex[:12]
