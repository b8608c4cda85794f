"""`gcs2s3 sync` / `plan` / `verify` end to end against fake-gcs-server and moto."""

from __future__ import annotations

import json
import time

import pytest
from conftest import World, cli
from proxy import Proxy


def sync_json(world: World, *extra: str, env: dict[str, str] | None = None, **ini: str) -> tuple[int, dict]:
    result = cli("sync", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--json", *extra, env=env)
    assert result.stdout, result.stderr[-3000:]
    return result.code, json.loads(result.stdout)


def test_first_sync_rerun_and_change(world: World) -> None:
    world.put("reports/q1.csv", b"north,1\n")
    world.put("images/a.png", b"\x89PNG fake")
    world.put("folder/", b"")
    code, report = sync_json(world)
    assert code == 0, report
    assert report["counts"]["new"] == 2 and report["counts"]["placeholders_skipped"] == 1
    assert world.keys() == {"reports/q1.csv": b"north,1\n", "images/a.png": b"\x89PNG fake"}
    archive = world.keys(world.archive_bucket)
    assert len(archive) == 2 and all(k.startswith("archive/") for k in archive)
    head = world.s3.head_object(Bucket=world.s3_bucket, Key="reports/q1.csv")
    assert set(head["Metadata"]) == {"source-md5", "source-crc32c", "source-generation", "source-headers"}

    code, report = sync_json(world)
    assert code == 0 and report["counts"]["unchanged"] == 2 and report["counts"]["delivered"] == 0

    time.sleep(1.05)  # a new creation second, so the new version gets its own timestamped archive key
    world.put("reports/q1.csv", b"north,2\n")
    code, report = sync_json(world)
    assert code == 0 and report["counts"]["changed"] == 1 and report["counts"]["unchanged"] == 1
    assert world.keys()["reports/q1.csv"] == b"north,2\n"
    after = world.keys(world.archive_bucket)
    assert len(after) == 3
    assert {k: v for k, v in after.items() if k in archive} == archive  # old entries untouched
    assert sorted(v for k, v in after.items() if "q1" in k) == [b"north,1\n", b"north,2\n"]
    assert cli("verify", "--config", str(world.ini()), "--dev-level", "Stage").code == 0


def test_no_change_rerun_makes_only_list_requests(world: World, emulators: dict[str, str]) -> None:
    for i in range(30):
        world.put(f"d{i % 3}/f{i}.txt", f"body {i}".encode())
    world.put("big.bin", b"x" * (2 * 1024 * 1024))
    ini = {"multipart_threshold_mb": "1", "part_size_mb": "5"}
    assert sync_json(world, **ini)[0] == 0
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs, Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        env = {"STORAGE_EMULATOR_HOST": gcs.url, "AWS_ENDPOINT_URL": s3.url}
        code, report = sync_json(world, env=env, **ini)
        assert code == 0 and report["counts"]["unchanged"] == 31
        assert gcs.requests and all(m == "GET" and "alt=media" not in p for m, p in gcs.requests), gcs.requests
        state_reads = [p for m, p in s3.requests if m == "GET" and p.endswith("/.gcs2s3/state.json.gz")]
        lists = [p for m, p in s3.requests if m == "GET" and "list-type=2" in p]
        # The lease (one run at a time): take it, read it back, release it.
        lease = [m for m, p in s3.requests if "/.gcs2s3/lease" in p]
        assert lease == ["PUT", "GET", "DELETE"], s3.requests
        assert len(state_reads) <= 1 and lists
        assert len(lists) + len(state_reads) + len(lease) == len(s3.requests), s3.requests


def test_an_empty_source_is_a_clean_run(world: World) -> None:
    code, report = sync_json(world)
    assert code == 0 and report["counts"]["new"] == 0 and report["failures"] == []
    assert cli("verify", "--config", str(world.ini()), "--dev-level", "Stage").code == 0


def test_plan_and_dry_run_write_nothing(world: World, emulators: dict[str, str]) -> None:
    world.put("a/b.csv", b"1")
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        env = {"AWS_ENDPOINT_URL": s3.url}
        result = cli("plan", "--config", str(world.ini()), "--dev-level", "Stage", "--json", env=env)
        assert result.code == 0
        report = json.loads(result.stdout)
        assert report["actions"][0]["dest_key"] == "a/b.csv" and report["actions"][0]["kind"] == "new"
        assert sync_json(world, "--dry-run", env=env)[0] == 0
        assert s3.count(lambda method, path: method != "GET") == 0
    assert world.keys() == {} and world.keys(world.archive_bucket) == {}


def test_flatten_on_and_collision_refused(world: World) -> None:
    world.put("in/a/b/c.txt", b"abc")
    code, _ = sync_json(world, path="in/", s3_prefix="wp/uploads/", wordpress_modification_for_s3_upload_plugin="yes")
    assert code == 0
    assert set(world.keys()) == {"wp/uploads/a_b_c.txt"}
    (archived,) = world.keys(world.archive_bucket)
    assert archived.startswith("archive/a_b_c.")

    world.put("in/a_b/c.txt", b"other")
    result = cli("sync", "--config", str(world.ini(path="in/", s3_prefix="wp/uploads/",
                                                     wordpress_modification_for_s3_upload_plugin="yes")),
                 "--dev-level", "Stage")
    assert result.code == 2
    assert "'in/a/b/c.txt' and 'in/a_b/c.txt'" in result.stderr and "Traceback" not in result.stderr
    assert set(world.keys()) == {"wp/uploads/a_b_c.txt"}  # nothing written


ODD_NAMES = [
    "ünïcödé/日本語 ファイル.txt",
    "with space/and  two.csv",
    "plus+percent%20query?hash#amp&.txt",
    "dots/../up/./here",
    "double//slash///x",
    "trailing-dot.",
    ".hidden",
    "emoji 😀.png",
    "semi;colon,comma=equals@at!bang'quote\"dq",
    "long/" + "n" * 900 + ".txt",
    "tab\tand\x7fdel and\x01control.txt",
    "empty-file.txt",
]


def body_of(i: int, name: str) -> bytes:
    return b"" if name == "empty-file.txt" else f"content {i}".encode()


# What SeaweedFS (unlike S3 and moto) cannot store, and the error it answers; each must fail that one
# object, never the run. It also collapses "//" in keys, so that name is left out of its run.
SEAWEEDFS_REFUSES = {"dots/../up/./here": "InvalidRequest", ODD_NAMES[9]: "KeyTooLongError"}
SEAWEEDFS_REWRITES = {"double//slash///x"}


def test_odd_names_round_trip_byte_for_byte(world: World, emulators: dict[str, str]) -> None:
    strict = emulators["s3_server"] == "seaweedfs"
    names = [n for n in ODD_NAMES if not (strict and n in SEAWEEDFS_REWRITES)]
    server_refuses = SEAWEEDFS_REFUSES if strict else {}
    for i, name in enumerate(ODD_NAMES):
        if name in names:
            world.put(name, body_of(i, name))
    too_long = "x" * 1010 + ".txt"
    world.put(too_long, b"too long for the archive key")
    code, report = sync_json(world)
    assert code == 1  # each name that cannot be stored fails; the rest are delivered
    reasons = {f["key"]: f["reason"] for f in report["failures"]}
    assert sorted(reasons) == sorted([too_long, *server_refuses])
    assert "1024" in reasons[too_long]
    assert all(code in reasons[name] for name, code in server_refuses.items())
    delivered = {name: body_of(i, name) for i, name in enumerate(ODD_NAMES) if name in names}
    assert world.keys() == {k: v for k, v in delivered.items() if k not in server_refuses}
    code, report = sync_json(world)
    assert report["counts"]["unchanged"] == len(delivered) - len(server_refuses)
    assert report["counts"]["delivered"] == 0


def test_multipart_objects_are_streamed_verified_and_unchanged_on_rerun(world: World) -> None:
    body = bytes(range(256)) * (11 * 4096)  # 11 MiB: three parts of 5 MiB
    world.put("big/blob.bin", body)
    ini = {"multipart_threshold_mb": "1", "part_size_mb": "5"}
    code, report = sync_json(world, **ini)
    assert code == 0 and report["bytes"]["copied"] == len(body)
    (archive_key,) = world.keys(world.archive_bucket)
    assert world.s3.head_object(Bucket=world.archive_bucket, Key=archive_key)["ETag"].endswith('-3"')
    assert world.keys()["big/blob.bin"] == body
    assert sync_json(world, **ini)[1]["counts"]["unchanged"] == 1
    result = cli("verify", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--deep-verify", "--json")
    assert result.code == 0, result.stdout


def test_same_second_versions_each_get_one_archive_entry(world: World) -> None:
    world.put("r.csv", b"v1")
    assert sync_json(world)[0] == 0
    world.put("r.csv", b"v2")  # very likely the same creation second as v1
    assert sync_json(world)[0] == 0
    archive = world.keys(world.archive_bucket)
    assert sorted(archive.values()) == [b"v1", b"v2"] and len(archive) == 2
    assert cli("verify", "--config", str(world.ini()), "--dev-level", "Stage").code == 0


def test_crash_rerun_reuses_the_archive_entry(world: World) -> None:
    """A run killed after archiving but before the primary copy: the next run finishes the job."""
    world.put("r.csv", b"v1")
    assert sync_json(world)[0] == 0
    world.s3.delete_object(Bucket=world.s3_bucket, Key="r.csv")  # as if the copy never happened
    code, report = sync_json(world)
    assert code == 0 and report["counts"]["new"] == 1 and report["counts"]["archived"] == 0
    assert len(world.keys(world.archive_bucket)) == 1


def test_verify_reports_tampered_missing_and_unarchived(world: World) -> None:
    world.put("a.txt", b"a")
    world.put("b.txt", b"b")
    world.put("c.txt", b"c")
    assert sync_json(world)[0] == 0
    world.s3.put_object(Bucket=world.s3_bucket, Key="a.txt", Body=b"tampered")
    world.s3.delete_object(Bucket=world.s3_bucket, Key="b.txt")
    (c_archive,) = [k for k in world.keys(world.archive_bucket) if k.startswith("archive/c.")]
    world.s3.delete_object(Bucket=world.archive_bucket, Key=c_archive)
    result = cli("verify", "--config", str(world.ini()), "--dev-level", "Stage", "--json")
    assert result.code == 1
    reasons = {f["key"]: f["reason"] for f in json.loads(result.stdout)["failures"]}
    assert set(reasons) == {"a.txt", "b.txt", c_archive}
    assert "size" in reasons["a.txt"] and "not delivered" in reasons["b.txt"] and "no archive" in reasons[c_archive]


def test_same_size_tampering_is_caught(world: World) -> None:
    world.put("a.txt", b"aaaa")
    assert sync_json(world)[0] == 0
    world.s3.put_object(Bucket=world.s3_bucket, Key="a.txt", Body=b"bbbb")
    result = cli("verify", "--config", str(world.ini()), "--dev-level", "Stage", "--json")
    assert result.code == 1 and "MD5" in json.loads(result.stdout)["failures"][0]["reason"]
    # and sync repairs it: the ETag differs and the metadata is gone, so it is copied again
    code, report = sync_json(world)
    assert code == 0 and report["counts"]["changed"] == 1
    assert world.keys()["a.txt"] == b"aaaa"


@pytest.mark.parametrize("deep", [False, True])
def test_report_and_json_logs(world: World, deep: bool) -> None:
    world.put("x.txt", b"x")
    extra = ("--deep-verify",) if deep else ()
    result = cli("sync", "--config", str(world.ini()), "--dev-level", "Stage", *extra)
    assert result.code == 0, result.stderr
    # off a terminal, without --json, stdout is still one JSON line (a log driver ships it), never a table
    assert result.stdout.count("\n") == 1 and json.loads(result.stdout)["counts"]["new"] == 1
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(entry.get("key") == "x.txt" and entry["dev_level"] == "Stage" for entry in logs)
