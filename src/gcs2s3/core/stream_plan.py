"""Planning as a stream: `build_plan`'s decisions from listings sorted by destination key, holding no
per-object record (issue 17's path to ten million objects).

Three steps, each a stream:
1. `mapped(sources)`: every source object in listing order; placeholders and refusals are counted
   here (as `build_plan` counts them), every deliverable name comes out as (destination key bytes,
   packed record) for sorting;
2. the caller sorts both sides by key (run/sorting.py spills to disk beyond a memory bound; a side
   already in destination order, such as GCS's name order with flattening off, needs no sort);
3. `join(sources, targets)`: the merge-join, yielding one Action per source object of this shard.
   Names mapped to one key are adjacent: a collision is a run of equal keys. Collisions are
   collected in `collisions` and their names yield no action; the caller must consume the whole
   stream and refuse the run (CollisionError) before acting on any action when there is one.

The state cache joins as a third sorted stream: an unchanged (or unsure) object is settled from its
entry at the same key, as `run.sync.make_plan` settles it from the cache's dict.

Pure: no I/O. The claims of stages (thumbnails) are not part of this step: they still need the
in-memory planner (`plan.build_plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from gcs2s3.core.headers import delivered_headers
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.models import Action, DestObject, Kind, Plan, SourceObject
from gcs2s3.core.plan import decide, map_source, needs_confirming, resolve
from gcs2s3.core.records import pack_dest, pack_source, unpack_dest, unpack_source
from gcs2s3.core.shards import Shard

Pair = tuple[bytes, bytes]  # (key as UTF-8 bytes, packed record)
Vouch = Callable[[DestObject, bytes], DestObject | None]  # listed object, packed cache entry -> a HEAD's answer


class StreamingPlan:
    """One plan made as a stream. `plan` holds the counts and refusals (never the actions: they are
    yielded); `collisions` is complete once `join` is exhausted."""

    def __init__(self, rules: KeyRules, shard: Shard | None = None) -> None:
        self.rules = rules
        self.mine = shard.owns if shard is not None else (lambda name: True)
        self.plan = Plan()
        self.collisions: dict[str, list[str]] = {}
        self.actions = 0

    def mapped(self, sources: Iterable[SourceObject]) -> Iterator[Pair]:
        for source in sources:
            fit = map_source(self.rules, source, self.mine, self.plan)
            if fit is not None:
                yield fit[0].encode("utf-8"), pack_source(source)

    def listed(self, targets: Iterable[DestObject]) -> Iterator[Pair]:
        """The primary listing without our own bookkeeping objects, as pairs for sorting."""
        for target in targets:
            if not self.rules.is_bookkeeping(target.key):
                yield target.key.encode("utf-8"), pack_dest(target)

    def join(self, sources: Iterable[Pair], targets: Iterable[Pair], cache: Iterable[Pair] = (),
             vouch: Vouch | None = None) -> Iterator[Action]:
        """Both sides sorted by key: the actions of this shard's objects, in key order. With `cache`
        (the state cache's entries, sorted by key) and `vouch` (what a HEAD would say of a listed object,
        from its packed entry), an action that needs confirming is settled from the cache as
        `run.sync.make_plan` settles it; one the cache cannot settle still needs a HEAD
        (`plan.needs_confirming`)."""
        listed = iter(targets)
        pending = next(listed, None)
        cached = iter(cache)
        entry = next(cached, None)
        for key, group in _groups(sources):
            while pending is not None and pending[0] < key:
                self.plan.target_only += self.mine(unpack_dest(pending[1]).key)
                pending = next(listed, None)
            target = None
            if pending is not None and pending[0] == key:
                target = unpack_dest(pending[1])
                pending = next(listed, None)
            if len(group) > 1:
                names = sorted(unpack_source(record).name for record in group)
                self.collisions[key.decode("utf-8")] = names
                continue
            action = self._action(unpack_source(group[0]), target, key.decode("utf-8"))
            if action is None:
                continue
            if vouch is not None and action.existing is not None and needs_confirming(action):
                while entry is not None and entry[0] < key:
                    entry = next(cached, None)
                if entry is not None and entry[0] == key:
                    settled = _settled(action, vouch(action.existing, entry[1]))
                    action = settled or action
            self.actions += 1
            yield action
        while pending is not None:
            self.plan.target_only += self.mine(unpack_dest(pending[1]).key)
            pending = next(listed, None)

    def _action(self, source: SourceObject, target: DestObject | None, dest: str) -> Action | None:
        if not self.mine(source.name):
            return None
        headers, unfit = delivered_headers(source)
        if unfit:  # refused for its headers (counted in `mapped`): its key stays claimed, nothing done
            return None
        kind, reason = decide(source, target)
        return Action(kind, source, dest, self.rules.archive_key(dest, source.created), reason, target, (), headers)


def _settled(action: Action, vouched: DestObject | None) -> Action | None:
    """The action settled by what the cache vouches for, when that settles it (as make_plan does)."""
    if vouched is None:
        return None
    settled = resolve(action, vouched)
    return settled if settled.kind in (Kind.UNCHANGED, Kind.HEADERS) else None


def _groups(pairs: Iterable[Pair]) -> Iterator[tuple[bytes, list[bytes]]]:
    """Runs of equal keys: (key, [records])."""
    key: bytes | None = None
    group: list[bytes] = []
    for k, record in pairs:
        if k != key:
            if key is not None:
                yield key, group
            key, group = k, []
        group.append(record)
    if key is not None:
        yield key, group
