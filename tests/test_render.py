"""Drawing WordPress's files with libvips: real images made here, decoded back and measured."""

from __future__ import annotations

import pytest
from conftest import WORDPRESS_DEFAULT_SIZES, gradient, photo

pyvips = pytest.importorskip("pyvips")

from gcs2s3.core.errors import ImageError, NotSized  # noqa: E402
from gcs2s3.stages.thumbnails.render import read_header, render  # noqa: E402
from gcs2s3.stages.thumbnails.sizes import derived_images  # noqa: E402

SIZES = WORDPRESS_DEFAULT_SIZES[:4]  # the four that a 1200 px test image can have
LIMIT = 100_000_000


def encoded(image: pyvips.Image, suffix: str, **options: object) -> bytes:
    return bytes(image.write_to_buffer(suffix, **options))


def sizes_of(files: list) -> list[tuple[str, int, int]]:
    out = []
    for f in files:
        decoded = pyvips.Image.new_from_buffer(f.data, "")
        out.append((f.suffix, decoded.width, decoded.height))
    return out


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".gif"])
def test_each_sized_type_gets_every_wordpress_file_at_its_exact_size(suffix: str) -> None:
    data = photo(1200, 900, suffix)
    files = render(data, SIZES, LIMIT).files
    expected = [(d.suffix, d.width, d.height) for d in derived_images(1200, 900, orientation=1,
                mime=read_header(data).mime, sizes=SIZES)]
    assert sizes_of(files) == expected
    assert [f.suffix for f in files] == ["-150x150", "-300x225", "-768x576", "-1024x768"]
    loader = pyvips.Image.new_from_buffer(files[0].data, "").get("vips-loader")
    assert loader.startswith({".jpg": "jpeg", ".png": "png", ".webp": "webp", ".gif": "gif"}[suffix])


def test_exif_orientation_is_applied_and_metadata_dropped_but_the_colour_profile_kept() -> None:
    image = gradient(1200, 900).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)  # stored landscape, shown portrait
    data = encoded(image, ".jpg", keep=31, profile="srgb")  # keep all: EXIF (with orientation) and ICC
    source = pyvips.Image.new_from_buffer(data, "")
    assert "exif-data" in source.get_fields() and "icc-profile-data" in source.get_fields()
    files = render(data, SIZES, LIMIT).files
    assert sizes_of(files)[:3] == [("-rotated", 900, 1200), ("-150x150", 150, 150), ("-225x300", 225, 300)]
    for f in files:
        fields = pyvips.Image.new_from_buffer(f.data, "").get_fields()
        assert "exif-data" not in fields and "xmp-data" not in fields and "iptc-data" not in fields, f.suffix
        assert "icc-profile-data" in fields, f.suffix
    # the red mark was top-left as stored; turned 90° clockwise for display it is top-right
    turned = pyvips.Image.new_from_buffer(files[0].data, "")
    assert turned(turned.width - 3, 2)[0] > 200 and turned(2, 2)[0] < 200


def test_small_images_get_nothing_and_big_ones_get_scaled() -> None:
    assert render(photo(100, 80, ".jpg"), SIZES, LIMIT).files == []
    big = render(photo(3000, 2000, ".jpg", Q=60), SIZES, LIMIT).files
    assert sizes_of(big)[0] == ("-scaled", 2560, 1707)


def test_only_draws_the_files_asked_for_at_the_same_size_and_keeps_the_header() -> None:
    data = photo(3000, 2000, ".jpg", Q=60)
    whole = render(data, SIZES, LIMIT)
    part = render(data, SIZES, LIMIT, only=frozenset({"-150x150", "-768x512"}))
    assert sizes_of(part.files) == [s for s in sizes_of(whole.files) if s[0] in ("-150x150", "-768x512")]
    assert part.header == whole.header == read_header(data)
    assert render(data, SIZES, LIMIT, only=frozenset()).files == []


def test_corrupt_truncated_and_over_limit_images_are_refused_with_a_reason() -> None:
    data = photo(800, 600, ".jpg")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        render(data[: len(data) // 2], SIZES, LIMIT)
    with pytest.raises(ImageError, match="over the limit"):
        render(data, SIZES, 400 * 300)
    with pytest.raises(NotSized):
        render(b"this is a text file, not an image", SIZES, LIMIT)
    with pytest.raises(NotSized, match="tiff"):
        render(photo(400, 300, ".tif"), SIZES, LIMIT)


def with_gps(jpeg: bytes) -> bytes:
    """The JPEG with an EXIF segment holding GPS coordinates (52°30'N), built by hand."""
    import struct

    def entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
        return struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")

    ifd0 = struct.pack("<H", 1) + entry(0x8825, 4, 1, struct.pack("<I", 26)) + struct.pack("<I", 0)
    gps = (struct.pack("<H", 2) + entry(0x0001, 2, 2, b"N\0") + entry(0x0002, 5, 3, struct.pack("<I", 56))
           + struct.pack("<I", 0))
    rationals = struct.pack("<6I", 52, 1, 30, 1, 0, 1)
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd0 + gps + rationals
    payload = b"Exif\0\0" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def test_gps_tags_never_reach_a_thumbnail() -> None:
    data = with_gps(photo(1200, 900, ".jpg", keep=0))
    source = pyvips.Image.new_from_buffer(data, "")
    assert any(field.startswith("exif-ifd3-GPS") for field in source.get_fields())  # the input has GPS
    files = render(data, SIZES, LIMIT).files
    assert files
    for f in files:
        fields = pyvips.Image.new_from_buffer(f.data, "").get_fields()
        assert not any("GPS" in field for field in fields) and "exif-data" not in fields, f.suffix
        assert b"Exif" not in f.data[:4096]


def test_only_a_jpegs_orientation_is_applied_as_in_wordpress() -> None:
    """WordPress reads the orientation with exif_read_data, from JPEGs only: a WebP's is left alone."""
    image = gradient(1200, 900).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data = encoded(image, ".webp", keep=31)
    assert read_header(data).orientation == 1
    assert [f.suffix for f in render(data, SIZES, LIMIT).files][:2] == ["-150x150", "-300x225"]


def test_a_drawing_process_that_dies_costs_only_its_image(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A drawing process killed (as the OOM killer would): the image it had gets an ImageError, and the
    next one is drawn by a fresh pool."""
    import multiprocessing
    import os
    import signal
    from types import SimpleNamespace

    from gcs2s3.run.budget import ByteBudget
    from gcs2s3.run.hooks import Delivery
    from gcs2s3.stages.thumbnails.thumbnailer import Thumbnailer

    image = tmp_path / "small.jpg"
    image.write_bytes(photo(400, 300))
    settings = SimpleNamespace(s3_bucket="b", thumbnail_sizes="thumbnail:150x150:crop, medium:300x300",
                               thumbnail_max_pixels=LIMIT, thumbnail_processes=1)
    action = SimpleNamespace(dest_key="small.jpg", attached=(), source=SimpleNamespace(generation=1))
    # The storage target is never reached: no file is drawn, and the image had no earlier files.
    delivery = Delivery(action, image, None, ByteBudget(1 << 20))  # type: ignore[arg-type]
    with Thumbnailer(settings) as thumbnailer:  # type: ignore[arg-type]
        assert [f.suffix for f in thumbnailer._drawn(image).files] == ["-150x150", "-300x225"]
        (child,) = multiprocessing.active_children()
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(10)
        outcome = thumbnailer.make(delivery)
        assert outcome.error and "died" in outcome.error and outcome.written == ()
        assert outcome.entry is None  # nothing lasting recorded: the image is drawn again by a later run
        assert [f.suffix for f in thumbnailer._drawn(image).files] == ["-150x150", "-300x225"]
