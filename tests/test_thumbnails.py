"""`thumbnails = true` end to end: WordPress's files beside each delivered image, against both S3 servers."""

from __future__ import annotations

import json
import time

import pytest
from conftest import World, cli, photo
from test_sync import sync_json

pyvips = pytest.importorskip("pyvips")

ON = {"thumbnails": "true", "thumbnail_workers": "2"}
NO_BACKFILL = {"backfill_due": 0, "backfill_done": 0, "backfill_failed": 0, "backfill_left": 0,
               "backfill_files_written": 0, "backfill_files_removed": 0}


def dims(body: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(body, "")
    return image.width, image.height


def noisy_jpeg(width: int, height: int) -> bytes:
    """A JPEG that does not compress (random pixels), to have a file above the multipart threshold."""
    noise = pyvips.Image.gaussnoise(width, height, sigma=60).cast("uchar")
    return bytes(noise.bandjoin([noise, noise]).jpegsave_buffer(Q=98))


def test_each_delivered_image_gets_wordpress_files_beside_it(world: World) -> None:
    world.put("photos/a.jpg", photo(1200, 900))
    world.put("photos/b.PNG", photo(400, 500, ".png"))
    world.put("photos/big.jpg", noisy_jpeg(1600, 1200))  # > 1 MB: streamed in parts, spooled as it passes
    world.put("photos/tiny.gif", photo(100, 80, ".gif"))
    world.put("photos/scan.tif", photo(300, 200, ".tif"))
    world.put("photos/broken.jpg", photo(800, 600)[:3000])
    world.put("docs/report.csv", b"a,b\n")
    code, report = sync_json(world, multipart_threshold_mb="1", part_size_mb="5", **ON)
    assert code == 1, report  # the broken image fails the run, after everything was delivered
    assert report["counts"]["delivered"] == 7 and report["counts"]["failed"] == 0
    assert report["failures"] == [
        {"key": "photos/broken.jpg", "reason": report["failures"][0]["reason"]}
    ] and "no thumbnails: corrupt or truncated" in report["failures"][0]["reason"]
    assert report["thumbnails"] == {"images_sized": 3, "files_written": 11, "stale_files_removed": 0,
                                    "images_not_sized": 1, "images_failed": 1, **NO_BACKFILL}
    primary = world.keys()
    derived = {k: dims(v) for k, v in primary.items() if k.startswith("photos/") and "-" in k}
    assert derived == {
        "photos/a-150x150.jpg": (150, 150), "photos/a-300x225.jpg": (300, 225), "photos/a-768x576.jpg": (768, 576),
        "photos/a-1024x768.jpg": (1024, 768),
        "photos/b-150x150.png": (150, 150), "photos/b-240x300.png": (240, 300),
        "photos/big-150x150.jpg": (150, 150), "photos/big-300x225.jpg": (300, 225),
        "photos/big-768x576.jpg": (768, 576), "photos/big-1024x768.jpg": (1024, 768),
        "photos/big-1536x1152.jpg": (1536, 1152),
    }
    assert "photos/broken.jpg" in primary and "photos/scan.tif" in primary and "docs/report.csv" in primary
    head = world.s3.head_object(Bucket=world.s3_bucket, Key="photos/b-150x150.png")
    assert head["ContentType"] == "image/png"
    archive = world.keys(world.archive_bucket)
    assert len(archive) == 7 and not any("-150x150" in k for k in archive)  # derived files are not archived

    code, again = sync_json(world, **ON)
    assert code == 0 and again["counts"]["unchanged"] == 7 and again["thumbnails"]["files_written"] == 0
    assert again["thumbnails"]["backfill_due"] == 0  # the corrupt image was recorded: not tried again
    assert world.keys().keys() == primary.keys()
    checked = cli("verify", "--config", str(world.ini(**ON)), "--dev-level", "Stage", "--deep-verify", "--json")
    assert checked.code == 0, checked.stdout
    verified = json.loads(checked.stdout)["thumbnails"]
    assert verified == {"images_checked": 5, "files_checked": 11, "images_not_sized": 1, "problems": 0}


def test_three_runs_never_read_their_own_output(world: World) -> None:
    """The old tool's hazard: flatten off, nested folders, thumbnails on, archive in the same bucket."""
    for name in ("a.jpg", "x/b.jpg", "x/y/c.png", "x/y/z/d.webp", "x/y/z/notes.txt"):
        world.put(f"in/{name}", photo(640, 480, "." + name.rsplit(".", 1)[1]) if "notes" not in name else b"hi")
    ini = {**ON, "path": "in/", "s3_prefix": "media/", "archive_bucket": world.s3_bucket,
           "archive_prefix": "archive/"}
    counts = []
    for _ in range(3):
        code, report = sync_json(world, **ini)
        assert code == 0, report
        keys = world.keys()
        counts.append(len(keys))
        assert all(k.startswith(("media/", "archive/")) for k in keys), keys
        assert not any(k.count("-150x150") > 1 or "-150x150-" in k for k in keys)
    assert counts[0] == counts[1] == counts[2]
    ext = {"a": "jpg", "x/b": "jpg", "x/y/c": "png", "x/y/z/d": "webp"}
    expected = [f"media/{stem}{suffix}.{e}" for stem, e in ext.items() for suffix in ("", "-150x150", "-300x225")]
    media = [k for k in keys if k.startswith("media/") and "/.gcs2s3/" not in k]
    assert sorted(media) == sorted([*expected, "media/x/y/z/notes.txt"])
    assert len([k for k in keys if k.startswith("archive/")]) == 5


def test_a_source_name_that_is_another_images_thumbnail_is_refused(world: World) -> None:
    world.put("a.jpg", photo(640, 480))
    world.put("a-150x150.jpg", photo(150, 150))
    result = cli("sync", "--config", str(world.ini(**ON)), "--dev-level", "Stage")
    assert result.code == 2
    assert "'a-150x150.jpg'" in result.stderr and "thumbnail name of 'a.jpg'" in result.stderr
    assert world.keys() == {} and world.keys(world.archive_bucket) == {}
    assert cli("sync", "--config", str(world.ini()), "--dev-level", "Stage").code == 0  # thumbnails off: fine


def test_a_changed_image_replaces_its_thumbnails_and_drops_the_ones_it_no_longer_has(world: World) -> None:
    world.put("p.jpg", photo(1200, 900))
    assert sync_json(world, **ON)[0] == 0
    first = world.keys()
    assert {"p-300x225.jpg", "p-768x576.jpg", "p-1024x768.jpg"} <= first.keys()
    time.sleep(1.05)
    world.put("p.jpg", photo(600, 800))  # now portrait and smaller: 150x150 and medium only
    code, report = sync_json(world, **ON)
    assert code == 0 and report["counts"]["changed"] == 1, report
    assert report["thumbnails"]["stale_files_removed"] == 3
    after = world.keys()
    assert sorted(k for k in after if k.startswith("p-")) == ["p-150x150.jpg", "p-225x300.jpg"]
    assert after["p-150x150.jpg"] != first["p-150x150.jpg"]  # replaced, not kept from the old version
    assert dims(after["p-225x300.jpg"]) == (225, 300)
    assert len(world.keys(world.archive_bucket)) == 2  # both versions of the original, no thumbnails


def test_an_image_over_the_pixel_limit_is_delivered_without_thumbnails(world: World) -> None:
    world.put("huge.png", photo(2000, 1000, ".png"))
    world.put("fine.png", photo(1000, 1000, ".png"))
    code, report = sync_json(world, thumbnail_max_pixels="1500000", **ON)
    assert code == 1 and report["counts"]["delivered"] == 2
    assert [f["key"] for f in report["failures"]] == ["huge.png"]
    assert "over the limit of 1.5 MP (thumbnail_max_pixels)" in report["failures"][0]["reason"]
    primary = world.keys()
    assert "huge.png" in primary and "fine-150x150.png" in primary
    assert not any(k.startswith("huge-") for k in primary)
