"""Pure planning: merge-join decisions, refusals, placeholders, collisions, CHECK resolution."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcs2s3.core.errors import CollisionError, ThumbnailCollisionError
from gcs2s3.core.headers import delivered_headers, object_metadata
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.models import DestObject, Kind, SourceObject
from gcs2s3.core.plan import resolve
from gcs2s3.stages.thumbnails.thumbnailer import thumbnail_claims
from gcs2s3.testing.in_memory_plan import build_plan

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MD5 = "0" * 31 + "1"


def src(name: str, size: int = 3, md5: str | None = MD5, crc: str = "AAAAAA==") -> SourceObject:
    return SourceObject(name, size, md5, crc, 11, T0)


RULES = KeyRules(path="in/", s3_prefix="out/", archive_prefix="arc/", flatten=True)


def test_new_unchanged_changed_and_check() -> None:
    sources = [
        src("in/a/new.csv"), src("in/same.csv"), src("in/bigger.csv", 9), src("in/multi.bin"), src("in/nomd5", md5=None)
    ]
    targets = [
        DestObject("out/same.csv", 3, MD5),
        DestObject("out/bigger.csv", 3, MD5),
        DestObject("out/multi.bin", 3, "abc-2"),
        DestObject("out/nomd5", 3, MD5),
        DestObject("out/zzz-old.csv", 1, MD5),
        DestObject("out/.gcs2s3/state.json.gz", 1, MD5),
    ]
    plan = build_plan(RULES, sources, targets)
    kinds = {a.dest_key: a.kind for a in plan.actions}
    assert kinds == {
        "out/a_new.csv": Kind.NEW,
        "out/same.csv": Kind.UNCHANGED,
        "out/bigger.csv": Kind.CHANGED,
        "out/multi.bin": Kind.CHECK,
        "out/nomd5": Kind.CHECK,
    }
    assert plan.target_only == 1  # bookkeeping keys are not content
    new = next(a for a in plan.actions if a.kind is Kind.NEW)
    assert new.archive_key == "arc/a_new.20260102T030405Z.csv"


def test_placeholders_are_skipped_and_refusals_listed() -> None:
    plan = build_plan(RULES, [src("in/folder/", 0), src("in/folder/", 5), src("in/.gcs2s3/x"), src("in/")], [])
    assert plan.placeholders == 1
    assert [a.dest_key for a in plan.actions] == ["out/folder_"]  # a "/"-ended name with content is content
    assert sorted(r.name for r in plan.refused) == ["in/", "in/.gcs2s3/x"]


def test_collision_refuses_the_whole_plan_naming_both() -> None:
    with pytest.raises(CollisionError) as caught:
        build_plan(RULES, [src("in/a/b_c"), src("in/a_b/c")], [])
    assert "'in/a/b_c' and 'in/a_b/c'" in str(caught.value)
    assert caught.value.exit_code == 2


def test_resolve_trusts_metadata_only_when_every_hash_matches() -> None:
    source = src("in/multi.bin")
    action = build_plan(RULES, [source], [DestObject("out/multi.bin", 3, "abc-2")]).actions.items[0]
    written = object_metadata(source, delivered_headers(source)[0])
    good = DestObject("out/multi.bin", 3, "abc-2", metadata=written)
    assert resolve(action, good).kind is Kind.UNCHANGED
    stale = DestObject("out/multi.bin", 3, "abc-2", metadata={**written, "source-md5": "f" * 32})
    assert resolve(action, stale).kind is Kind.CHANGED
    assert resolve(action, DestObject("out/multi.bin", 3, "abc-2", metadata={})).kind is Kind.CHANGED
    assert resolve(action, None).kind is Kind.NEW


@given(st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=25), st.data())
def test_merge_join_matches_a_dictionary_lookup(names: list[str], data: st.DataObject) -> None:
    rules = KeyRules(path="", s3_prefix="", archive_prefix="arc/", flatten=False)
    present = data.draw(st.lists(st.sampled_from(names), unique=True) if names else st.just([]))
    extra = data.draw(st.lists(st.text(min_size=1, max_size=12).filter(lambda n: n not in names), unique=True))
    targets = [DestObject(n, 3, MD5) for n in present + extra]
    plan = build_plan(rules, [src(n) for n in names if ".gcs2s3" not in n.split("/")], targets)
    for action in plan.actions:
        expected = Kind.UNCHANGED if action.dest_key in present else Kind.NEW
        assert action.kind is expected
    assert plan.target_only == len([n for n in extra if ".gcs2s3" not in n.split("/")])


# The thumbnails stage's claim, as the planner sees it (no settings needed).
THUMBNAILS = [SimpleNamespace(claim=thumbnail_claims)]


def test_with_thumbnails_a_thumbnail_name_is_refused_and_derived_files_are_found() -> None:
    with pytest.raises(ThumbnailCollisionError) as caught:
        build_plan(RULES, [src("in/x/a.jpg"), src("in/x_a-150x150.jpg")], [], claimants=THUMBNAILS)
    assert caught.value.claims == {"out/x_a-150x150.jpg": ("in/x_a-150x150.jpg", "in/x/a.jpg")}
    assert "thumbnail name of 'in/x/a.jpg'" in str(caught.value)
    assert len(build_plan(RULES, [src("in/x/a.jpg"), src("in/x_a-150x150.jpg")], []).actions) == 2  # off: fine

    targets = [DestObject(k, 3, MD5) for k in (
        "out/p.jpg", "out/p-150x150.jpg", "out/p-300x200.jpg", "out/p-scaled.jpg", "out/p-2.jpg",
        "out/q-150x150.jpg", "out/doc-150x150.pdf")]
    plan = build_plan(RULES, [src("in/p.jpg"), src("in/doc.pdf")], targets, claimants=THUMBNAILS)
    derived = {a.dest_key: tuple(a.attached) for a in plan.actions}
    assert derived == {"out/p.jpg": ("out/p-150x150.jpg", "out/p-300x200.jpg", "out/p-scaled.jpg"), "out/doc.pdf": ()}
    assert plan.attached_in_target == 3 and plan.target_only == 3  # p-2.jpg, q-150x150.jpg, doc-150x150.pdf
