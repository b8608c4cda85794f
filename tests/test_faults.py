"""Server faults mid-run: transient errors are retried; what still fails is listed, exit 1, and
nothing partial is left in either target."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
from conftest import World, cli
from proxy import Proxy

FAST_RETRIES = {"AWS_MAX_ATTEMPTS": "2"}


def once_each(predicate: Callable[[str, str], bool], status: int) -> Callable[[str, str], int | None]:
    """Fail the first matching request for each path, then let it through."""
    seen: set[str] = set()

    def fault(method: str, path: str) -> int | None:
        if predicate(method, path) and path not in seen:
            seen.add(path)
            return status
        return None

    return fault


def run(world: World, env: dict[str, str], **ini: str) -> tuple[int, dict]:
    result = cli("sync", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--json", env=env)
    return result.code, json.loads(result.stdout)


def no_open_uploads(world: World) -> bool:
    s3 = boto3.client("s3")
    buckets = (world.s3_bucket, world.archive_bucket)
    return all(not s3.list_multipart_uploads(Bucket=bucket).get("Uploads") for bucket in buckets)


def test_transient_s3_errors_are_retried(world: World, emulators: dict[str, str]) -> None:
    for i in range(5):
        world.put(f"f{i}.txt", b"data %d" % i)
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        s3.fault = once_each(lambda method, path: method == "PUT", 500)
        code, report = run(world, {"AWS_ENDPOINT_URL": s3.url, **FAST_RETRIES})
    assert code == 0, report
    assert report["counts"]["delivered"] == 5
    assert cli("verify", "--config", str(world.ini()), "--dev-level", "Stage").code == 0


def test_transient_gcs_errors_are_retried(world: World, emulators: dict[str, str]) -> None:
    world.put("g.txt", b"gcs")
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs:
        gcs.fault = once_each(lambda method, path: "alt=media" in path, 503)
        code, report = run(world, {"STORAGE_EMULATOR_HOST": gcs.url})
        assert gcs.count(lambda method, path: "alt=media" in path) == 2
    assert code == 0, report


def test_a_persistent_failure_fails_one_object_and_leaves_nothing_partial(
    world: World, emulators: dict[str, str]
) -> None:
    world.put("good.txt", b"good")
    world.put("bad.txt", b"bad")
    world.put("big-bad.bin", b"z" * (6 * 1024 * 1024))
    ini = {"multipart_threshold_mb": "1", "part_size_mb": "5"}
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        # every attempt to write bad.txt fails; the big one fails on its second part, every time
        def fault(method: str, path: str) -> int | None:
            return 500 if method == "PUT" and ("/archive/bad." in path or "partNumber=2" in path) else None

        s3.fault = fault
        code, report = run(world, {"AWS_ENDPOINT_URL": s3.url, **FAST_RETRIES}, **ini)
    assert code == 1
    assert sorted(f["key"] for f in report["failures"]) == ["bad.txt", "big-bad.bin"]
    assert report["counts"]["delivered"] == 1
    assert set(world.keys()) == {"good.txt"}
    assert [k for k in world.keys(world.archive_bucket) if "bad" in k] == []
    assert no_open_uploads(world)
    # the next run (servers healthy again) finishes the job
    code, report = run(world, {}, **ini)
    assert code == 0 and report["counts"]["new"] == 2


def test_slowdown_and_dropped_connections_on_both_sides_are_retried(world: World, emulators: dict[str, str]) -> None:
    for i in range(3):
        world.put(f"d{i}/f.txt", b"data %d" % i)
    world.put("big.bin", b"b" * (6 * 1024 * 1024))
    ini = {"multipart_threshold_mb": "1", "part_size_mb": "5"}
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs, Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        listed: set[str] = set()

        def drop_first_listing(method: str, path: str) -> bool:
            listing = "list-type=2" in path or ("/o?" in path and "alt=media" not in path)
            if listing and path not in listed:
                listed.add(path)
                return True
            return False

        gcs.drop_mid_body = s3.drop_mid_body = drop_first_listing
        s3.fault = once_each(lambda method, path: "partNumber=" in path, 503)  # SlowDown
        code, report = run(world, {"STORAGE_EMULATOR_HOST": gcs.url, "AWS_ENDPOINT_URL": s3.url}, **ini)
        slowed = s3.count(lambda method, path: "partNumber=" in path)
    assert code == 0 and report["counts"]["delivered"] == 4, report
    assert any("list-type=2" in p for p in listed) and any("/o?" in p for p in listed)
    assert slowed == 4  # two parts, each refused once with SlowDown, then accepted
    assert no_open_uploads(world)
    assert cli("verify", "--config", str(world.ini(**ini)), "--dev-level", "Stage").code == 0
