"""The streaming planner (core/stream_plan.py, with run/sorting.py's external sort) decides exactly what
the in-memory planner decides, on random listings with adversarial names: `/` against `_` orderings
under flattening, collisions, refusals, placeholders, bookkeeping keys, shards, sorts that spill to
disk, and the state cache joined as a third sorted stream (settled as make_plan settles)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import astuple
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcs2s3.core.errors import CollisionError, ThumbnailCollisionError
from gcs2s3.core.hashes import crc32c_b64
from gcs2s3.core.headers import delivered_headers, digest
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.models import ActionList, DestObject, Headers, Kind, Plan, PutOptions, SourceObject
from gcs2s3.core.packing import pack_dest, pack_source, unpack_dest, unpack_source
from gcs2s3.core.plan import ONE_GROUP, Claimant
from gcs2s3.core.shards import Shard
from gcs2s3.run import documents
from gcs2s3.run.documents import put_document
from gcs2s3.run.planning import plan_streamed as planned
from gcs2s3.run.state import StateEntry, StoredState, pack_entry, vouched_packed, write_state
from gcs2s3.stages.image_names import thumbnail_key, thumbnail_scope
from gcs2s3.stages.thumbnails.thumbnailer import thumbnail_claims
from gcs2s3.stores.memory import MemoryTarget
from gcs2s3.testing.in_memory_plan import StateCache, build_plan, external_sort, settled_in_memory

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MD5S = ["0" * 32, "1" * 32]
# Few characters, so names meet: '/' and '_' (flattening's swap), '-' and '.' (which sort around
# them), a reserved segment, a non-ASCII letter, and a control character.
# Image names and their thumbnail names, for the stages' claims.
segment = st.sampled_from(["a", "b", "_", "-", ".", ".gcs2s3", "é", "a_b", "x\t", "", "a.jpg", "a.JPG",
                           "a-150x150.jpg", "a_b-2x2.png", "a_b.png", "a-scaled.jpg"])
name = st.lists(segment, min_size=1, max_size=4).map("/".join)
header = st.sampled_from([Headers(), Headers(content_type="image/jpeg"), Headers(cache_control="bad\nvalue"),
                          Headers(metadata=(("k", "v"),))])


@st.composite
def source(draw: st.DrawFn, path: str) -> SourceObject:
    rel = draw(name)
    size = draw(st.sampled_from([0, 3, 5]))
    return SourceObject(path + rel, size, draw(st.sampled_from([*MD5S, None])), "AAAAAA==", draw(st.integers(1, 3)),
                        T0 + timedelta(seconds=draw(st.integers(0, 2))), draw(header))


def plan_in_memory(rules: KeyRules, sources: list[SourceObject], targets: list[DestObject],
                   shard: Shard | None, claimants: Sequence[Claimant] = ()) -> tuple[Plan, dict[str, object]]:
    try:
        return build_plan(rules, sources, targets, shard=shard, claimants=claimants), {}
    except CollisionError as exc:
        return Plan(), {"collisions": exc.collisions}
    except ThumbnailCollisionError as exc:
        return Plan(), {"claims": exc.claims}


def plan_streamed(rules: KeyRules, sources: list[SourceObject], targets: list[DestObject], shard: Shard | None,
                  run_bytes: int, cache: StateCache | None = None,
                  claimants: Sequence[Claimant] = ()) -> tuple[Plan, dict[str, object]]:
    """run/planning.plan_streamed, its spool read back into a list."""
    entries = [(key.encode(), pack_entry(entry)) for key, entry in sorted((cache or StateCache()).entries.items())]
    try:
        plan, spool = planned(rules, sources, targets, shard=shard, claimants=claimants, cache=entries,
                              vouch=vouched_packed, run_bytes=run_bytes)
    except CollisionError as exc:
        return Plan(), {"collisions": exc.collisions}
    except ThumbnailCollisionError as exc:
        return Plan(), {"claims": exc.claims}
    actions = list(spool)
    assert spool.count(*Kind) == len(actions) and spool.size(*Kind) == sum(a.source.size for a in actions)
    plan.actions = ActionList(actions)
    return plan, {}


class GroupedClaims:
    """The thumbnails stage's claims, asked a group of keys at a time (its `scope`)."""

    claim = staticmethod(thumbnail_claims)
    scope = staticmethod(thumbnail_scope)


class WholeClaims:
    """The same claims asked once, with every key (`ONE_GROUP`)."""

    claim = staticmethod(thumbnail_claims)

    @staticmethod
    def scope(key: str) -> tuple[bytes, ...]:
        return ONE_GROUP


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.sampled_from(["", "in/"]), st.sampled_from(["", "out/"]), st.data())
def test_the_streamed_plan_is_the_in_memory_plan(flatten: bool, path: str, prefix: str, data: st.DataObject) -> None:
    rules = KeyRules(path=path, s3_prefix=prefix, archive_prefix="arc/", flatten=flatten)
    sources = data.draw(st.lists(source(path), max_size=14))
    matched = data.draw(st.lists(st.sampled_from(sources), max_size=8)) if sources else []
    keys = [prefix + key for key in data.draw(st.lists(name, max_size=6))]
    keys += [rules.dest_key(s.name[len(path):]) for s in matched if s.name[len(path):]]
    drawn = data.draw(st.lists(st.sampled_from(sources), max_size=4)) if sources else []  # thumbnails in the target
    keys += [thumbnail_key(rules.dest_key(s.name[len(path):]), data.draw(st.sampled_from(["-2x2", "-scaled"])))
             for s in drawn if s.name[len(path):]]
    targets = [DestObject(key, data.draw(st.sampled_from([3, 5])), data.draw(st.sampled_from([*MD5S, "abc-2"])))
               for key in dict.fromkeys(keys)]
    shard = data.draw(st.sampled_from([None, Shard(0, 2), Shard(1, 2)]))
    run_bytes = data.draw(st.sampled_from([1, 300, 1 << 20]))  # 1: every pair its own run on disk
    cache = StateCache()
    for target in data.draw(st.lists(st.sampled_from(targets))) if targets else []:
        like = data.draw(st.sampled_from(sources)) if sources else None
        cache.entries[target.key] = StateEntry(
            data.draw(st.sampled_from([target.etag] * 3 + ["other"])),  # mostly this very object: it settles
            data.draw(st.sampled_from([target.size] * 3 + [9])),
            data.draw(st.sampled_from(["AAAAAA==", "BBBBBB=="])), 1, data.draw(st.sampled_from([*MD5S, None])),
            digest(delivered_headers(like)[0]) if like and data.draw(st.booleans()) else "zzz")
    claimants = data.draw(st.sampled_from([(), (GroupedClaims(),), (WholeClaims(),)]))
    expected, expected_collisions = plan_in_memory(rules, sources, targets, shard, claimants)
    expected = settled_in_memory(expected, cache)
    got, got_collisions = plan_streamed(rules, sources, targets, shard, run_bytes, cache, claimants)
    assert got_collisions == expected_collisions
    assert list(got.actions) == list(expected.actions)
    assert got.refused == expected.refused
    assert (got.placeholders, got.target_only, got.attached_in_target) == (
        expected.placeholders, expected.target_only, expected.attached_in_target)


@given(source(""), st.sampled_from([None, {"source-md5": "x"}]))
def test_packed_records_round_trip(obj: SourceObject, metadata: dict[str, str] | None) -> None:
    assert unpack_source(pack_source(obj)) == obj
    dest = DestObject(obj.name, obj.size, "e", metadata, "AAAAAA==", "FULL_OBJECT")
    assert unpack_dest(pack_dest(dest)) == dest


def test_a_sort_bigger_than_its_memory_bound_spills_and_comes_back_whole_and_stable() -> None:
    pairs = [(bytes([i % 7]), i.to_bytes(4, "big")) for i in range(5000)]
    assert list(external_sort(iter(pairs), run_bytes=4096)) == sorted(pairs, key=lambda p: p[0])


@pytest.mark.parametrize("flatten", [False, True])
def test_a_collision_is_refused_by_both_planners(flatten: bool) -> None:
    rules = KeyRules(path="", s3_prefix="", archive_prefix="arc/", flatten=flatten)
    sources = [SourceObject(n, 3, MD5S[0], "AAAAAA==", 1, T0) for n in ("a/b", "a_b", "a-b", "z")]
    _, collisions = plan_streamed(rules, sources, [], None, 1)
    expected = {"collisions": {"a_b": ["a/b", "a_b"]}} if flatten else {}
    assert collisions == plan_in_memory(rules, sources, [], None)[1] == expected


ODD_KEYS = ["a", "b/c", "é/ü", "line\nbreak", "tab\tand \"quote\"", "lone \udc80 surrogate", "z" * 300]


def test_a_stored_state_cache_streams_in_key_order_as_its_dict_reads_and_the_old_layout_still_reads() -> None:
    from gcs2s3.run.state import stream_state, vouched

    cache = StateCache({key: StateEntry(f"e{i}", i, "AAAAAA==", i, None if i % 2 else MD5S[0], "h")
                        for i, key in enumerate(ODD_KEYS)})
    data = cache.to_bytes()
    assert StateCache.from_bytes(data).entries == cache.entries
    target = MemoryTarget("b").create_bucket()
    target.put("s.json.gz", data, PutOptions(crc32c=crc32c_b64(data)))
    streamed = list(stream_state(target, "s.json.gz", chunk_size=7))
    assert [key for key, _ in streamed] == sorted(key.encode("utf-8", "surrogatepass") for key in ODD_KEYS)
    for key, packed in streamed:
        name = key.decode("utf-8", "surrogatepass")
        listed = DestObject(name, cache.entries[name].size, cache.entries[name].etag)
        assert vouched_packed(listed, packed) == vouched(listed, cache.entries[name])
    legacy = {"format": 2, "entries": {"k": {"etag": "e", "size": 1, "crc32c": "c", "generation": 2, "md5": None,
                                              "headers": "h"}}}
    assert StateCache.from_bytes(gzip.compress(json.dumps(legacy).encode())).entries == {
        "k": StateEntry("e", 1, "c", 2, None, "h")}
    with pytest.raises(ValueError, match="unknown state format 1"):
        StateCache.from_bytes(gzip.compress(b'{"format":1,"entries":{}}'))


def stored(target: MemoryTarget, body: bytes | None) -> StoredState:
    """A StoredState over `body` stored at b/s.json.gz (None: no cache yet), drained."""
    if body is not None:
        put_document(target, "s.json.gz", body)
    state = StoredState(target, "s.json.gz", chunk_size=5)
    state.drain()
    return state


def test_the_state_cache_is_rewritten_only_when_it_changes_and_any_stored_form_reads(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = MemoryTarget("b").create_bucket()
    cache = StateCache({key: StateEntry(f"e{i}", i, "AAAAAA==", i, None, "h") for i, key in enumerate(ODD_KEYS)})
    entries = sorted(cache.entries.items(), key=lambda item: item[0].encode("utf-8", "surrogatepass"))

    first = stored(target, None)  # the first run: nothing stored, nothing to warn about
    assert first.complete and not caplog.records
    assert write_state(target, "s.json.gz", lambda: entries, first)
    again = stored(target, None)
    assert StateCache.from_bytes(target.get("s.json.gz").body).entries == cache.entries
    assert not write_state(target, "s.json.gz", lambda: entries, again)  # unchanged: not rewritten
    changed = [(key, StateEntry("other", *astuple(entry)[1:]) if key == "a" else entry) for key, entry in entries]
    assert write_state(target, "s.json.gz", lambda: changed, again)

    legacy = {"format": 2, "entries": {"k": {"etag": "e", "size": 1, "crc32c": "c", "generation": 2, "md5": None,
                                              "headers": "h"}}}
    put_document(target, "old.json.gz", gzip.compress(json.dumps(legacy).encode()))
    old = StoredState(target, "old.json.gz")
    assert list(old) == [(b"k", pack_entry(StateEntry("e", 1, "c", 2, None, "h")))] and old.complete
    assert old.fingerprint is None  # the earlier layout is rewritten in this one, even unchanged

    corrupt = stored(target, b"not gzip at all")
    assert corrupt.fingerprint is None and "unreadable" in caplog.text  # never equal: it is rewritten
    assert write_state(target, "s.json.gz", lambda: entries, corrupt)

    monkeypatch.setattr(documents, "PART_BYTES", 64)  # a big cache goes up in parts
    many = [(f"k{i:05d}", StateEntry(f"e{i}", i, "AAAAAA==", i, None, "h")) for i in range(300)]
    assert write_state(target, "s.json.gz", lambda: many, corrupt)
    assert list(StateCache.from_bytes(target.get("s.json.gz").body).entries) == [k for k, _ in many]


def test_planning_holds_its_sort_buffers_not_the_objects() -> None:
    """60,000 objects on both sides with 2 MiB of sort buffers: the plan is on disk, and what Python
    allocates at its peak is a small fraction of one record per object (~1 KB each held)."""
    count = 60_000
    rules = KeyRules(path="", s3_prefix="", archive_prefix="arc/", flatten=True)

    def sources() -> Iterator[SourceObject]:
        for i in range(count):
            yield SourceObject(f"d{i % 100}/f{i:06d}.jpg", 3, MD5S[0], "AAAAAA==", 1, T0, Headers("image/jpeg"))

    def targets() -> Iterator[DestObject]:
        for i in range(count):
            yield DestObject(f"d{i % 100}_f{i:06d}.jpg", 3, MD5S[0])

    tracemalloc.start()
    try:
        plan, spool = planned(rules, sources(), targets(), run_bytes=2 << 20)
        walked = sum(1 for _ in plan.actions)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert walked == count == plan.count(Kind.UNCHANGED) and spool.sorted_bytes > 0
    assert peak < 12 << 20, f"{peak / count:.0f} bytes per object"  # measured: ~8 MiB
