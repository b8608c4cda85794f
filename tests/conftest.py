"""Fixtures: real fake-gcs-server and moto processes on 127.0.0.1 for the whole session, fresh buckets
per test, a settings file writer and a CLI runner."""

from __future__ import annotations

import itertools
import json
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from google.cloud import storage
from typer.testing import CliRunner

from gcs2s3.cli.app import app
from gcs2s3.testing.emulators import S3_SERVERS, running_emulators, start_moto

pytest.register_assert_rewrite("gcs2s3.testing.contract")
_counter = itertools.count()


@pytest.fixture(scope="session", params=S3_SERVERS)
def emulators(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """fake-gcs-server plus one S3 server; every storage test runs once against each S3 server."""
    with running_emulators(s3_server=request.param) as env:
        yield {**env, "s3_server": request.param}


AWS_SERVICES = ("SNS", "SQS", "ECS", "SCHEDULER", "IAM", "EVENTS", "CLOUDWATCH", "SECRETS_MANAGER")


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto server for the AWS services other than S3, reached with AWS_ENDPOINT_URL_<SERVICE> (the
    S3 server under test stays where AWS_ENDPOINT_URL points)."""
    server = start_moto(tmp_path_factory.mktemp("moto-aws"))
    env = {f"AWS_ENDPOINT_URL_{name}": server.url for name in AWS_SERVICES}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setenv("AWS_ACCESS_KEY_ID", os.environ.get("AWS_ACCESS_KEY_ID", "emulator"))
        patch.setenv("AWS_SECRET_ACCESS_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", "emulator"))
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield env
    server.stop()


@dataclass
class World:
    """One test's buckets on the emulators, and helpers to fill and inspect them."""

    gcs_bucket: str
    s3_bucket: str
    archive_bucket: str
    tmp: Path

    @property
    def gcs(self) -> storage.Bucket:
        return storage.Client(project="test").bucket(self.gcs_bucket)

    @property
    def s3(self):  # type: ignore[no-untyped-def]
        return boto3.client("s3")

    def put(self, name: str, body: bytes) -> None:
        self.gcs.blob(name).upload_from_string(body)  # the SDK types it text/plain

    def put_untyped(self, name: str, body: bytes) -> None:
        """An object with no Content-Type at all (as an upload without the header leaves it)."""
        url = f"{os.environ['STORAGE_EMULATOR_HOST']}/upload/storage/v1/b/{self.gcs_bucket}/o"
        response = requests.post(url, params={"uploadType": "media", "name": name}, data=body,
                                 headers={"Content-Type": ""}, timeout=30)
        response.raise_for_status()
        assert "contentType" not in response.json()

    def keys(self, bucket: str | None = None, prefix: str = "", bookkeeping: bool = False) -> dict[str, bytes]:
        """Key -> body under `prefix`; gcs2s3's own `.gcs2s3/` objects only with `bookkeeping`."""
        bucket = bucket or self.s3_bucket
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                if bookkeeping or ".gcs2s3/" not in item["Key"]:
                    out[item["Key"]] = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return out

    def ini(self, **overrides: str) -> Path:
        values = {
            "gcs_bucket": self.gcs_bucket,
            "path": "",
            "s3_bucket": self.s3_bucket,
            "s3_prefix": "",
            "archive_bucket": self.archive_bucket,
            "archive_prefix": "archive/",
            "wordpress_modification_for_s3_upload_plugin": "false",
            "gcs_key_file": "",
            "workers": "4",
        }
        values.update(overrides)
        body = "\n".join(f"{k} = {v}" for k, v in values.items())
        path = self.tmp / "primary.ini"
        path.write_text(f"[DEFAULT]\naws_region = us-east-1\n\n[Stage]\n{body}\n", encoding="utf-8")
        return path


@pytest.fixture
def world(emulators: dict[str, str], tmp_path: Path) -> World:
    n = next(_counter)
    w = World(f"src-{n}", f"dst-{n}", f"arc-{n}", tmp_path)
    storage.Client(project="test").create_bucket(w.gcs_bucket)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=w.s3_bucket)
    s3.create_bucket(Bucket=w.archive_bucket)
    return w


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run the real CLI in-process, as `gcs2s3 ARGS...`."""
    result = CliRunner().invoke(app, list(args), env={**os.environ, **(env or {})}, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def error_lines(stderr: str) -> list[str]:
    """The run's final error lines: JSON log lines that carry an exit code (stderr is no terminal in
    tests), as their message; every other line must be JSON too."""
    errors = []
    for line in stderr.splitlines():
        entry = json.loads(line)  # one JSON object per line, nothing else
        if "exit_code" in entry and "message" in entry:
            errors.append(entry["message"])
    return errors


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()


@dataclass(frozen=True)
class Size:
    """A registered image size, as `thumbnail_sizes` lists them."""

    name: str
    width: int
    height: int
    crop: bool = False


WORDPRESS_DEFAULT_SIZES = [
    Size("thumbnail", 150, 150, True), Size("medium", 300, 300), Size("medium_large", 768, 0),
    Size("large", 1024, 1024), Size("1536x1536", 1536, 1536), Size("2048x2048", 2048, 2048),
]


def gradient(width: int, height: int):  # type: ignore[no-untyped-def]
    """A colour gradient (a pyvips image) with a red mark in the top-left corner, to see where it went."""
    import pyvips

    x, y = pyvips.Image.xyz(width, height).bandsplit()
    image = (x * 255 / width).bandjoin([y * 255 / height, (x + y) * 127 / (width + height)]).cast("uchar")
    return image.draw_rect([255, 0, 0], 0, 0, max(1, width // 10), max(1, height // 10), fill=True)


def photo(width: int, height: int, suffix: str = ".jpg", **options: object) -> bytes:
    """`gradient` encoded as `suffix` (".jpg", ".png", ...)."""
    return bytes(gradient(width, height).write_to_buffer(suffix, **options))


# --- test tiers -------------------------------------------------------------------------------------
# A test that uses a server fixture is marked `servers`; `make test-fast` runs the others (pure logic,
# no server, no slow marker): the tier a developer iterates with. `make test` runs everything.
SERVER_FIXTURES = frozenset({"emulators", "world", "aws", "wp"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


# --- nothing outlives the test session ---------------------------------------------------------------
# The servers the tests start (and the CLI processes they run) must all be gone when the session ends,
# whether tests passed or failed: a process left behind fails the session.
LEFTOVER_MARKERS = ("fake-gcs-server", "moto.server", "weed mini", "mariadbd --no-defaults", "php -d upload_max",
                    "-m gcs2s3 sync")
_before: set[int] = set()


def _live_with_markers() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = entry.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and any(marker in command for marker in LEFTOVER_MARKERS):
            found[int(entry.parent.name)] = command.strip()
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    _before.update(_live_with_markers())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import time

    deadline = time.monotonic() + 10
    left = {pid: command for pid, command in _live_with_markers().items() if pid not in _before}
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {pid: command for pid, command in _live_with_markers().items() if pid not in _before}
    if left:
        for pid, command in left.items():
            session.config.get_terminal_writer().line(f"left running by the tests: {pid} {command[:200]}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
