"""One run at a time per primary target: the lease.

Two runs on the same targets: one delivers, the other writes and aborts nothing and exits 0 as
skipped; a multipart upload in progress is never aborted by a second run; a killed holder is taken
over once its lease is older than the TTL, by exactly one of several takers; shards do not block each
other; a run past `max_run_s` stops itself, and a run that finds a lease held for longer notifies;
a run that loses its lease stops.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import boto3
import pytest
from conftest import World, cli
from proxy import Proxy
from test_crash import MULTIPART, once, open_uploads, start_sync
from test_production import Hook

from gcs2s3.core.errors import PreconditionFailedError
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.models import PutMode, PutOptions
from gcs2s3.run.lease import Lease, lease_key
from gcs2s3.stores.s3 import S3Target

BIG = bytes(range(256)) * (11 * 4096)  # 11 MiB: three parts
INI = MULTIPART  # small parts, two workers, a 2 s lease TTL
start = start_sync


def held_at(proxy: Proxy, predicate) -> None:  # type: ignore[no-untyped-def]
    """Hold the first request (before it is forwarded) that `predicate(method, path)` picks."""
    proxy.trap = once(lambda method, path, phase, _: phase == "request" and predicate(method, path), None)  # type: ignore[arg-type]


def second_run(world: World, emulators: dict[str, str], *extra: str, **ini: str) -> tuple[dict, list[tuple[str, str]]]:
    """A run beside the held one, through a proxy of its own: its report and every S3 request it made."""
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as mine:
        result = cli("sync", "--config", str(world.ini(**{**INI, **ini})), "--dev-level", "Stage", "--json",
                     *extra, env={"AWS_ENDPOINT_URL": mine.url})
        assert result.code == 0, result.stderr[-2000:]
        return json.loads(result.stdout), list(mine.requests)


def finish(process: subprocess.Popen[bytes], proxy: Proxy) -> dict:
    proxy.released.set()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()[-2000:]
    return json.loads(out)


def test_a_second_run_skips_and_never_aborts_the_upload_in_progress(world: World, emulators: dict[str, str]) -> None:
    world.put("big.bin", BIG)
    world.put("small.txt", b"small")
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        held_at(s3, lambda m, p: "partNumber=2" in p)  # the first run has a multipart upload open
        first = start(world, {"AWS_ENDPOINT_URL": s3.url})
        try:
            assert s3.trapped.wait(60), first.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert open_uploads(world) == 1
            report, requests = second_run(world, emulators)
            assert report["skipped"] is True and report["exit_code"] == 0
            holder = report["lease"]
            assert holder["run_id"] and holder["run_id"] != report["run_id"] and holder["host"]
            # It wrote nothing and aborted nothing: besides the one-key listing that checks S3 can be
            # reached, its only requests were on the lease.
            reach, *leased = requests
            assert reach[0] == "GET" and "list-type=2" in reach[1] and "max-keys=1&" in reach[1] + "&", requests
            assert leased and all("/.gcs2s3/lease" in path for _, path in leased), requests
            assert [m for m, _ in leased] == ["PUT", "GET"]
            assert open_uploads(world) == 1
        finally:
            s3.released.set()
        done = finish(first, s3)
    assert done["counts"]["delivered"] == 2 and done["counts"]["aborted_stale_uploads"] == 0
    assert world.keys() == {"big.bin": BIG, "small.txt": b"small"} and open_uploads(world) == 0
    assert not world.keys(prefix=".gcs2s3/lease", bookkeeping=True)  # released


def test_a_killed_holder_is_taken_over_once_its_lease_expires(world: World, emulators: dict[str, str]) -> None:
    world.put("big.bin", BIG)
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        held_at(s3, lambda m, p: "partNumber=2" in p)
        first = start(world, {"AWS_ENDPOINT_URL": s3.url})
        try:
            assert s3.trapped.wait(60)
            first.kill()
            first.wait(30)
        finally:
            s3.cut_off = True
            s3.released.set()
    report, _ = second_run(world, emulators)
    assert report.get("skipped") is True  # the dead run's lease is still young
    time.sleep(3.1)  # older than lease_ttl_s = 2 now
    result = cli("sync", "--config", str(world.ini(**INI)), "--dev-level", "Stage", "--json")
    report = json.loads(result.stdout)
    assert result.code == 0 and not report.get("skipped") and report["counts"]["aborted_stale_uploads"] == 1
    assert "took over the lease" in result.stderr
    assert world.keys() == {"big.bin": BIG} and open_uploads(world) == 0


@pytest.mark.parametrize("expired", [False, True])
def test_of_several_takers_exactly_one_wins(world: World, expired: bool) -> None:
    """Run ids taking one lease at the same instant (fresh, or over an expired one): conditional
    writes let exactly one of them win, on each S3 server."""
    target = S3Target(world.s3_bucket)
    key = lease_key("")
    if expired:
        old = Lease(target, key, ttl_s=2, run_id="dead-run", version="0", on_lost=lambda: None)
        assert old.acquire() is None
        time.sleep(3.1)
    leases = [Lease(target, key, ttl_s=60, run_id=f"taker-{i}", version="0", on_lost=lambda: None)
              for i in range(6)]
    barrier = threading.Barrier(len(leases))
    results: list[object] = [None] * len(leases)

    def take(i: int) -> None:
        barrier.wait()
        results[i] = leases[i].acquire()

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(leases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [lease for lease, busy in zip(leases, results, strict=True) if busy is None]
    assert len(winners) == 1
    stored = json.loads(boto3.client("s3").get_object(Bucket=world.s3_bucket, Key=key)["Body"].read())
    assert stored["run_id"] == winners[0].holder.run_id
    hasher = BodyHasher()
    hasher.update(b"x")
    with pytest.raises(PreconditionFailedError):  # nobody overwrites it by accident either
        target.put(key, b"x", PutOptions(mode=PutMode.create(), crc32c=hasher.crc32c, md5_b64=hasher.md5_b64))
    winners[0].release()
    assert not world.keys(prefix=".gcs2s3/lease", bookkeeping=True)


def test_shards_do_not_block_each_other(world: World, emulators: dict[str, str]) -> None:
    names = [f"f{i}.txt" for i in range(12)]
    for name in names:
        world.put(name, name.encode())
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs:
        held_at(gcs, lambda m, p: "alt=media" in p)
        first = start(world, {"STORAGE_EMULATOR_HOST": gcs.url}, "--shard", "0/2")
        try:
            assert gcs.trapped.wait(60)
            report, _ = second_run(world, emulators, "--shard", "1/2")
            assert not report.get("skipped") and report["counts"]["delivered"] >= 1
            report, _ = second_run(world, emulators, "--shard", "0/2")
            assert report.get("skipped") is True  # the same shard is held
        finally:
            gcs.released.set()
        finish(first, gcs)
    assert set(world.keys()) == set(names)


def test_a_run_past_max_run_s_stops_itself_and_a_stuck_holder_is_notified(
    world: World, emulators: dict[str, str]
) -> None:
    for i in range(6):
        world.put(f"q/{i}.txt", b"queued %d" % i)
    hook = Hook()
    try:
        with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
            held_at(s3, lambda m, p: m == "PUT" and "/q/" in p)
            stuck = start(world, {"AWS_ENDPOINT_URL": s3.url}, lease_ttl_s="60")  # no max_run_s: stays stuck
            try:
                assert s3.trapped.wait(60)
                time.sleep(2.2)
                report, _ = second_run(world, emulators, max_run_s="2", lease_ttl_s="60",
                                       notify_webhook_url=hook.url)
                assert report["skipped"] is True and report["lease"]["held_for_s"] >= 2
                (alert,) = hook.bodies
                assert "longer than max_run_s" in alert["text"] and alert["exit_code"] == 0
            finally:
                s3.released.set()
            stuck.communicate(timeout=120)
            held_at(s3, lambda m, p: m == "PUT" and "/q/" in p)  # once more: this time the run has a limit
            s3.trapped.clear()
            s3.released.clear()
            world.put("q/new.txt", b"new")
            limited = start(world, {"AWS_ENDPOINT_URL": s3.url}, max_run_s="1", stop_grace_s="20")
            assert s3.trapped.wait(60)
            time.sleep(1.5)
            s3.released.set()
            out, err = limited.communicate(timeout=60)
    finally:
        hook.close()
    assert limited.returncode == 1, err.decode()[-2000:]
    report = json.loads(out)
    assert report["stopped_by"] == "max_run_s"


def test_a_run_that_loses_its_lease_stops(world: World, emulators: dict[str, str]) -> None:
    for i in range(4):
        world.put(f"l/{i}.txt", b"%d" % i)
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        held_at(s3, lambda m, p: m == "PUT" and "/l/" in p)
        process = start(world, {"AWS_ENDPOINT_URL": s3.url}, lease_ttl_s="5")
        try:
            assert s3.trapped.wait(60)
            intruder = json.dumps({"run_id": "intruder", "host": "elsewhere", "started": "2026-01-01T00:00:00+00:00",
                                   "version": "0", "ttl_s": 5, "format": 1}).encode()
            boto3.client("s3").put_object(Bucket=world.s3_bucket, Key=lease_key(""), Body=intruder)
            time.sleep(2.5)  # the holder renews every second: its next renewal finds another ETag
        finally:
            s3.released.set()
        out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err.decode()[-2000:]
    assert json.loads(out)["stopped_by"] == "lease lost" and "lost the lease" in err.decode()
    stored = json.loads(boto3.client("s3").get_object(Bucket=world.s3_bucket, Key=lease_key(""))["Body"].read())
    assert stored["run_id"] == "intruder"  # the loser never deletes a lease that is not its own


def test_dry_runs_and_verify_take_no_lease(world: World, emulators: dict[str, str]) -> None:
    world.put("a.txt", b"a")
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        env = {"AWS_ENDPOINT_URL": s3.url}
        assert cli("plan", "--config", str(world.ini(**INI)), "--dev-level", "Stage", env=env).code == 0
        assert cli("verify", "--config", str(world.ini(**INI)), "--dev-level", "Stage", env=env).code == 1
        assert not [p for _, p in s3.requests if "/.gcs2s3/lease" in p]
