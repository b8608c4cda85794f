"""Crash safety: `gcs2s3 sync` killed with SIGKILL at many moments leaves only whole objects in the
primary target, and the next run repairs everything (exit 0, verify clean, one archive entry per
version, no multipart upload left open). SIGTERM stops the run cleanly within ECS's 30 s.

Each moment is a request the test proxy holds (before forwarding it, or after the server has done
it but before the client hears back) while the test kills the real CLI process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import boto3
import pytest
from conftest import World, cli
from proxy import Proxy

# A killed run leaves its lease behind: the next run takes it over once it is older than its TTL.
MULTIPART = {"multipart_threshold_mb": "1", "part_size_mb": "5", "workers": "2", "lease_ttl_s": "2"}
LEASE_EXPIRY_S = 3.1
BIG = bytes(range(256)) * (11 * 4096)  # 11 MiB: three parts
Trap = Callable[[str, str, str, World], bool]


def is_listing(method: str, path: str) -> bool:
    return "list-type=2" in path or ("/o?" in path and "alt=media" not in path)


def archive_write(method: str, path: str, world: World) -> bool:
    return method in ("PUT", "POST") and path.startswith(f"/{world.archive_bucket}/")


# name -> (which proxy, when to hold, extra CLI arguments)
MOMENTS: dict[str, tuple[str, Trap, tuple[str, ...]]] = {
    "gcs-listing": ("gcs", lambda m, p, phase, w: is_listing(m, p) and phase == "response", ()),
    "s3-listing": ("s3", lambda m, p, phase, w: is_listing(m, p) and phase == "request", ()),
    "lease-taken": ("s3", lambda m, p, phase, w: ".gcs2s3/lease" in p and phase == "response", ()),
    "state-read": ("s3", lambda m, p, phase, w: ".gcs2s3/state" in p and phase == "request", ()),
    "gcs-body-read": ("gcs", lambda m, p, phase, w: "alt=media" in p and phase == "response", ()),
    "single-put-sent": ("s3", lambda m, p, phase, w: archive_write(m, p, w) and "small" in p and phase == "request",
                        ()),
    "single-put-landed": ("s3", lambda m, p, phase, w: archive_write(m, p, w) and "small" in p
                          and phase == "response", ()),
    "multipart-begun": ("s3", lambda m, p, phase, w: m == "POST" and p.endswith("?uploads") and phase == "response",
                        ()),
    "mid-multipart": ("s3", lambda m, p, phase, w: "partNumber=2" in p and phase == "request", ()),
    "complete-sent": ("s3", lambda m, p, phase, w: m == "POST" and "uploadId=" in p and phase == "request", ()),
    "complete-landed": ("s3", lambda m, p, phase, w: m == "POST" and "uploadId=" in p and phase == "response", ()),
    "copy-to-primary-sent": ("s3", lambda m, p, phase, w: m == "PUT" and p.startswith(f"/{w.s3_bucket}/")
                             and ".gcs2s3/" not in p and phase == "request", ()),
    "copy-to-primary-landed": ("s3", lambda m, p, phase, w: m == "PUT" and p.startswith(f"/{w.s3_bucket}/")
                               and ".gcs2s3/" not in p and phase == "response", ()),
    "deep-verify-read": ("s3", lambda m, p, phase, w: m == "GET" and p.startswith(f"/{w.s3_bucket}/")
                         and not is_listing(m, p) and ".gcs2s3/" not in p and phase == "request",
                         ("--deep-verify",)),
}


def versions(world: World) -> dict[str, list[bytes]]:
    """Sync a first state, then change it; returns key -> acceptable bodies (old version first)."""
    world.put("changed.txt", b"old version\n")
    world.put("stays.txt", b"stays\n")
    assert cli("sync", "--config", str(world.ini(**MULTIPART)), "--dev-level", "Stage").code == 0
    time.sleep(1.1)  # the new version gets its own archive second
    world.put("changed.txt", b"new version\n")
    world.put("new/small.txt", b"small and new\n")
    world.put("new/big.bin", BIG)
    return {
        "changed.txt": [b"old version\n", b"new version\n"],
        "stays.txt": [b"stays\n"],
        "new/small.txt": [b"small and new\n"],
        "new/big.bin": [BIG],
    }


def start_sync(world: World, env: dict[str, str], *extra: str, **ini: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gcs2s3", "sync", "--config", str(world.ini(**{**MULTIPART, **ini})),
               "--dev-level", "Stage", "--json", *extra]
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def once(trap: Trap, world: World) -> Callable[[str, str, str], bool]:
    fired = False

    def hold(method: str, path: str, phase: str) -> bool:
        nonlocal fired
        if not fired and trap(method, path, phase, world):
            fired = True
            return True
        return False

    return hold


def kill_when_trapped(proxy: Proxy, process: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the run once the proxy holds the trapped request; then drop that request. False if the
    run never got there."""
    try:
        reached = proxy.trapped.wait(60)
        process.kill()
        process.wait(30)
    finally:
        proxy.cut_off = True
        proxy.released.set()
    return reached


def assert_whole(world: World, acceptable: dict[str, list[bytes]]) -> None:
    for key, body in world.keys().items():
        if ".gcs2s3/" not in key:
            assert body in acceptable[key], f"{key} holds something that is no version of its source"


def open_uploads(world: World) -> int:
    s3 = boto3.client("s3")
    return sum(len(s3.list_multipart_uploads(Bucket=b).get("Uploads", ())) for b in (world.s3_bucket,
                                                                                      world.archive_bucket))


def assert_repaired(world: World, acceptable: dict[str, list[bytes]]) -> None:
    left_open = open_uploads(world)
    time.sleep(LEASE_EXPIRY_S)  # a killed run's lease blocks the targets until it expires
    rerun = cli("sync", "--config", str(world.ini(**MULTIPART)), "--dev-level", "Stage", "--json")
    assert rerun.code == 0, rerun.stdout
    assert json.loads(rerun.stdout)["counts"]["aborted_stale_uploads"] == left_open
    assert cli("verify", "--config", str(world.ini(**MULTIPART)), "--dev-level", "Stage").code == 0
    primary = {k: v for k, v in world.keys().items() if ".gcs2s3/" not in k}
    assert primary == {key: bodies[-1] for key, bodies in acceptable.items()}
    archived = Counter(world.keys(world.archive_bucket).values())
    every_version = [body for bodies in acceptable.values() for body in bodies]
    assert archived == Counter(every_version), "each delivered version has exactly one archive entry"
    assert open_uploads(world) == 0, "an upload was left open"


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigkill_at_any_moment_leaves_only_whole_objects(world: World, emulators: dict[str, str], moment: str) -> None:
    acceptable = versions(world)
    side, trap, extra = MOMENTS[moment]
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs, Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        proxy = gcs if side == "gcs" else s3
        proxy.trap = once(trap, world)
        process = start_sync(world, {"STORAGE_EMULATOR_HOST": gcs.url, "AWS_ENDPOINT_URL": s3.url}, *extra)
        reached = kill_when_trapped(proxy, process)
        assert reached, f"the run never reached {moment}: {process.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
        assert process.returncode == -signal.SIGKILL
    assert_whole(world, acceptable)
    if moment in ("multipart-begun", "mid-multipart", "complete-sent"):
        assert open_uploads(world) == 1  # what the next run must abort
    assert_repaired(world, acceptable)


def test_sigterm_stops_cleanly_within_the_ecs_grace_period(world: World, emulators: dict[str, str]) -> None:
    acceptable = versions(world)
    huge = bytes(range(256)) * (26 * 4096)  # 26 MiB: six parts, at most two in memory (10 MiB budget)
    world.put("new/huge.bin", huge)
    acceptable["new/huge.bin"] = [huge]
    for i in range(8):  # queued behind the workers: never started after SIGTERM
        world.put(f"queue/{i}.txt", b"queued %d" % i)
        acceptable[f"queue/{i}.txt"] = [b"queued %d" % i]
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        s3.trap = once(lambda m, p, phase, w: "huge" in p and "partNumber=2" in p and phase == "request", world)
        process = start_sync(world, {"AWS_ENDPOINT_URL": s3.url}, max_buffer_mb="10")
        try:
            assert s3.trapped.wait(60), process.stderr.read().decode()[-2000:]
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
        finally:
            s3.released.set()  # the part in flight goes through; the upload then stops between parts
        out, err = process.communicate(timeout=60)
        took = time.monotonic() - stopped_at
    assert process.returncode == 1, err.decode()[-2000:]
    assert took < 30
    report = json.loads(out)
    assert report["stopped_by"] == "SIGTERM" and report["counts"]["not_started"] >= 1
    failures = {f["key"]: f["reason"] for f in report["failures"]}
    assert "SIGTERM" in failures["new/huge.bin"]  # stopped between parts, its upload aborted
    assert open_uploads(world) == 0  # aborted by the stopped run itself
    assert_whole(world, acceptable)
    assert_repaired(world, acceptable)
