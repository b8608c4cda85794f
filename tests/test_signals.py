"""SIGTERM stops a run even when stderr takes no writes: a full pipe nobody reads (in ECS: the log driver
blocking the container's writes), a pipe whose reader is gone, a closed stderr. The process exits
within the grace period, and the next run repairs everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import World, cli
from proxy import Proxy

GRACE_S = 4
OBJECTS = 220  # each logs JSON lines of ~700 bytes (long names): far more than a 64 KiB pipe holds
FOLDER = "logs/" + "a-rather-long-folder-name/" * 6


def fill(world: World) -> dict[str, bytes]:
    bodies = {f"{FOLDER}object-number-{i:04d}.txt": b"%d" % i for i in range(OBJECTS)}
    for name, body in bodies.items():
        world.put(name, body)
    return bodies


def settled(proxy: Proxy, quiet_s: float = 1.5, limit_s: float = 60) -> bool:
    """Wait until the run has stopped making requests for `quiet_s` (it is blocked on stderr); the
    lease's renewals, which never log, go on."""
    deadline = time.monotonic() + limit_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = proxy.count(lambda method, path: "/.gcs2s3/lease" not in path)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > quiet_s and count > 0:
            return True
        time.sleep(0.1)
    return False


def repaired(world: World, bodies: dict[str, bytes]) -> None:
    time.sleep(3.1)  # the stopped run's lease (lease_ttl_s = 2) expires, if it could not release it
    result = cli("sync", "--config", str(world.ini(lease_ttl_s="2")), "--dev-level", "Stage", "--json")
    assert result.code == 0, result.stderr[-2000:]
    assert cli("verify", "--config", str(world.ini()), "--dev-level", "Stage").code == 0
    assert world.keys() == bodies


def test_sigterm_with_a_full_stderr_pipe_nobody_reads(world: World, emulators: dict[str, str]) -> None:
    bodies = fill(world)
    config = world.ini(stop_grace_s=str(GRACE_S), lease_ttl_s="2")
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        env = {**os.environ, "AWS_ENDPOINT_URL": s3.url}
        process = subprocess.Popen([sys.executable, "-m", "gcs2s3", "sync", "--config", str(config), "--dev-level",
                                    "Stage"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert settled(s3), "the run never stopped making requests"
            assert process.poll() is None, "the run finished: stderr never filled up"
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(GRACE_S + 10)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
            process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == 1 and took < GRACE_S + 5, (process.returncode, took)
    repaired(world, bodies)


@pytest.mark.parametrize("how", ["closed", "reader-gone"])
def test_sigterm_with_stderr_closed_or_broken(world: World, emulators: dict[str, str], how: str) -> None:
    bodies = fill(world)
    config = world.ini(stop_grace_s=str(GRACE_S), lease_ttl_s="2")
    command = [sys.executable, "-m", "gcs2s3", "sync", "--config", str(config), "--dev-level", "Stage", "--json"]
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        held = []

        def trap(method: str, path: str, phase: str) -> bool:
            if not held and method == "PUT" and "/logs/" in path and phase == "request":
                held.append(path)
                return True
            return False

        s3.trap = trap
        env = {**os.environ, "AWS_ENDPOINT_URL": s3.url}
        if how == "closed":
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       preexec_fn=lambda: os.close(2))
        else:
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            process.stderr.close()  # type: ignore[union-attr]  # every write now fails with EPIPE
        try:
            assert s3.trapped.wait(60)
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            s3.released.set()
            out, _ = process.communicate(timeout=GRACE_S + 10)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 1 and took < GRACE_S + 5, (process.returncode, took)
    report = json.loads(out)
    assert report["stopped_by"] == "SIGTERM" and report["counts"]["not_started"] > 0
    repaired(world, bodies)


def test_the_watchdog_ends_a_hung_run_and_says_so_in_json(world: World, emulators: dict[str, str]) -> None:
    world.put("hung.txt", b"never answered")
    config = world.ini(stop_grace_s="2", lease_ttl_s="2")
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        s3.trap = lambda method, path, phase: method == "PUT" and "hung" in path and phase == "request"
        process = subprocess.Popen([sys.executable, "-m", "gcs2s3", "sync", "--config", str(config), "--dev-level",
                                    "Stage"], env={**os.environ, "AWS_ENDPOINT_URL": s3.url},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert s3.trapped.wait(60)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)  # the PUT is never answered: only the watchdog ends it
        finally:
            s3.cut_off = True
            s3.released.set()
    assert process.returncode == 1
    entries = [json.loads(line) for line in err.decode().splitlines()]  # every line is JSON
    assert "still busy 2 s after SIGTERM" in entries[-1]["message"] and entries[-1]["exit_code"] == 1
