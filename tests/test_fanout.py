"""Parallel listing by top-level folder: same set of items as a flat listing, whatever the layout."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gcs2s3.stores.fanout import fanout_list


def level_lister(keys: list[str], calls: list[tuple[str, bool]]):  # type: ignore[no-untyped-def]
    """What a server answers: flat, or delimited by '/' (items directly under, and sub-prefixes)."""

    def list_level(prefix: str, delimited: bool) -> tuple[list[str], list[str]]:
        calls.append((prefix, delimited))
        under = sorted(k for k in keys if k.startswith(prefix))
        if not delimited:
            return under, []
        items, prefixes = [], set()
        for key in under:
            cut = key.find("/", len(prefix))
            if cut == -1:
                items.append(key)
            else:
                prefixes.add(key[: cut + 1])
        return items, sorted(prefixes)

    return list_level


keys_strategy = st.lists(st.text(alphabet="ab/._", min_size=1, max_size=8), unique=True, max_size=60)


@settings(max_examples=200)
@given(keys_strategy, st.sampled_from(["", "a", "a/", "b/"]), st.integers(1, 4), st.integers(1, 5), st.integers(0, 3))
def test_fanout_yields_exactly_the_flat_listing(
    keys: list[str], prefix: str, max_prefixes: int, in_flight: int, max_depth: int
) -> None:
    calls: list[tuple[str, bool]] = []
    lister = level_lister(keys, calls)
    got = list(fanout_list(lister, prefix, in_flight=in_flight, max_prefixes=max_prefixes, max_depth=max_depth))
    assert sorted(got) == sorted(k for k in keys if k.startswith(prefix))
    assert len(got) == len(set(got))


def test_too_many_folders_fall_back_to_one_flat_listing() -> None:
    calls: list[tuple[str, bool]] = []
    keys = [f"d{i}/x" for i in range(10)] + ["top"]
    assert sorted(fanout_list(level_lister(keys, calls), "", in_flight=2, max_prefixes=5)) == sorted(keys)
    assert calls == [("", True), ("", False)]


def test_walks_down_a_single_folder_to_find_parallelism() -> None:
    calls: list[tuple[str, bool]] = []
    keys = [f"tiny/{i % 10}/{i}.txt" for i in range(50)]
    assert sorted(fanout_list(level_lister(keys, calls), "", in_flight=4)) == sorted(keys)
    assert calls[:2] == [("", True), ("tiny/", True)]
    assert sorted(calls[2:]) == [(f"tiny/{i}/", False) for i in range(10)]
