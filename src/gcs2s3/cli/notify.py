"""Failure notification: an SNS topic and/or a webhook, when a run ends with exit 1 or 2.

`notify_on = failure` (the default) notifies only failed runs; `always` every run. The message says
the level, the command and its exit code, what failed (the first 20 keys with their reasons, then how
many more) and where the full report is. The webhook gets JSON with a Slack-compatible `text` field
and the same facts as fields. Sending is best effort: a notification that cannot be sent is logged as
an error and never changes the run's own exit code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import requests
from botocore.exceptions import BotoCoreError, ClientError

from gcs2s3.core.config import Settings
from gcs2s3.core.report import Failure, RunReport

log = logging.getLogger(__name__)
SHOWN_FAILURES = 20
SUBJECT_LIMIT = 100  # SNS: at most 100 characters


def should_notify(settings: Settings, exit_code: int, alert: str | None = None) -> bool:
    wanted = settings.notify_on == "always" or exit_code != 0 or alert is not None
    return wanted and bool(settings.notify_sns_topic_arn or settings.notify_webhook_url.get_secret_value())


def compose(settings: Settings, command: str, exit_code: int, failures: Sequence[Failure],
            report_location: str | None, error: str | None = None, skipped: bool = False) -> tuple[str, str]:
    """(subject, text) of the notification."""
    verdict = "SKIPPED" if skipped else "OK" if exit_code == 0 else f"FAILED (exit {exit_code})"
    subject = f"gcs2s3 {command} [{settings.dev_level}] {verdict}"
    lines = [f"{subject}: gs://{settings.gcs_bucket}/{settings.path} -> s3://{settings.s3_bucket}/{settings.s3_prefix}"]
    if error:
        lines.append(f"error: {error}")
    for failure in failures[:SHOWN_FAILURES]:
        lines.append(f"- {failure.key}: {failure.reason}")
    if len(failures) > SHOWN_FAILURES:
        lines.append(f"... and {len(failures) - SHOWN_FAILURES} more")
    if report_location:
        lines.append(f"full report: {report_location}")
    else:
        lines.append("full report: in the task's log (set report_prefix to keep it in the archive bucket)")
    return subject[:SUBJECT_LIMIT], "\n".join(lines)


def notify(settings: Settings, report: RunReport, *, alert: str | None = None) -> None:
    """Send the notification of a run if the settings ask for one (`alert`: whatever `notify_on` says,
    e.g. a stuck lease holder); never raises."""
    command, exit_code = report.command, report.exit_code
    if not should_notify(settings, exit_code, alert):
        return
    failures = report.failures
    error = report.error.removeprefix("error: ") if report.error else None
    subject, text = compose(settings, command, exit_code, failures, report.location, error or alert, report.skipped)
    if settings.notify_sns_topic_arn:
        _to_sns(settings, subject, text)
    if settings.notify_webhook_url.get_secret_value():
        payload = {"text": text, "dev_level": settings.dev_level, "command": command, "exit_code": exit_code,
                   "failures": [{"key": f.key, "reason": f.reason} for f in failures[:SHOWN_FAILURES]],
                   "failure_count": len(failures), "report": report.location, "error": error}
        _to_webhook(settings.notify_webhook_url.get_secret_value(), payload)


def _to_sns(settings: Settings, subject: str, text: str) -> None:
    topic = settings.notify_sns_topic_arn
    region = topic.split(":")[3] if topic.count(":") >= 5 else settings.aws_region
    try:
        client = botocore.session.get_session().create_client("sns", region_name=region)
        client.publish(TopicArn=topic, Subject=subject, Message=text)
        log.info("notified SNS topic %s", topic)
    except (BotoCoreError, ClientError) as exc:
        log.error("notification to SNS topic %s not sent: %s (the task role needs sns:Publish on it)", topic,
                  first_line(exc))


def _to_webhook(url: str, payload: dict[str, Any]) -> None:
    shown = urlsplit(url).netloc  # a webhook URL's path or query holds its token: never logged
    try:
        response = requests.post(url, json=payload, timeout=15)
        response.raise_for_status()
        log.info("notified webhook %s", shown)
    except requests.RequestException as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        why = f"HTTP {status}" if status else type(exc).__name__
        log.error("notification to webhook %s not sent: %s", shown, why)


def first_line(exc: Exception) -> str:
    """An exception's message as one short line (an SDK's may run over many)."""
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
