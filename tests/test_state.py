"""The state cache: a no-change rerun needs no HEAD (the cache vouches for every object's headers, and
for the bytes of multipart ones); a lost, corrupt or stale cache only costs HEADs, never a wrong
decision.

Only SeaweedFS keeps a multipart ETag through CopyObject as S3 does (moto gives every copy an MD5
ETag); test_composite covers the cache for composite sources on both.
"""

from __future__ import annotations

import json

import boto3
from conftest import World, cli
from proxy import Proxy

from gcs2s3.run.state import state_key
from gcs2s3.testing.in_memory_plan import StateCache

MULTIPART = {"multipart_threshold_mb": "1", "part_size_mb": "5"}
BIG = 2 * 1024 * 1024


def sync(world: World, env: dict[str, str] | None = None, **ini: str) -> dict:
    result = cli("sync", "--config", str(world.ini(**{**MULTIPART, **ini})), "--dev-level", "Stage", "--json", env=env)
    report = json.loads(result.stdout)
    assert result.code == report["exit_code"]
    return report


def heads_in_rerun(world: World, emulators: dict[str, str], **ini: str) -> tuple[dict, int]:
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        report = sync(world, {"AWS_ENDPOINT_URL": s3.url}, **ini)
        return report, s3.count(lambda method, path: method == "HEAD")


def fill(world: World) -> int:
    """Four multipart objects and one small one, synced; returns how many the cache must vouch for."""
    for i in range(4):
        world.put(f"big/{i}.bin", bytes([i]) * BIG)
    world.put("small.txt", b"small")
    assert sync(world)["counts"]["delivered"] == 5
    return 5


def test_the_cache_spares_every_head_and_holds_every_delivered_key(world: World, emulators: dict[str, str]) -> None:
    fill(world)
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=world.s3_bucket)["Contents"]
    unprovable = sorted(o["Key"] for o in listed if "-" in o["ETag"] and ".gcs2s3" not in o["Key"])
    assert emulators["s3_server"] == "moto" or unprovable == [f"big/{i}.bin" for i in range(4)]
    stored = StateCache.from_bytes(s3.get_object(Bucket=world.s3_bucket, Key=state_key(""))["Body"].read())
    assert sorted(stored.entries) == [*(f"big/{i}.bin" for i in range(4)), "small.txt"]
    assert all(entry.headers for entry in stored.entries.values())
    report, heads = heads_in_rerun(world, emulators)
    assert report["counts"]["unchanged"] == 5 and heads == 0
    assert ".gcs2s3" not in json.dumps(report)  # bookkeeping is never content
    assert cli("verify", "--config", str(world.ini(**MULTIPART)), "--dev-level", "Stage").code == 0


def test_a_deleted_or_corrupt_cache_costs_heads_and_is_rewritten(world: World, emulators: dict[str, str]) -> None:
    vouched = fill(world)
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=world.s3_bucket, Key=state_key(""))
    report, heads = heads_in_rerun(world, emulators)
    assert report["counts"]["unchanged"] == 5 and heads == vouched
    s3.put_object(Bucket=world.s3_bucket, Key=state_key(""), Body=b"not gzip at all")
    report, heads = heads_in_rerun(world, emulators)
    assert report["counts"]["unchanged"] == 5 and heads == vouched
    assert heads_in_rerun(world, emulators)[1] == 0  # rewritten by the run before


def test_a_stale_cache_never_hides_a_change(world: World, emulators: dict[str, str]) -> None:
    fill(world)
    # Someone replaces a delivered object behind our back with other bytes of the same size.
    s3 = boto3.client("s3")
    upload = s3.create_multipart_upload(Bucket=world.s3_bucket, Key="big/0.bin")["UploadId"]
    etag = s3.upload_part(Bucket=world.s3_bucket, Key="big/0.bin", UploadId=upload, PartNumber=1,
                          Body=b"\xff" * BIG)["ETag"]
    s3.complete_multipart_upload(Bucket=world.s3_bucket, Key="big/0.bin", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3proxy:
        args = ("plan", "--config", str(world.ini(**MULTIPART)), "--dev-level", "Stage", "--json")
        planned = json.loads(cli(*args, env={"AWS_ENDPOINT_URL": s3proxy.url}).stdout)
        assert s3proxy.count(lambda method, path: method == "HEAD") == 1  # the cache entry is stale
    assert [a["dest_key"] for a in planned["actions"] if a["kind"] == "changed"] == ["big/0.bin"]
    report = sync(world)
    assert report["counts"]["changed"] == 1 and report["counts"]["unchanged"] == 4
    assert world.keys(prefix="big/0")["big/0.bin"] == b"\x00" * BIG
