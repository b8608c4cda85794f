"""WordPress sizing, ported: every case of a table that WordPress's own PHP functions computed
(tests/data/make_wp_dimensions.py), plus properties of the port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import WORDPRESS_DEFAULT_SIZES
from hypothesis import given
from hypothesis import strategies as st

from gcs2s3.stages.thumbnails.sizes import constrain_dimensions, derived_images, php_round, resize_dimensions

TABLE = json.loads((Path(__file__).parent / "data" / "wp_dimensions.json").read_text())


def test_the_table_is_wordpress_6() -> None:
    assert TABLE["wordpress_version"].startswith("6.") and len(TABLE["cases"]) > 2000


@pytest.mark.parametrize("chunk", range(10))
def test_every_case_matches_wordpress(chunk: int) -> None:
    cases = TABLE["cases"][chunk::10]
    for case in cases:
        (w, h), (dw, dh), crop, expected = case["orig"], case["dest"], case["crop"], case["wordpress"]
        got = resize_dimensions(w, h, dw, dh, crop)
        if expected is False:
            assert got is None, case
        else:
            assert got is not None, case
            assert [0, 0, got.src_x, got.src_y, got.width, got.height, got.src_w, got.src_h] == expected, case


def test_php_rounding() -> None:
    assert [php_round(x) for x in (0.5, 1.5, 2.5, -0.5, 2.4999999999999996, 149.5)] == [1, 2, 3, -1, 3, 150]


@given(st.integers(1, 20000), st.integers(1, 20000), st.integers(1, 4000), st.integers(1, 4000))
def test_a_fit_never_upscales_and_stays_in_the_box(w: int, h: int, mw: int, mh: int) -> None:
    cw, ch = constrain_dimensions(w, h, mw, mh)
    assert 1 <= cw <= max(w, mw) and 1 <= ch <= max(h, mh)
    if w > mw or h > mh:
        assert cw <= mw and ch <= mh


@given(st.integers(1, 20000), st.integers(1, 20000), st.integers(1, 4000), st.integers(1, 4000))
def test_a_crop_is_exactly_the_size_asked_when_it_is_made(w: int, h: int, dw: int, dh: int) -> None:
    got = resize_dimensions(w, h, dw, dh, True)
    if got is not None:
        assert (got.width, got.height) == (min(dw, w), min(dh, h))
        assert got.src_x >= 0 and got.src_x + got.src_w <= w and got.src_y >= 0 and got.src_y + got.src_h <= h


def files(width: int, height: int, orientation: int = 1, mime: str = "image/jpeg") -> list[tuple[str, int, int]]:
    made = derived_images(width, height, orientation=orientation, mime=mime, sizes=WORDPRESS_DEFAULT_SIZES)
    return [(f.suffix, f.width, f.height) for f in made]


@pytest.mark.parametrize(("case", "width", "height", "orientation", "mime", "expected"), [
    ("24 MP landscape JPEG", 6000, 4000, 1, "image/jpeg",
     [("-scaled", 2560, 1707), ("-150x150", 150, 150), ("-300x200", 300, 200), ("-768x512", 768, 512),
      ("-1024x683", 1024, 683), ("-1536x1024", 1536, 1024), ("-2048x1365", 2048, 1365)]),
    ("PNGs are never -scaled", 6000, 4000, 1, "image/png",
     [("-150x150", 150, 150), ("-300x200", 300, 200), ("-768x512", 768, 512), ("-1024x683", 1024, 683),
      ("-1536x1024", 1536, 1024), ("-2048x1365", 2048, 1365)]),
    ("EXIF-rotated (6) big photo: scaled then turned, sizes from the turned image", 4000, 3000, 6, "image/jpeg",
     [("-scaled", 1920, 2560), ("-150x150", 150, 150), ("-225x300", 225, 300), ("-768x1024", 768, 1024),
      ("-1152x1536", 1152, 1536), ("-1536x2048", 1536, 2048)]),
    ("EXIF-rotated (8) small photo gets -rotated", 1000, 800, 8, "image/jpeg",
     [("-rotated", 800, 1000), ("-150x150", 150, 150), ("-240x300", 240, 300), ("-768x960", 768, 960)]),
    ("tiny: nothing is upscaled", 100, 80, 1, "image/jpeg", []),
    ("exactly at the threshold: no -scaled", 2560, 1707, 1, "image/webp",
     [("-150x150", 150, 150), ("-300x200", 300, 200), ("-768x512", 768, 512), ("-1024x683", 1024, 683),
      ("-1536x1024", 1536, 1024), ("-2048x1366", 2048, 1366)]),
    ("one pixel over: the -scaled copy would be within 1 px, so none", 2561, 1700, 1, "image/jpeg",
     [("-150x150", 150, 150), ("-300x199", 300, 199), ("-768x510", 768, 510), ("-1024x680", 1024, 680),
      ("-1536x1020", 1536, 1020), ("-2048x1359", 2048, 1359)]),  # WordPress's own table says 1359
    ("square", 1000, 1000, 1, "image/gif", [("-150x150", 150, 150), ("-300x300", 300, 300), ("-768x768", 768, 768)]),
])
def test_the_files_wordpress_makes_for_an_upload(case: str, width: int, height: int, orientation: int, mime: str,
                                                 expected: list[tuple[str, int, int]]) -> None:
    assert files(width, height, orientation, mime) == expected, case


def test_two_sizes_with_one_result_share_one_file() -> None:
    made = derived_images(3000, 4000, orientation=1, mime="image/jpeg", sizes=WORDPRESS_DEFAULT_SIZES)
    shared = [f for f in made if f.suffix == "-768x1024"]
    assert len(shared) == 1 and shared[0].sizes == ("medium_large", "large")
