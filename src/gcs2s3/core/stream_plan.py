"""Planning as a stream: `build_plan`'s decisions from listings sorted by destination key, holding no
per-object record, so that ten million objects plan in the memory of a small task.

Three steps, each a stream:
1. `mapped(sources)`: every source object in listing order; placeholders and refusals are counted
   here (as `build_plan` counts them), every deliverable name comes out as (destination key bytes,
   packed record) for sorting;
2. the caller sorts both sides by key (run/sorting.py spills to disk beyond a memory bound). Even
   with flattening off, where GCS's name order is the destination order, a run sorts: its listings
   walk folders in parallel and arrive interleaved, not in name order;
3. `join(sources, targets)`: the merge-join, yielding one Action per source object of this shard.
   Names mapped to one key are adjacent: a collision is a run of equal keys. Collisions are
   collected in `collisions` and their names yield no action; the caller must consume the whole
   stream and refuse the run (CollisionError) before acting on any action when there is one.

The state cache joins as a third sorted stream: an unchanged (or unsure) object is settled from its
entry at the same key, as the in-memory planning settled it from the cache's dict.

The stages' claims (thumbnails) are found a group of keys at a time: `mapped` and `listed` hand each
key, under every group of the claimant's `scope`, to a sink the caller sorts by group;
`claims` asks the claimant once per group and yields its attachments by destination key, which the
caller sorts and hands to `join` as a fourth stream. A claimant's refusals are collected in
`claim_errors` (raised by the caller after the collisions, as `build_plan` raises them).

Pure: no I/O (the caller owns sorting and spilling: run/planning.py).
"""

from __future__ import annotations

import enum
import heapq
import marshal
from collections.abc import Callable, Iterable, Iterator, Sequence

from gcs2s3.core.errors import CollisionError, ConfigError
from gcs2s3.core.headers import delivered_headers
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.merge_join import Cursor
from gcs2s3.core.models import NO_ATTACHMENTS, Action, DestObject, Kind, Plan, SourceObject
from gcs2s3.core.packing import pack_dest, pack_source, unpack_dest, unpack_source
from gcs2s3.core.plan import Claimant, decide, map_source, needs_confirming, resolve
from gcs2s3.core.shards import Shard

Pair = tuple[bytes, bytes]  # (key as UTF-8 bytes, packed record)
Vouch = Callable[[DestObject, bytes], DestObject | None]  # listed object, packed cache entry -> a HEAD's answer
Sink = Callable[[bytes, bytes], None]  # takes (group, record) pairs for sorting



class Side(enum.IntEnum):
    """What a record in a claimant's group is: a source name mapped to its key, or a listed key."""

    NAME = 0  # (NAME, dest key, source name)
    LISTED = 1  # (LISTED, listed key, its ETag)


class StreamingPlan:
    """One plan made as a stream. `plan` holds the counts and refusals (never the actions: they are
    yielded); `collisions` is complete once `join` is exhausted."""

    def __init__(self, rules: KeyRules, shard: Shard | None = None, claimants: Sequence[Claimant] = ()) -> None:
        self.rules = rules
        self.mine = shard.owns if shard is not None else (lambda name: True)
        self.claimants = tuple(claimants)
        self.plan = Plan()
        self.collisions: dict[str, list[str]] = {}
        self.claim_errors: list[ConfigError] = []
        self._attached_mine = 0  # listed keys claimed by a stage that this shard would count as target-only

    def mapped(self, sources: Iterable[SourceObject], scoped: Sequence[Sink] = ()) -> Iterator[Pair]:
        """`scoped`: one sink per claimant, given every mapped key under its groups."""
        for source in sources:
            mapped = map_source(self.rules, source, self.mine, self.plan)
            if mapped is not None:
                dest = mapped.dest
                for claimant, sink in zip(self.claimants, scoped, strict=True):
                    for group in claimant.scope(dest):
                        sink(group, marshal.dumps((Side.NAME.value, dest, source.name)))
                acted_on = mapped.unfit is None and self.mine(source.name)
                # Another shard's name, or one refused for its headers, only takes its key: its name is
                # all the collision check needs.
                yield dest.encode("utf-8"), pack_source(source) if acted_on else _NAME_ONLY + _encoded(source.name)

    def listed(self, targets: Iterable[DestObject], scoped: Sequence[Sink] = ()) -> Iterator[Pair]:
        """The primary listing without our own bookkeeping objects, as pairs for sorting."""
        for target in targets:
            if not self.rules.is_bookkeeping(target.key):
                for claimant, sink in zip(self.claimants, scoped, strict=True):
                    for group in claimant.scope(target.key):
                        sink(group, marshal.dumps((Side.LISTED.value, target.key, target.etag)))
                yield target.key.encode("utf-8"), pack_dest(target)

    def claims(self, claimant: Claimant, grouped: Iterable[Pair]) -> Iterator[Pair]:
        """One claimant's attachments, group by group (`grouped`: its sink's pairs sorted by group, stable):
        (destination key, packed (keys, their ETags)) pairs, for sorting by key."""
        for _, records in _groups(grouped):
            names: dict[str, str] = {}
            listed: dict[str, str] = {}
            for record in records:
                side, key, value = marshal.loads(record)
                if side == Side.NAME:
                    names[key] = value
                else:
                    listed[key] = value
            try:
                attached = claimant.claim(names, list(listed))
            except ConfigError as exc:  # a refusal (CollisionError, ThumbnailCollisionError, ...)
                self.claim_errors.append(exc)
                continue
            seen: set[str] = set()
            for dest, keys in attached.items():
                seen.update(keys)
                yield dest.encode("utf-8"), marshal.dumps((tuple(keys), tuple(listed[key] for key in keys)))
            self._attached_mine += sum(self.mine(key) for key in seen)

    def join(self, sources: Iterable[Pair], targets: Iterable[Pair], cache: Iterable[Pair] = (),
             vouch: Vouch | None = None, attached: Iterable[Pair] = ()) -> Iterator[tuple[Action, bool]]:
        """Both sides sorted by key: the actions of this shard's objects, in key order. With `cache`
        (the state cache's entries, sorted by key) and `vouch` (what a HEAD would say of a listed object,
        from its packed entry), an action that needs confirming is settled from the cache when the
        entry vouches for it; one the cache cannot settle still needs a HEAD
        (`plan.needs_confirming`); each action comes with whether it still needs one. `attached`: the
        claims' attachments sorted by key (`claims`)."""
        def target_only(_: bytes, packed: bytes) -> None:
            self.plan.target_only += self.mine(unpack_dest(packed).key)

        listed = Cursor(targets, passed=target_only)
        cached = Cursor(cache)
        claimed = Cursor(attached)
        for key, group in _groups(sources):
            packed = listed.first(key)
            target = unpack_dest(packed) if packed is not None else None
            claims = claimed.take(key)
            if len(group) > 1:
                self.collisions[key.decode("utf-8")] = sorted(_name(record) for record in group)
                continue
            own: dict[str, str] = {}
            for claim in claims:
                keys, etags = marshal.loads(claim)
                own.update(zip(keys, etags, strict=True))
            if group[0].startswith(_NAME_ONLY):  # a name that takes its key and nothing more
                continue
            action = self._action(unpack_source(group[0]), target, key.decode("utf-8"), own)
            unsure = needs_confirming(action)
            if vouch is not None and action.existing is not None and unsure:
                entry = cached.first(key)
                if entry is not None:
                    settled = _settled(action, vouch(action.existing, entry))
                    action, unsure = (settled, False) if settled else (action, True)
            yield action, unsure
        for key, packed in listed.rest():
            target_only(key, packed)
        self.plan.target_only -= self._attached_mine

    def _action(self, source: SourceObject, target: DestObject | None, dest: str, attached: dict[str, str]) -> Action:
        headers, _ = delivered_headers(source)  # fit: `mapped` packed it whole
        kind, reason = decide(source, target)
        self.plan.attached_in_target += len(attached)
        own = {key: attached[key] for key in sorted(attached)} if attached else NO_ATTACHMENTS
        return Action(kind, source, dest, self.rules.archive_key(dest, source.created), reason, target, own, headers)

    def refuse(self) -> None:
        """Raise what refuses the run once `join` is exhausted: a collision, else a claimant's refusal
        (all of its groups' refusals in one error of its type)."""
        if self.collisions:
            raise CollisionError(self.collisions)
        if self.claim_errors:
            first = self.claim_errors[0]
            merged: dict[str, object] = {}
            for error in self.claim_errors:
                if type(error) is type(first):
                    merged.update(_refused(error))
            raise type(first)(merged)  # type: ignore[arg-type]


def _settled(action: Action, vouched: DestObject | None) -> Action | None:
    """The action settled by what the cache vouches for, when that settles it."""
    if vouched is None:
        return None
    settled = resolve(action, vouched)
    return settled if settled.kind in (Kind.UNCHANGED, Kind.HEADERS) else None


_NAME_ONLY = b"\x00"  # a mapped record that is only a name (marshal's output never starts so)


def _encoded(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass")


def _name(record: bytes) -> str:
    """The source name of a mapped record (a packed object, or just its name)."""
    if record.startswith(_NAME_ONLY):
        return record[1:].decode("utf-8", "surrogatepass")
    return unpack_source(record).name


def _refused(error: ConfigError) -> dict[str, object]:
    """The {key: ...} a claimant's refusal was made from (`collisions` or `claims`)."""
    for name in ("collisions", "claims"):
        value = getattr(error, name, None)
        if isinstance(value, dict):
            return value
    raise error


def merge_sorted(streams: Sequence[Iterable[Pair]]) -> Iterator[Pair]:
    """Streams of pairs sorted by key as one, stable (of equal keys, the earlier stream's first): the
    claimants' attachments for `join` (which unions equal keys), a claimant's names and listed keys."""
    return heapq.merge(*streams, key=lambda pair: pair[0]) if len(streams) != 1 else iter(streams[0])


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
