"""Running in production: notification (SNS on moto, a local webhook), EMF metrics, the kept run report,
progress lines."""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import World, cli
from proxy import LocalServer, QuietHandler
from test_sync import sync_json

from gcs2s3.cli.metrics import emf_line
from gcs2s3.cli.progress import ProgressReporter
from gcs2s3.core.models import Action, ActionList, Kind, Outcome, Plan, SourceObject
from gcs2s3.core.report import RunReport, Targets, VerifyCounts


def topic_with_queue(name: str) -> tuple[str, str]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def received(queue: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


class Hook(LocalServer):
    """A local webhook that records what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.answer(status)

        super().__init__(Handler, "/services/T000/B000/secret-token")


def test_a_failed_run_notifies_sns_and_the_webhook(world: World, aws: dict[str, str]) -> None:
    topic, queue = topic_with_queue(f"fail-{world.gcs_bucket}")
    hook = Hook()
    world.put("ok.txt", b"fine")
    world.put("x" * 1100, b"name too long")  # refused: exit 1
    try:
        code, report = sync_json(world, env={"GCS2S3_NOTIFY_WEBHOOK_URL": hook.url}, notify_sns_topic_arn=topic,
                                 report_prefix="reports/")
    finally:
        hook.close()
    assert code == 1 and report["counts"]["delivered"] == 1
    (message,) = received(queue)
    assert message["Subject"] == "gcs2s3 sync [Stage] FAILED (exit 1)"
    text = message["Message"]
    assert "xxxx" in text and "S3 allows at most 1024" in text and f"full report: {report['report']}" in text
    (body,) = hook.bodies
    assert body["text"] == text and body["exit_code"] == 1 and body["dev_level"] == "Stage"
    assert body["failure_count"] == 1 and body["report"] == report["report"]


def test_notify_on_and_only_the_first_twenty_failures(world: World, aws: dict[str, str]) -> None:
    topic, queue = topic_with_queue(f"on-{world.gcs_bucket}")
    world.put("fine.txt", b"fine")
    assert sync_json(world, notify_sns_topic_arn=topic)[0] == 0
    assert received(queue) == []  # notify_on = failure: a good run is quiet
    world.put("more.txt", b"more")
    assert sync_json(world, notify_sns_topic_arn=topic, notify_on="always")[0] == 0
    (message,) = received(queue)
    assert message["Subject"] == "gcs2s3 sync [Stage] OK"
    for i in range(25):
        world.put(f"{i:02d}" + "y" * 1100, b"refused")
    assert sync_json(world, notify_sns_topic_arn=topic)[0] == 1
    (message,) = received(queue)
    lines = message["Message"].splitlines()
    assert sum(line.startswith("- ") for line in lines) == 20 and "... and 5 more" in lines


def test_a_settings_error_after_loading_notifies_and_a_failed_notification_keeps_the_exit_code(
    world: World, aws: dict[str, str]
) -> None:
    topic, queue = topic_with_queue(f"cfg-{world.gcs_bucket}")
    world.put("a/b_c", b"1")
    world.put("a_b/c", b"2")  # with flattening on, both map to a_b_c: exit 2
    flat = {"wordpress_modification_for_s3_upload_plugin": "true"}
    result = cli("sync", "--config", str(world.ini(notify_sns_topic_arn=topic, **flat)), "--dev-level", "Stage")
    assert result.code == 2
    (message,) = received(queue)
    assert "FAILED (exit 2)" in message["Subject"] and "claimed by more than one source name" in message["Message"]
    missing = topic.rsplit(":", 1)[0] + ":no-such-topic"
    hook = Hook(status=500)
    try:
        result = cli("sync", "--config", str(world.ini(notify_sns_topic_arn=missing, **flat)), "--dev-level",
                     "Stage", env={"GCS2S3_NOTIFY_WEBHOOK_URL": hook.url})
    finally:
        hook.close()
    assert result.code == 2  # the run's own code, not the notification's
    assert "notification to SNS topic" in result.stderr and "not sent" in result.stderr
    assert "notification to webhook 127.0.0.1" in result.stderr and "HTTP 500" in result.stderr
    assert "secret-token" not in result.stderr


def test_the_run_report_is_kept_in_the_archive_bucket(world: World) -> None:
    world.put("r.txt", b"report me")
    code, report = sync_json(world, report_prefix="reports/")
    assert code == 0
    location = report.pop("report")
    bucket, _, key = location.removeprefix("s3://").partition("/")
    assert bucket == world.archive_bucket and key.startswith("reports/") and key.endswith("Z.json")
    kept = json.loads(world.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    kept.pop("report", None)
    assert kept == report
    inside = world.ini(archive_bucket=world.s3_bucket, archive_prefix="arc/", s3_prefix="media/",
                       report_prefix="media/reports/")
    result = cli("sync", "--config", str(inside), "--dev-level", "Stage")
    assert result.code == 2 and "report_prefix = 'media/reports/' overlaps the primary target" in result.stderr


EMF_UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
             "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
             "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
             "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}


def assert_emf(document: dict[str, Any]) -> None:
    """The rules of the CloudWatch Embedded Metric Format specification."""
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        assert all(isinstance(d, list) and len(d) <= 30 for d in directive["Dimensions"])
        for dimension in (name for group in directive["Dimensions"] for name in group):
            assert isinstance(document[dimension], str)  # every dimension is a string member
        names = [m["Name"] for m in directive["Metrics"]]
        assert len(names) == len(set(names)) <= 100
        for metric in directive["Metrics"]:
            assert metric.get("Unit", "None") in EMF_UNITS and 1 <= len(metric["Name"]) <= 1024
            assert isinstance(document[metric["Name"]], int | float)  # every metric is a number member


def test_metrics_are_emf_lines_on_stderr_and_to_the_agent(world: World) -> None:
    received_lines: list[str] = []

    class Agent(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            received_lines.extend(line.decode() for line in self.rfile)

    agent = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Agent)
    threading.Thread(target=agent.serve_forever, daemon=True).start()
    world.put("m.txt", b"metrics")
    try:
        endpoint = f"tcp://127.0.0.1:{agent.server_address[1]}"
        result = cli("sync", "--config", str(world.ini()), "--dev-level", "Stage", "--json",
                     env={"AWS_EMF_AGENT_ENDPOINT": endpoint})
        for _ in range(50):  # the agent's handler thread reads what was sent
            if received_lines:
                break
            threading.Event().wait(0.05)
    finally:
        agent.shutdown()
        agent.server_close()
    assert result.code == 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith('{"_aws"')]
    (document,) = lines
    assert_emf(document)
    assert document["DevLevel"] == "Stage" and document["ObjectsNew"] == 1 and document["BytesCopied"] == 7
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "gcs2s3"
    assert [json.loads(line) for line in received_lines] == [document]
    for line in result.stderr.splitlines():  # everything else on stderr is a JSON log line
        entry = json.loads(line)
        assert "_aws" in entry or {"level", "message", "run_id", "dev_level"} <= entry.keys()


def test_emf_for_verify_and_a_failed_run() -> None:
    verify = RunReport("verify", Targets("Prod"), exit_code=1, seconds=1.5, counts=VerifyCounts(checked=3, problems=2))
    document = json.loads(emf_line(verify, 1_800_000_000_000))
    assert_emf(document)
    assert document["VerifyFailures"] == 2 and document["RunFailed"] == 1 and document["DevLevel"] == "Prod"


def test_progress_is_a_json_line_every_interval_and_nothing_on_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime

    source = SourceObject("a", 1000, None, "AAAAAA==", 1, datetime(2026, 1, 1, tzinfo=UTC))
    action = Action(Kind.NEW, source, "a", "arc/a", "new")
    plan = Plan(actions=ActionList([action, Action(Kind.NEW, source, "b", "arc/b", "new")]))
    with caplog.at_level(logging.INFO, logger="gcs2s3.cli.progress"):
        quiet = ProgressReporter(interactive=False, interval_s=0.05)
        quiet.planned(plan)
        quiet.done(Outcome(action, ok=False, error="x"))
        threading.Event().wait(0.3)
        quiet.close()
    lines = [r for r in caplog.records if r.name == "gcs2s3.cli.progress"]
    assert lines and lines[-1].progress == {  # type: ignore[attr-defined]
        **lines[-1].progress,  # type: ignore[attr-defined]
        "objects_done": 1, "objects_planned": 2, "bytes_done": 1000, "bytes_planned": 2000, "failures": 1}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gcs2s3.cli.progress"):
        shown = ProgressReporter(interactive=True, interval_s=0.05)
        shown.planned(plan)
        threading.Event().wait(0.2)
        shown.close()
    assert not [r for r in caplog.records if r.name == "gcs2s3.cli.progress"]


def test_template_documents_every_new_key() -> None:
    text = (Path(__file__).resolve().parent.parent / "template_primary.ini").read_text()
    for key in ("notify_on", "report_prefix", "notify_sns_topic_arn", "notify_webhook_url", "lease_ttl_s", "max_run_s",
                "stop_grace_s"):
        assert key in text, key


def published(namespace: str, dev_level: str, metric: str) -> list[float]:
    """The values CloudWatch (moto) holds of `metric` for DevLevel `dev_level`."""
    answer = boto3.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "m", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric,
                       "Dimensions": [{"Name": "DevLevel", "Value": dev_level}]},
            "Period": 60, "Stat": "Sum"}}],
        StartTime=datetime.now(UTC) - timedelta(hours=1), EndTime=datetime.now(UTC) + timedelta(hours=1))
    return list(answer["MetricDataResults"][0]["Values"])


def test_every_kind_of_run_publishes_its_metrics_to_cloudwatch(world: World, aws: dict[str, str]) -> None:
    """GCS2S3_METRICS=cloudwatch: a delivered, a failed (settings that cannot be read) and a skipped run
    each put their metrics before the process ends; the EMF line stays in the log."""
    from gcs2s3.run.lease import Lease, lease_key
    from gcs2s3.stores.s3 import S3Target

    env = {"GCS2S3_METRICS": "cloudwatch"}
    world.put("a.txt", b"a")
    delivered = cli("sync", "--config", str(world.ini()), "--dev-level", "Stage", "--json", env=env)
    assert delivered.code == 0 and '"_aws"' in delivered.stderr
    assert published("gcs2s3", "Stage", "ObjectsNew") == [1.0]
    assert published("gcs2s3", "Stage", "RunFailed") == [0.0]
    failed = cli("sync", "--config", str(world.tmp / "missing.ini"), "--dev-level", "Prod", env=env)
    assert failed.code == 2
    assert published("gcs2s3", "Prod", "RunFailed") == [1.0]
    holder = Lease(S3Target(world.s3_bucket), lease_key(""), ttl_s=60, run_id="other", version="0",
                   on_lost=lambda: None)
    assert holder.acquire() is None
    try:
        skipped = cli("sync", "--config", str(world.ini()), "--dev-level", "Stage", "--json", env=env)
    finally:
        holder.release()
    assert skipped.code == 0 and json.loads(skipped.stdout)["skipped"] is True
    assert sum(published("gcs2s3", "Stage", "Skipped")) == 1.0  # the delivered run's 0, the skipped run's 1


def test_metrics_that_cannot_be_published_never_change_the_exit_code(world: World, aws: dict[str, str]) -> None:
    world.put("a.txt", b"a")
    env = {"GCS2S3_METRICS": "cloudwatch", "AWS_ENDPOINT_URL_CLOUDWATCH": "http://127.0.0.1:9"}  # nothing there
    result = cli("sync", "--config", str(world.ini()), "--dev-level", "Stage", "--json", env=env)
    assert result.code == 0
    assert any("metrics not published to CloudWatch" in json.loads(line)["message"]
               for line in result.stderr.splitlines() if '"message"' in line)
