"""Every way a run can end is heard of: each failing exit path (exit 1 or 2, an unexpected exception)
writes the metrics line with RunFailed = 1 and, once the settings are read, notifies; when stderr is no
terminal every line on it is one JSON object, the final error included; `--json` is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import World, cli, error_lines
from proxy import Proxy
from test_production import Hook, assert_emf

SECRET = "SUPERSECRETKEYMATERIAL"


def lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]  # fails on any line that is not JSON


def metrics_line(stderr: str) -> dict[str, Any]:
    (line,) = [entry for entry in lines(stderr) if "_aws" in entry]
    assert_emf(line)
    return line


def failing_run(world: World, config: Path | str, code: int, env: dict[str, str | None] | None = None,
                hook: Hook | None = None, level: str | None = "Stage") -> tuple[str, dict[str, Any]]:
    """Run sync; check the exit code, the one error line, the metrics line and the notification."""
    args = ["sync", "--config", str(config), *(["--dev-level", level] if level else [])]
    result = cli(*args, env=env)  # type: ignore[arg-type]
    assert result.code == code, result.stderr[-3000:]
    (error,) = error_lines(result.stderr)
    assert SECRET not in result.stderr + result.stdout and "Traceback" not in result.stderr
    metrics = metrics_line(result.stderr)
    assert metrics["RunFailed"] == 1 and metrics["exit_code"] == code and metrics["run_id"] and metrics["version"]
    if hook is not None:
        (body,) = hook.bodies
        hook.bodies.clear()
        assert body["exit_code"] == code and SECRET not in json.dumps(body)
    return error, metrics


@pytest.fixture
def hook() -> Any:
    server = Hook()
    yield server
    server.close()


def test_settings_that_cannot_be_read_still_write_the_metrics_line(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                   hook: Hook) -> None:
    error, metrics = failing_run(world, world.tmp / "missing.ini", 2)
    assert "not found" in error and metrics["DevLevel"] == "Stage"
    monkeypatch.setenv("DevLevel", "Prod")
    error, metrics = failing_run(world, world.tmp / "missing.ini", 2, level=None)
    assert metrics["DevLevel"] == "Prod"  # from the environment: nothing else to tell it by
    error, _ = failing_run(world, world.ini(notify_webhook_url=hook.url, thumbnale="true"), 2)
    assert "unknown key" in error and hook.bodies == []  # the settings were not read: nothing to notify with


def test_bad_key_file_and_bad_key_json_notify(world: World, hook: Hook) -> None:
    world.put("a.txt", b"a")
    (world.tmp / "sa.json").write_text("{not json " + SECRET)
    error, _ = failing_run(world, world.ini(gcs_key_file="sa.json", notify_webhook_url=hook.url), 2, hook=hook)
    assert "not a service-account key" in error
    env = {"GCS2S3_GCS_KEY_JSON": json.dumps({"type": "service_account", "private_key": SECRET})}
    error, _ = failing_run(world, world.ini(notify_webhook_url=hook.url), 2, env=env, hook=hook)  # type: ignore[arg-type]
    assert "GCS2S3_GCS_KEY_JSON" in error


def test_no_aws_credentials_notify(world: World, hook: Hook, tmp_path: Path) -> None:
    world.put("a.txt", b"a")
    none = str(tmp_path / "none")
    env: dict[str, str | None] = {
        "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
        "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_CONFIG_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
        "AWS_WEB_IDENTITY_TOKEN_FILE": None,
    }
    error, _ = failing_run(world, world.ini(notify_webhook_url=hook.url), 2, env=env, hook=hook)
    assert "no AWS credentials" in error


@pytest.mark.parametrize("side", ["gcs", "s3"])
def test_access_denied_notifies(world: World, emulators: dict[str, str], hook: Hook, side: str) -> None:
    world.put("a.txt", b"a")
    variable = "STORAGE_EMULATOR_HOST" if side == "gcs" else "AWS_ENDPOINT_URL"
    with Proxy(emulators[variable]) as proxy:
        proxy.fault = lambda method, path: 403
        error, _ = failing_run(world, world.ini(notify_webhook_url=hook.url), 2, env={variable: proxy.url}, hook=hook)
    assert "access denied" in error


def test_buckets_not_found_notify(world: World, hook: Hook) -> None:
    world.put("a.txt", b"a")
    for setting in ("gcs_bucket", "s3_bucket", "archive_bucket"):
        error, _ = failing_run(world, world.ini(notify_webhook_url=hook.url, **{setting: "no-such-bucket"}), 2,
                               hook=hook)
        assert setting in error


def test_a_collision_notifies(world: World, hook: Hook) -> None:
    world.put("a/b_c", b"1")
    world.put("a_b/c", b"2")
    config = world.ini(notify_webhook_url=hook.url, wordpress_modification_for_s3_upload_plugin="true")
    error, _ = failing_run(world, config, 2, hook=hook)
    assert "claimed by more than one source name" in error
    assert world.keys() == {}


def test_an_unexpected_exception_notifies_and_releases_the_lease(world: World, hook: Hook,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    world.put("a.txt", b"a")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr("gcs2s3.run.sync.plan_run", broken)
    error, _ = failing_run(world, world.ini(notify_webhook_url=hook.url), 1, hook=hook)
    assert "unexpected error: RuntimeError: injected" in error
    assert not world.keys(bookkeeping=True)  # nothing written, the lease released


def test_every_failed_key_has_a_log_line_and_json_is_one_line(world: World) -> None:
    world.put("ok.txt", b"fine")
    world.put("x" * 1100, b"name too long")
    result = cli("sync", "--config", str(world.ini()), "--dev-level", "Stage", "--json")
    assert result.code == 1 and result.stdout.count("\n") == 1
    report = json.loads(result.stdout)
    assert report["run_id"] and report["version"]
    refused = [entry for entry in lines(result.stderr) if entry.get("key") == "x" * 1100]
    assert refused and refused[0]["level"] == "error" and "1024" in refused[0]["reason"]
    metrics = metrics_line(result.stderr)
    assert metrics["RunFailed"] == 1 and metrics["run_id"] == report["run_id"]


def test_version_and_flags_in_help() -> None:
    result = cli("--version")
    assert result.code == 0 and result.stdout.startswith("gcs2s3 ") and result.stdout.split()[1][0].isdigit()
    text = cli("sync", "--help").stdout
    for flag in ("--dry-run", "--deep-verify", "--json", "--verbose", "--quiet", "--log-format", "--dask-workers"):
        line = next(line for line in text.splitlines() if flag in line)
        assert "<bool>" not in line and "BOOLEAN" not in line, line


def test_the_table_only_on_a_terminal_quiet_and_text_logs(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.put("x.txt", b"x")
    args = ("plan", "--config", str(world.ini()), "--dev-level", "Stage")
    quiet = cli(*args, "-q")
    assert quiet.code == 0 and quiet.stdout == ""
    assert all(json.loads(line)["level"] in ("warning", "error") for line in quiet.stderr.splitlines()
               if not line.startswith('{"_aws"'))
    text = cli(*args, "--log-format", "text")
    assert text.code == 0 and json.loads(text.stdout)["counts"]["new"] == 1
    assert text.stderr and not any(line.startswith('{"time"') for line in text.stderr.splitlines())
    monkeypatch.setattr("gcs2s3.cli.app.stdout_is_terminal", lambda: True)
    table = cli(*args)
    assert table.code == 0 and "would do" in table.stdout and "x.txt" in table.stdout and "OK" in table.stdout


def test_settings_from_s3(world: World, hook: Hook) -> None:
    world.put("a.txt", b"a")
    body = world.ini().read_text()
    world.s3.put_object(Bucket=world.archive_bucket, Key="config/primary.ini", Body=body.encode())
    url = f"s3://{world.archive_bucket}/config/primary.ini"
    result = cli("sync", "--config", url, "--dev-level", "Stage", "--json")
    assert result.code == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["counts"]["delivered"] == 1
    error, _ = failing_run(world, f"s3://{world.archive_bucket}/config/missing.ini", 2)
    assert f"s3://{world.archive_bucket}/config/missing.ini not found" in error
