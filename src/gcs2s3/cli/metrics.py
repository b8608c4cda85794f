"""Run metrics for CloudWatch, as Embedded Metric Format (EMF) lines.

One JSON line per run, every run (a failed or skipped one too), namespace `gcs2s3`, dimension
`DevLevel`: objects new / changed / with new headers / unchanged / failed, bytes copied, thumbnail
files made, posts made, verify failures, duration, whether the run failed and whether it was skipped
(another run held the lease); the run id and gcs2s3's version ride along as properties. Written to
stderr when it is not a terminal (the container's log stream), and, when `AWS_EMF_AGENT_ENDPOINT` is
set (`tcp://127.0.0.1:25888`, the CloudWatch agent sidecar that `deploy/task-definition.json` runs),
sent there too: CloudWatch Logs makes metrics of EMF lines that the agent ships, into the log group
the line names (`AWS_EMF_LOG_GROUP_NAME`, default `gcs2s3-metrics`), not of lines the plain awslogs
driver ships.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from gcs2s3.core.report import RunReport, SyncCounts, VerifyCounts
from gcs2s3.run.logs import stderr_is_terminal, write_stderr

log = logging.getLogger(__name__)
NAMESPACE = "gcs2s3"
AGENT_ENV = "AWS_EMF_AGENT_ENDPOINT"
LOG_GROUP_ENV = "AWS_EMF_LOG_GROUP_NAME"  # the variable the AWS EMF libraries read too
LOG_STREAM_ENV = "AWS_EMF_LOG_STREAM_NAME"
DEFAULT_LOG_GROUP = "gcs2s3-metrics"


def run_metrics(report: RunReport) -> dict[str, tuple[float, str]]:
    """Metric name -> (value, unit) for one run of any command, read from the typed report."""
    metrics: dict[str, tuple[float, str]] = {
        "DurationSeconds": (float(report.seconds), "Seconds"),
        "RunFailed": (1.0 if report.exit_code else 0.0, "Count"),
        "Skipped": (1.0 if report.skipped else 0.0, "Count"),
    }
    counts = report.counts
    if isinstance(counts, VerifyCounts):
        metrics["VerifyFailures"] = (float(counts.problems), "Count")
        metrics["ObjectsChecked"] = (float(counts.checked), "Count")
        return metrics
    counts = counts or SyncCounts()
    metrics.update({
        "ObjectsNew": (float(counts.new), "Count"),
        "ObjectsChanged": (float(counts.changed), "Count"),
        "ObjectsHeadersUpdated": (float(counts.headers_updated), "Count"),
        "ObjectsUnchanged": (float(counts.unchanged), "Count"),
        "ObjectsFailed": (float(counts.failed + counts.refused), "Count"),
        "BytesCopied": (float(report.bytes.copied if report.bytes else 0), "Bytes"),
        "VerifyFailures": (float(report.verify_failures), "Count"),
    })
    for stage in report.stages:  # each stage's own (ThumbnailsMade, PostsMade, ...), present when it is on
        metrics.update({name: (float(value), unit) for name, value, unit in stage.metrics})
    return metrics


def emf_line(report: RunReport, timestamp_ms: int | None = None) -> str:
    """The EMF document for one run (one line of JSON); the dimension is the report's DevLevel."""
    metrics = run_metrics(report)
    meta: dict[str, Any] = {
        "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "LogGroupName": os.environ.get(LOG_GROUP_ENV) or DEFAULT_LOG_GROUP,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["DevLevel"]],
            "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
        }],
    }
    if os.environ.get(LOG_STREAM_ENV):
        meta["LogStreamName"] = os.environ[LOG_STREAM_ENV]
    document: dict[str, Any] = {
        "_aws": meta,
        "DevLevel": report.targets.dev_level,
        "command": report.command,
        "run_id": report.run_id,
        "version": report.version,
        "exit_code": report.exit_code,
        **{name: value for name, (value, _) in metrics.items()},
    }
    return json.dumps(document, separators=(",", ":"))


def emit_metrics(report: RunReport) -> None:
    """Write the run's EMF line where CloudWatch can take it; never raises."""
    line = emf_line(report)
    if not stderr_is_terminal():
        write_stderr(line)
    endpoint = os.environ.get(AGENT_ENV)
    if endpoint:
        _to_agent(endpoint, line)


def _to_agent(endpoint: str, line: str) -> None:
    parts = urlsplit(endpoint)
    try:
        if parts.scheme == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto((line + "\n").encode(), (parts.hostname or "127.0.0.1", parts.port or 25888))
        else:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 25888), timeout=5) as sock:
                sock.sendall((line + "\n").encode())
    except OSError as exc:
        log.error("metrics not sent to the CloudWatch agent at %s: %s", endpoint, exc)
