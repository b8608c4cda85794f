"""WordPress sizing, ported: every case of a table that WordPress's own PHP functions computed
(tests/data/make_wp_dimensions.py), plus properties of the port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcs2s3.stages.wp_sizes import constrain_dimensions, php_round, resize_dimensions

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
