"""Thumbnails for what is already there: back-fill of images delivered before `thumbnails` was on, a
changed `thumbnail_sizes`, `verify` of every image's derived files, and a back-fill killed with
SIGKILL; against both S3 servers."""

from __future__ import annotations

import json
import signal
import time

import boto3
import pytest
from conftest import World, cli, photo
from proxy import Proxy
from test_crash import LEASE_EXPIRY_S, kill_when_trapped, once, start_sync
from test_sync import sync_json
from test_thumbnails import ON, dims

pytest.importorskip("pyvips")

IMAGES = {"photos/a.jpg": (1200, 900, ".jpg"), "photos/b.png": (400, 500, ".png"), "c.webp": (640, 480, ".webp")}
EXPECTED = {
    "photos/a-150x150.jpg": (150, 150), "photos/a-300x225.jpg": (300, 225), "photos/a-768x576.jpg": (768, 576),
    "photos/a-1024x768.jpg": (1024, 768), "photos/b-150x150.png": (150, 150), "photos/b-240x300.png": (240, 300),
    "c-150x150.webp": (150, 150), "c-300x225.webp": (300, 225),
}


def put_images(world: World) -> None:
    for name, (width, height, suffix) in IMAGES.items():
        world.put(name, photo(width, height, suffix))
    world.put("docs/notes.txt", b"not an image\n")


def derived(world: World) -> dict[str, tuple[int, int]]:
    return {k: dims(v) for k, v in world.keys().items() if k.rsplit("/", 1)[-1].count("-")}


def run(world: World, command: str, *extra: str, **ini: str) -> tuple[int, dict]:
    result = cli(command, "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--json", *extra)
    assert result.stdout, result.stderr[-3000:]
    return result.code, json.loads(result.stdout)


def test_turning_thumbnails_on_back_fills_what_was_delivered_within_the_per_run_limit(world: World) -> None:
    put_images(world)
    assert sync_json(world)[0] == 0  # thumbnails off
    assert derived(world) == {}
    code, checked = run(world, "verify", **ON)
    assert code == 1 and checked["thumbnails"]["problems"] == 3
    assert all("no thumbnails recorded" in f["reason"] for f in checked["failures"])

    before = world.keys()
    code, planned = run(world, "plan", **ON)
    assert code == 0 and planned["thumbnails"]["backfill_due"] == 3 and world.keys() == before  # shown, not done

    code, first = sync_json(world, thumbnail_backfill_per_run="2", **ON)
    assert code == 0, first
    assert first["counts"]["unchanged"] == 4
    counts = first["thumbnails"]
    assert (counts["backfill_due"], counts["backfill_done"], counts["backfill_left"]) == (3, 2, 1)
    assert counts["backfill_files_written"] == 6 and counts["images_sized"] == counts["files_written"] == 0
    code, second = sync_json(world, thumbnail_backfill_per_run="2", **ON)
    assert code == 0 and (second["thumbnails"]["backfill_due"], second["thumbnails"]["backfill_done"]) == (1, 1)
    assert derived(world) == EXPECTED
    assert len(world.keys(world.archive_bucket)) == 4  # back-fill writes no archive entry

    code, third = sync_json(world, **ON)
    assert code == 0 and third["thumbnails"]["backfill_due"] == 0 and third["thumbnails"]["files_written"] == 0
    code, checked = run(world, "verify", "--deep-verify", **ON)
    assert code == 0, checked["failures"]
    assert checked["thumbnails"] == {"images_checked": 3, "files_checked": 8, "images_not_sized": 0, "problems": 0}


def test_a_changed_thumbnail_sizes_makes_the_new_files_and_removes_the_old_without_redrawing(
    world: World, emulators: dict[str, str]
) -> None:
    world.put("a.jpg", photo(1200, 900))
    assert sync_json(world, **ON)[0] == 0
    first = world.keys()
    sizes = {"thumbnail_sizes": "thumbnail:150x150:crop, wide:1100x0"}
    code, checked = run(world, "verify", **ON, **sizes)
    assert code == 1
    assert sorted((f["key"], f["reason"].split(" (")[0].split(":")[0]) for f in checked["failures"]) == [
        ("a-1024x768.jpg", "stale thumbnail"), ("a-1100x825.jpg", "thumbnail missing"),
        ("a-300x225.jpg", "stale thumbnail"), ("a-768x576.jpg", "stale thumbnail"),
    ]
    code, report = sync_json(world, **ON, **sizes)
    assert code == 0, report
    counts = report["thumbnails"]
    assert (counts["backfill_done"], counts["backfill_files_written"], counts["backfill_files_removed"]) == (1, 1, 3)
    after = world.keys()
    assert derived(world) == {"a-150x150.jpg": (150, 150), "a-1100x825.jpg": (1100, 825)}
    assert after["a-150x150.jpg"] == first["a-150x150.jpg"]  # kept, not drawn again
    assert run(world, "verify", **ON, **sizes)[0] == 0

    # A size dropped: its file is removed, and the image is not even read.
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        code, report = sync_json(world, env={"AWS_ENDPOINT_URL": s3.url}, **ON,
                                 thumbnail_sizes="thumbnail:150x150:crop")
        assert code == 0 and report["thumbnails"]["backfill_files_removed"] == 1
        assert not [p for m, p in s3.requests if m == "GET" and p.split("?")[0].endswith("/a.jpg")]
    assert derived(world) == {"a-150x150.jpg": (150, 150)}


def test_verify_finds_a_missing_an_extra_and_a_wrong_sized_thumbnail_and_sync_repairs_them(world: World) -> None:
    world.put("p/a.jpg", photo(1200, 900))
    assert sync_json(world, **ON)[0] == 0
    good = world.keys()
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=world.s3_bucket, Key="p/a-300x225.jpg")
    s3.put_object(Bucket=world.s3_bucket, Key="p/a-640x480.jpg", Body=photo(640, 480))
    s3.put_object(Bucket=world.s3_bucket, Key="p/a-150x150.jpg", Body=photo(100, 100))
    code, checked = run(world, "verify", **ON)
    assert code == 1
    reasons = {f["key"]: f["reason"] for f in checked["failures"]}
    assert reasons.keys() == {"p/a-300x225.jpg", "p/a-640x480.jpg", "p/a-150x150.jpg"}
    assert reasons["p/a-300x225.jpg"].startswith("thumbnail missing (300x225 of p/a.jpg)")
    assert reasons["p/a-640x480.jpg"].startswith("stale thumbnail")
    assert reasons["p/a-150x150.jpg"].startswith("thumbnail changed since it was written")
    code, deep = run(world, "verify", "--deep-verify", **ON)
    assert code == 1 and any(f["key"] == "p/a-150x150.jpg" and f["reason"] == "thumbnail is 100x100, WordPress's "
                             "is 150x150" for f in deep["failures"])

    code, report = sync_json(world, **ON)
    assert code == 0 and report["thumbnails"]["backfill_done"] == 1, report
    assert report["thumbnails"]["backfill_files_written"] == 2 and report["thumbnails"]["backfill_files_removed"] == 1
    repaired = {k: v for k, v in world.keys().items() if k.startswith("p/")}
    assert repaired.keys() == {k for k in good if k.startswith("p/")}
    assert dims(repaired["p/a-150x150.jpg"]) == (150, 150)
    assert run(world, "verify", "--deep-verify", **ON)[0] == 0


def test_back_fill_never_reads_a_derived_file(world: World) -> None:
    """The old tool's hazard with back-fill on: flatten off, nested folders, the archive in the same
    bucket, thumbnails turned on after a first run; three back-filling runs make each file once."""
    for name in ("a.jpg", "x/b.jpg", "x/y/c.png", "x/y/z/d.webp", "x/y/z/notes.txt"):
        world.put(f"in/{name}", photo(640, 480, "." + name.rsplit(".", 1)[1]) if "notes" not in name else b"hi")
    ini = {"path": "in/", "s3_prefix": "media/", "archive_bucket": world.s3_bucket, "archive_prefix": "archive/"}
    assert sync_json(world, **ini)[0] == 0
    base = len(world.keys())
    counts = []
    for attempt in range(3):
        code, report = sync_json(world, thumbnail_backfill_per_run="2", **ini, **ON)
        assert code == 0, report
        assert report["thumbnails"]["backfill_done"] == (2, 2, 0)[attempt]
        keys = world.keys()
        counts.append(len(keys))
        assert not any(k.count("-150x150") > 1 or "-150x150-" in k or "-300x225-" in k for k in keys), keys
    assert counts == [base + 4, base + 8, base + 8]  # two images (two files each) per run, then nothing
    ext = {"a": "jpg", "x/b": "jpg", "x/y/c": "png", "x/y/z/d": "webp"}
    expected = [f"media/{stem}{suffix}.{e}" for stem, e in ext.items() for suffix in ("", "-150x150", "-300x225")]
    media = [k for k in keys if k.startswith("media/")]
    assert sorted(media) == sorted([*expected, "media/x/y/z/notes.txt"])


def test_a_back_fill_killed_with_sigkill_finishes_cleanly_on_the_next_run(world: World, emulators: dict[str, str]
                                                                          ) -> None:
    put_images(world)
    assert sync_json(world, workers="2", lease_ttl_s="2")[0] == 0
    ini = {**ON, "thumbnail_workers": "1", "workers": "2", "lease_ttl_s": "2"}
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs, Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        # Held once the first derived file has landed: the run is killed mid-image, mid-back-fill.
        s3.trap = once(lambda m, p, phase, w: m == "PUT" and "-150x150" in p and phase == "response", world)
        process = start_sync(world, {"STORAGE_EMULATOR_HOST": gcs.url, "AWS_ENDPOINT_URL": s3.url}, **ini)
        assert kill_when_trapped(s3, process), process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert process.returncode == -signal.SIGKILL
    assert 1 <= len(derived(world)) < len(EXPECTED)
    time.sleep(LEASE_EXPIRY_S)
    code, report = sync_json(world, **ini)
    assert code == 0, report
    assert report["thumbnails"]["backfill_done"] == 3
    assert derived(world) == EXPECTED
    assert run(world, "verify", "--deep-verify", **ini)[0] == 0
    assert len(world.keys(world.archive_bucket)) == 4


def test_an_image_that_cannot_be_sized_fails_its_back_fill_once_and_is_then_left_alone(world: World) -> None:
    world.put("broken.jpg", photo(800, 600)[:3000])
    world.put("ok.gif", photo(300, 200, ".gif"))
    assert sync_json(world)[0] == 0
    code, report = sync_json(world, **ON)
    assert code == 1
    assert [f["key"] for f in report["failures"]] == ["broken.jpg"]
    assert report["failures"][0]["reason"].startswith("thumbnails not back-filled: corrupt or truncated image/jpeg")
    counts = report["thumbnails"]
    assert (counts["backfill_due"], counts["backfill_done"], counts["backfill_failed"]) == (2, 1, 1)
    code, again = sync_json(world, **ON)
    assert code == 0 and again["thumbnails"]["backfill_due"] == 0  # recorded as not sizable: not tried again
    code, checked = run(world, "verify", **ON)
    assert code == 0 and checked["thumbnails"]["images_not_sized"] == 1
    assert derived(world) == {"ok-150x150.gif": (150, 150)}  # medium would be the original's size: skipped
