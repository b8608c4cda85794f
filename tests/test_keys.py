"""Pure key rules: destination names, archive names, refusals and collisions (hypothesis properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcs2s3.core.keys import (
    KeyRules,
    archive_name,
    dest_name,
    refusal_reason,
    relative_name,
)
from gcs2s3.stages.image_names import find_thumbnail_claims, thumbnail_key
from gcs2s3.testing.in_memory_plan import find_collisions

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC))


def test_flatten_replaces_every_slash_of_the_name_only() -> None:
    rules = KeyRules(path="exports/", s3_prefix="wp/uploads/", archive_prefix="archive/", flatten=True)
    rel = relative_name("exports/a/b//c.csv", "exports/")
    assert rules.dest_key(rel) == "wp/uploads/a_b__c.csv"
    assert KeyRules("exports/", "wp/uploads/", "archive/", False).dest_key(rel) == "wp/uploads/a/b//c.csv"


def test_path_is_a_prefix_not_a_directory() -> None:
    assert relative_name("reports/q1.csv", "rep") == "orts/q1.csv"


def test_archive_name_matches_the_design_example() -> None:
    created = datetime(2026, 11, 24, 22, 4, 59, 812000, tzinfo=UTC)
    assert archive_name("reports_q1.csv", created) == "reports_q1.20261124T220459Z.csv"
    assert archive_name("a.b/c", created) == "a.b/c.20261124T220459Z"
    assert archive_name("dir/.env", created) == "dir/.env.20261124T220459Z"
    assert archive_name("x.tar.gz", created) == "x.tar.20261124T220459Z.gz"
    assert archive_name("q.csv", created, generation=7) == "q.20261124T220459Z-g7.csv"


def test_archive_time_is_utc_whatever_the_zone_it_arrives_in() -> None:
    local = datetime(2026, 11, 25, 0, 4, 59, tzinfo=timezone(timedelta(hours=2)))
    assert archive_name("r.csv", local) == "r.20261124T220459Z.csv"


@given(names, times)
def test_archive_name_of_a_version_is_stable_and_keeps_the_folder(rel: str, created: datetime) -> None:
    first = archive_name(rel, created)
    assert first == archive_name(rel, created)
    head, _, _ = rel.rpartition("/")
    assert first.startswith(head)
    assert created.strftime("%Y%m%dT%H%M%SZ") in first


@given(st.lists(names, unique=True, max_size=30), st.booleans())
def test_flatten_is_injective_or_the_collision_is_reported(rels: list[str], flatten: bool) -> None:
    pairs = [(rel, dest_name(rel, flatten)) for rel in rels]
    collisions = find_collisions(pairs)
    claimed = [name for group in collisions.values() for name in group]
    free = [(rel, key) for rel, key in pairs if rel not in claimed]
    assert len({key for _, key in free}) == len(free)  # every unreported name has a key of its own
    for key, group in collisions.items():
        assert len(group) >= 2 and all(dest_name(rel, flatten) == key for rel in group)
    if not flatten:
        assert collisions == {}


def test_the_issue_collision_example_is_found() -> None:
    pairs = [(n, dest_name(n, True)) for n in ("a/b_c", "a_b/c", "other")]
    assert find_collisions(pairs) == {"a_b_c": ["a/b_c", "a_b/c"]}


def test_refusals() -> None:
    assert refusal_reason("x/.gcs2s3/state", "x/.gcs2s3/state", "a") is not None
    long_name = "é" * 600  # 1200 UTF-8 bytes
    assert "1200 UTF-8 bytes" in (refusal_reason(long_name, long_name, "a") or "")
    assert refusal_reason("ok.csv", "ok.csv", "archive/ok.20260101T000000Z.csv") is None
    # the archive key is longer than the destination key: it is checked too
    edge = "a" * 1020
    assert "archive key" in (refusal_reason(edge, edge, "archive/" + edge + ".20260101T000000Z") or "")


@pytest.mark.parametrize(("dest", "suffix", "expected"), [
    ("uploads/a.jpg", "-150x150", "uploads/a-150x150.jpg"),
    ("uploads/Photo.JPG", "-300x200", "uploads/Photo-300x200.jpg"),  # WordPress lower-cases the extension
    ("x/my.photo.jpeg", "-scaled", "x/my.photo-scaled.jpeg"),
    ("flat_name.webp", "-rotated", "flat_name-rotated.webp"),
])
def test_thumbnail_keys_are_named_as_wordpress_names_them(dest: str, suffix: str, expected: str) -> None:
    assert thumbnail_key(dest, suffix) == expected


def test_a_source_name_equal_to_another_images_thumbnail_is_claimed() -> None:
    keys = ["m/a.jpg", "m/a-150x150.jpg", "m/B.PNG", "m/B-scaled.png", "m/c-150x150.jpg", "n/a-150x150.jpg",
            "m/report-2024x1080.csv", "m/report.csv"]
    assert find_thumbnail_claims(keys) == {"m/a-150x150.jpg": "m/a.jpg", "m/B-scaled.png": "m/B.PNG"}


@given(st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), min_size=1, max_size=30),
       st.sampled_from(["jpg", "JPEG", "png", "webp", "gif"]), st.integers(1, 9999), st.integers(1, 9999))
def test_every_thumbnail_name_of_an_image_is_claimed(name: str, ext: str, w: int, h: int) -> None:
    image = f"folder/{name}.{ext}"
    for suffix in (f"-{w}x{h}", "-scaled", "-rotated"):
        derived = thumbnail_key(image, suffix)
        assert find_thumbnail_claims([image, derived]) == {derived: image}
