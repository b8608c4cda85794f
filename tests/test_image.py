"""The container image, built from the Dockerfile with Debian's podman and run as ECS Fargate runs it:
settings from S3 (`GCS2S3_CONFIG=s3://…`) and the level from `DevLevel`, the GCS key as a secret in
the environment, a read-only root filesystem with a tmpfs for temporary files, the image's own
non-root user, SIGTERM from `stop --time 30`; against the emulators on 127.0.0.1 (host network).

Needs root and `podman buildah mmdebstrap runc` (scripts/install_system_packages.sh installs them);
skipped without, except under CI=true, where that fails."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import World, cli, photo
from proxy import Proxy

ROOT = Path(__file__).resolve().parent.parent
TAG = "localhost/gcs2s3:test"
IMAGE_BUDGET_MB = 340  # the image's size as podman reports it; raise it on purpose, with a reason
MIB = 2**20
pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    lacking = [tool for tool in ("podman", "buildah", "mmdebstrap", "runc") if shutil.which(tool) is None]
    return f"missing {' '.join(lacking)} (apt-get install podman buildah mmdebstrap runc)" if lacking else None


@pytest.fixture(scope="session")
def image() -> str:
    why = _missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the image test cannot run under CI: {why}")
        pytest.skip(why)
    built = subprocess.run(["bash", str(ROOT / "scripts" / "build_image.sh"), TAG], capture_output=True, text=True,
                           timeout=900, check=False)
    assert built.returncode == 0, built.stderr[-4000:]
    return TAG


def run_args(name: str | None = None) -> list[str]:
    """`podman run` as ECS runs the task: read-only root, a tmpfs for /tmp, the host's network."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    files = min(hard if hard != resource.RLIM_INFINITY else 65536, 65536)
    args = ["podman", "run", "--rm", "--runtime", "runc", "--network", "host", "--read-only",
            "--tmpfs", "/tmp:rw,size=512m,mode=1777", "--ulimit", f"nofile={files}:{files}",
            "--ulimit", "nproc=32768:32768"]
    return [*args, "--name", name] if name else args


def service_account_key() -> str:
    """A service-account key in Google's JSON format, with a real RSA key (google-auth parses it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "test", "private_key_id": "k1",
                       "private_key": pem, "client_email": "gcs2s3@test.iam.gserviceaccount.com",
                       "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"})


KEY_JSON = service_account_key()


def ecs_env(world: World, s3_url: str | None = None, config_key: str = "config/primary.ini") -> list[str]:
    env = {
        "DevLevel": "Stage",
        "GCS2S3_CONFIG": f"s3://{world.archive_bucket}/{config_key}",
        "GCS2S3_GCS_KEY_JSON": KEY_JSON,  # as ECS passes a Secrets Manager secret
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        "AWS_ENDPOINT_URL": s3_url or os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator", "AWS_DEFAULT_REGION": "us-east-1",
    }
    return [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]


def upload_settings(world: World, key: str = "config/primary.ini", **ini: str) -> None:
    # The settings file as `aws s3 cp` leaves it: no secret in it, the level from DevLevel.
    body = world.ini(**ini).read_bytes()
    world.s3.put_object(Bucket=world.archive_bucket, Key=key, Body=body)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]  # every line JSON, nothing else


def open_uploads(world: World) -> int:
    return sum(len(world.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", ()))
               for bucket in (world.s3_bucket, world.archive_bucket))


BIG = os.urandom(12 * MIB)  # three parts of 5 MiB
SETTINGS = {"multipart_threshold_mb": "5", "part_size_mb": "5", "thumbnails": "true",
            "thumbnail_sizes": "thumbnail:150x150:crop, medium:300x300", "thumbnail_workers": "2"}


def fill(world: World) -> None:
    world.put("exports/big.bin", BIG)
    world.put("exports/report.csv", b"a,b\n1,2\n")
    world.put("images/photo.jpg", photo(640, 480))


def test_version_names_the_build(image: str) -> None:
    result = subprocess.run([*run_args(), image, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert result.stdout.strip() == f"gcs2s3 0.1.0+{commit.replace('-', '.')}"


def test_image_size_within_budget(image: str) -> None:
    size = int(subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", image], capture_output=True,
                              text=True, check=True).stdout.strip())
    assert size <= IMAGE_BUDGET_MB * 10**6, f"the image is {size / 10**6:.0f} MB, over its budget"


def test_a_whole_sync_as_ecs_runs_it_then_a_list_only_rerun(image: str, world: World) -> None:
    fill(world)
    upload_settings(world, **SETTINGS)
    first = subprocess.run([*run_args(), *ecs_env(world), image], capture_output=True, text=True, timeout=300,
                           check=False)
    assert first.returncode == 0, first.stderr[-4000:]
    (report,) = json_lines(first.stdout)  # the report, as one JSON line: stdout is no terminal
    assert report["counts"]["new"] == 3 and report["counts"]["failed"] == 0
    logs = json_lines(first.stderr)
    assert all(entry.get("dev_level", "Stage") == "Stage" for entry in logs)
    assert KEY_JSON.split("\\n")[1] not in first.stdout + first.stderr  # no part of the secret
    keys = world.keys()
    assert keys["exports/big.bin"] == BIG
    assert {"images/photo-150x150.jpg", "images/photo-300x225.jpg"} <= set(keys)  # libvips inside the image
    again = subprocess.run([*run_args(), *ecs_env(world), image], capture_output=True, text=True, timeout=300,
                           check=False)
    assert again.returncode == 0, again.stderr[-4000:]
    (report,) = json_lines(again.stdout)
    assert report["counts"]["unchanged"] == 3 and report["counts"]["new"] == 0 and report["bytes"]["copied"] == 0


def test_a_failing_run_exits_2_with_a_json_error_and_run_failed(image: str, world: World) -> None:
    upload_settings(world, s3_bucket="no-such-bucket-here")
    result = subprocess.run([*run_args(), *ecs_env(world), image], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    logs = json_lines(result.stderr)
    (error,) = [entry for entry in logs if "exit_code" in entry and "message" in entry]
    assert error["exit_code"] == 2 and "no-such-bucket-here" in error["message"]
    (metrics,) = [entry for entry in logs if "_aws" in entry]
    assert metrics["RunFailed"] == 1 and metrics["DevLevel"] == "Stage"


def test_sigterm_during_a_multipart_upload_stops_within_the_grace_period(image: str, world: World,
                                                                         emulators: dict[str, str]) -> None:
    fill(world)
    upload_settings(world, **SETTINGS, lease_ttl_s="5")
    name = f"gcs2s3-test-{uuid.uuid4().hex[:8]}"
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        # hold the archive entry's second part: the run is inside a multipart upload when ECS stops it
        s3.trap = lambda method, path, phase: (method == "PUT" and "partNumber=2" in path and phase == "request")
        process = subprocess.Popen([*run_args(name), *ecs_env(world, s3.url), image], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            assert s3.trapped.wait(120), "the run never reached the second part"
            pid1 = subprocess.run(["podman", "exec", name, "cat", "/proc/1/comm"], capture_output=True, text=True,
                                  check=True).stdout.strip()
            assert pid1 == "tini"  # an init as PID 1 reaps what loses its parent
            sent = time.monotonic()
            stopping = threading.Thread(target=subprocess.run, args=(["podman", "stop", "--time", "30", name],),
                                        kwargs={"capture_output": True, "check": False})
            stopping.start()
            time.sleep(1.0)
            s3.released.set()  # the part in flight finishes; no new part starts
            out, err = process.communicate(timeout=60)
            took = time.monotonic() - sent
            stopping.join(60)
        finally:
            s3.released.set()
            if process.poll() is None:
                subprocess.run(["podman", "kill", name], capture_output=True, check=False)
                process.kill()
    assert process.returncode == 1 and took < 30, (process.returncode, took, err[-3000:])
    (report,) = json_lines(out)
    assert report["stopped_by"] == "SIGTERM"
    assert any(entry.get("_aws") and entry["RunFailed"] == 1 for entry in json_lines(err))
    time.sleep(5.5)  # the lease the stopped run released (or, if not, its ttl) is gone
    rerun = subprocess.run([*run_args(), *ecs_env(world), image], capture_output=True, text=True, timeout=300,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert world.keys()["exports/big.bin"] == BIG
    assert cli("verify", "--config", str(world.ini(**SETTINGS)), "--dev-level", "Stage").code == 0
    assert open_uploads(world) == 0


@pytest.fixture(autouse=True)
def _no_container_left() -> Iterator[None]:
    yield
    if shutil.which("podman"):
        left = subprocess.run(["podman", "ps", "-q", "--filter", "name=gcs2s3-test-"], capture_output=True, text=True,
                              check=False).stdout.split()
        for container in left:
            subprocess.run(["podman", "rm", "-f", container], capture_output=True, check=False)
        assert not left, f"containers left running: {left}"
