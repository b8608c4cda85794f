"""Bad input: every case is exit 2 with one line on stderr saying what to fix, no traceback, no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import World, cli, error_lines
from proxy import Proxy

SECRET = "SUPERSECRETKEYMATERIAL"


def refused(world: World, config: Path, level: str | None = "Stage", env: dict[str, str] | None = None) -> str:
    args = ["sync", "--config", str(config)] + (["--dev-level", level] if level else [])
    result = cli(*args, env=env)
    assert result.code == 2, (result.stdout, result.stderr)
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and errors[0].startswith("gcs2s3: error:"), result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout
    return errors[0]


def assert_nothing_written(world: World) -> None:
    assert world.keys() == {} and world.keys(world.archive_bucket) == {}


def test_settings_errors(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.put("a.txt", b"a")
    assert "not found" in refused(world, world.tmp / "missing.ini")
    assert "no [Prod] section" in refused(world, world.ini(), "Prod")
    monkeypatch.delenv("DevLevel", raising=False)
    assert "DevLevel" in refused(world, world.ini(), None)
    assert "thumbnale: unknown key" in refused(world, world.ini(thumbnale="true"))
    assert "must not start with '/'" in refused(world, world.ini(path="/exports/"))
    assert "overlaps" in refused(world, world.ini(archive_bucket=world.s3_bucket, archive_prefix=""))
    assert_nothing_written(world)


def test_key_file_errors_never_print_the_key(world: World) -> None:
    world.put("a.txt", b"a")
    (world.tmp / "key").mkdir()
    assert "cannot be read" in refused(world, world.ini(gcs_key_file="key"))
    bad = world.tmp / "sa.json"
    bad.write_text(json.dumps({"type": "service_account", "private_key": SECRET, "client_email": "x@y"}))
    assert "not a service-account key" in refused(world, world.ini(gcs_key_file="sa.json"))
    bad.write_text("{not json " + SECRET)
    assert "not a service-account key" in refused(world, world.ini(gcs_key_file="sa.json"))
    assert "not found" in refused(world, world.ini(gcs_key_file="nope.json"))
    assert_nothing_written(world)


def test_buckets_not_found(world: World) -> None:
    world.put("a.txt", b"a")
    assert "gcs_bucket" in refused(world, world.ini(gcs_bucket="no-such-source"))
    assert "s3_bucket" in refused(world, world.ini(s3_bucket="no-such-target"))
    assert "archive_bucket" in refused(world, world.ini(archive_bucket="no-such-archive"))
    assert_nothing_written(world)


@pytest.mark.parametrize("side", ["gcs", "s3"])
def test_access_denied(world: World, emulators: dict[str, str], side: str) -> None:
    world.put("a.txt", b"a")
    variable = "STORAGE_EMULATOR_HOST" if side == "gcs" else "AWS_ENDPOINT_URL"
    with Proxy(emulators[variable]) as proxy:
        proxy.fault = lambda method, path: 403
        line = refused(world, world.ini(), env={variable: proxy.url})
    assert "access denied" in line
    assert_nothing_written(world)


def test_a_key_from_the_environment_is_checked_and_never_printed(world: World) -> None:
    world.put("a.txt", b"a")
    env = {"GCS2S3_GCS_KEY_JSON": json.dumps({"type": "service_account", "private_key": SECRET, "client_email": "x"})}
    assert "GCS2S3_GCS_KEY_JSON is not a service-account key" in refused(world, world.ini(), env=env)
    assert_nothing_written(world)
