"""End-to-end integrity: a GCS download with one flipped byte, a truncated one or a connection dropped
mid-body, and an S3 upload corrupted on the way, never land in either target. A fault that happens
once is retried; one that persists fails that object (exit 1) and leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
import pytest
from conftest import World, cli
from proxy import Proxy

MULTIPART = {"multipart_threshold_mb": "1", "part_size_mb": "5"}
SMALL = b"small object body\n" * 10
BIG = bytes(range(256)) * (8 * 4096)  # 8 MiB: two parts of 5 MiB


def flip(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]


def truncate(body: bytes) -> bytes:
    return body[: len(body) - 7]


def sync(world: World, env: dict[str, str]) -> tuple[int, dict]:
    result = cli("sync", "--config", str(world.ini(**MULTIPART)), "--dev-level", "Stage", "--json", env=env)
    return result.code, json.loads(result.stdout)


def clean(world: World, names: list[str]) -> None:
    """Every key in both targets holds exactly its source's bytes; no upload is left open."""
    sources = {name: world.gcs.blob(name).download_as_bytes() for name in names}
    for key, body in world.keys().items():
        assert key.startswith(".gcs2s3/") or body == sources[key], key
    for key, body in world.keys(world.archive_bucket).items():
        assert any(body == b for b in sources.values()), key
    s3 = boto3.client("s3")
    for bucket in (world.s3_bucket, world.archive_bucket):
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def media(method: str, path: str) -> bool:
    return "alt=media" in path


def first_time_per_path(hook: Callable[[bytes], bytes]) -> Callable[[str, str, bytes], bytes | None]:
    seen: set[str] = set()

    def tamper(method: str, path: str, body: bytes) -> bytes | None:
        if media(method, path) and path.split("?")[0] not in seen:
            seen.add(path.split("?")[0])
            return hook(body)
        return None

    return tamper


@pytest.mark.parametrize("hook", [flip, truncate], ids=["flipped-byte", "truncated"])
def test_a_corrupt_gcs_read_is_retried_and_never_lands(world: World, emulators: dict[str, str], hook) -> None:
    world.put("small.txt", SMALL)
    world.put("big.bin", BIG)
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs:
        gcs.tamper_response = first_time_per_path(hook)
        code, report = sync(world, {"STORAGE_EMULATOR_HOST": gcs.url})
    assert code == 0 and report["counts"]["delivered"] == 2, report
    clean(world, ["small.txt", "big.bin"])


def test_persistent_corruption_fails_the_object_and_leaves_nothing(world: World, emulators: dict[str, str]) -> None:
    world.put("good.txt", b"good")
    world.put("big.bin", BIG)
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs:
        gcs.tamper_response = lambda method, path, body: flip(body) if "big.bin?alt=media" in path else None
        code, report = sync(world, {"STORAGE_EMULATOR_HOST": gcs.url})
    assert code == 1
    assert [f["key"] for f in report["failures"]] == ["big.bin"]
    assert "crc32c" in report["failures"][0]["reason"].lower() or "md5" in report["failures"][0]["reason"].lower()
    assert set(world.keys()) == {"good.txt"}
    assert [k for k in world.keys(world.archive_bucket) if "big" in k] == []
    clean(world, ["good.txt", "big.bin"])


def test_a_connection_dropped_mid_body_is_retried(world: World, emulators: dict[str, str]) -> None:
    world.put("small.txt", SMALL)
    world.put("big.bin", BIG)
    dropped: set[str] = set()

    def drop(method: str, path: str) -> bool:
        if media(method, path) and path not in dropped:
            dropped.add(path)
            return True
        return False

    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs:
        gcs.drop_mid_body = drop
        code, report = sync(world, {"STORAGE_EMULATOR_HOST": gcs.url})
    assert dropped and code == 0 and report["counts"]["delivered"] == 2, report
    clean(world, ["small.txt", "big.bin"])


def test_an_upload_corrupted_in_transit_is_rejected_by_a_strict_server(
    world: World, emulators: dict[str, str]
) -> None:
    if emulators["s3_server"] != "seaweedfs":
        pytest.skip("moto stores whatever arrives; only a server that validates checksums can reject it")
    world.put("small.txt", SMALL)
    world.put("big.bin", BIG)
    seen: set[str] = set()

    def tamper(method: str, path: str, body: bytes) -> bytes | None:
        where = path.split("uploadId=")[0] + path.rpartition("partNumber=")[2]
        if method == "PUT" and len(body) > 100 and where not in seen:
            seen.add(where)
            return flip(body)
        return None

    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        s3.tamper_request = tamper
        code, report = sync(world, {"AWS_ENDPOINT_URL": s3.url})
    assert len(seen) >= 3  # the small PUT and both parts were each corrupted once
    assert code == 0 and report["counts"]["delivered"] == 2, report
    clean(world, ["small.txt", "big.bin"])
