"""Run metrics for CloudWatch: published with PutMetricData at the end of every run, and written as
an Embedded Metric Format (EMF) line in the log.

Every run (a failed or skipped one too) has the same metrics, namespace `gcs2s3`, dimension
`DevLevel`: objects new / changed / with new headers / unchanged / failed, bytes copied, thumbnail
files made, posts made, verify failures, duration, whether the run failed and whether it was skipped
(another run held the lease). With `GCS2S3_METRICS=cloudwatch` (as `deploy/task-definition.json` sets
it) the run publishes them itself with PutMetricData before the process exits, so nothing depends on
a sidecar outliving the task: a few quick tries, and a failure is logged and never changes the run's
exit code (the `not-running` alarm then says metrics stopped arriving). The EMF line (the run id and
gcs2s3's version ride along as properties) goes to stderr when that is not a terminal, and, when
`AWS_EMF_AGENT_ENDPOINT` is set (a CloudWatch agent, `tcp://127.0.0.1:25888`), to the agent too,
which makes metrics of it in the log group the line names (`AWS_EMF_LOG_GROUP_NAME`, default
`gcs2s3-metrics`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from gcs2s3.cli.notify import first_line
from gcs2s3.core.report import RunReport, SyncCounts, VerifyCounts
from gcs2s3.run.logs import stderr_is_terminal, write_stderr

log = logging.getLogger(__name__)
NAMESPACE = "gcs2s3"
AGENT_ENV = "AWS_EMF_AGENT_ENDPOINT"
LOG_GROUP_ENV = "AWS_EMF_LOG_GROUP_NAME"  # the variable the AWS EMF libraries read too
LOG_STREAM_ENV = "AWS_EMF_LOG_STREAM_NAME"
PUBLISH_ENV = "GCS2S3_METRICS"  # "cloudwatch": publish with PutMetricData too
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


def emit_metrics(report: RunReport, region: str | None = None) -> None:
    """Write the run's EMF line where CloudWatch can take it, and publish the metrics when
    GCS2S3_METRICS=cloudwatch (in `region`: the settings' aws_region, else the AWS environment's);
    never raises."""
    line = emf_line(report)
    if not stderr_is_terminal():
        write_stderr(line)
    endpoint = os.environ.get(AGENT_ENV)
    if endpoint:
        _to_agent(endpoint, line)
    if os.environ.get(PUBLISH_ENV, "").strip().lower() == "cloudwatch":
        put_metrics(report, region)


def metric_data(report: RunReport) -> list[dict[str, Any]]:
    """PutMetricData's MetricData for one run: every metric of the EMF line, by DevLevel."""
    dimensions = [{"Name": "DevLevel", "Value": report.targets.dev_level}]
    return [{"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": unit}
            for name, (value, unit) in run_metrics(report).items()]


def put_metrics(report: RunReport, region: str | None = None) -> None:
    """Publish the run's metrics to CloudWatch (namespace gcs2s3); a failure is logged."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})
    try:
        client = botocore.session.get_session().create_client("cloudwatch", region_name=region, config=config)
        client.put_metric_data(Namespace=NAMESPACE, MetricData=metric_data(report))
    except (BotoCoreError, ClientError) as exc:
        log.error("metrics not published to CloudWatch: %s (the task role needs cloudwatch:PutMetricData for "
                  "the namespace %s)", first_line(exc), NAMESPACE)


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
