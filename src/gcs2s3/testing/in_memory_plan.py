"""The in-memory reference planning, kept for the tests and the benchmarks, never run by a sync:
`build_plan` (both listings held, a merge-join), the state cache as a dict (`StateCache`, `load_state`),
whole documents (`load_document`, `encode_entries`) and `external_sort`. The property test checks that
the streaming planner (run/planning.py) gives the same plans, and `bench/plan_scale.py` measures both.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from gcs2s3.core.errors import CollisionError, Gcs2s3Error, NotFoundError
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.models import Action, ActionList, DestObject, Headers, Kind, Plan, SourceObject
from gcs2s3.core.plan import Claimant, decide, map_source, needs_confirming, resolve
from gcs2s3.core.shards import Shard
from gcs2s3.run.documents import PARSE_ERRORS, Found, decode_entries
from gcs2s3.run.sorting import RUN_BYTES, ExternalSorter
from gcs2s3.run.state import LEGACY_FORMAT, STATE_FORMAT, StateEntry, state_entry, vouched
from gcs2s3.stores.protocols import Target

T = TypeVar("T")
log = logging.getLogger(__name__)
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


def find_collisions(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Destination keys claimed by more than one source name: {key: [names...]}."""
    claims: dict[str, list[str]] = defaultdict(list)
    for name, key in pairs:
        claims[key].append(name)
    return {key: sorted(names) for key, names in claims.items() if len(names) > 1}


def build_plan(
    rules: KeyRules,
    sources: Iterable[SourceObject],
    targets: Iterable[DestObject],
    *,
    claimants: Sequence[Claimant] = (),
    shard: Shard | None = None,
) -> Plan:
    """Decide what to do with every source object (with `shard`, only with its own: every name is still
    checked for collisions). Raises CollisionError (or a claimant's subclass of it) before deciding anything."""
    mine = shard.owns if shard is not None else (lambda name: True)
    plan = Plan()
    actions = ActionList()
    plan.actions = actions
    mapped: list[tuple[bytes, SourceObject, str, str, Headers, str | None]] = []
    for source in sources:
        fit = map_source(rules, source, mine, plan)
        if fit is not None:
            dest, archive, headers, unfit = fit
            mapped.append((dest.encode("utf-8"), source, dest, archive, headers, unfit))

    collisions = find_collisions((source.name, dest) for _, source, dest, *_ in mapped)
    if collisions:
        raise CollisionError(collisions)
    target_list = [t for t in targets if not rules.is_bookkeeping(t.key)]
    attached = _attached(claimants, mapped, target_list)

    mapped.sort(key=lambda item: item[0])
    listed = sorted(((t.key.encode("utf-8"), t) for t in target_list), key=lambda item: item[0])
    attached_keys = {key for keys in attached.values() for key in keys}
    etags = {t.key: t.etag for t in target_list if t.key in attached_keys}
    i = 0
    for key_bytes, source, dest, archive, headers, unfit in mapped:
        while i < len(listed) and listed[i][0] < key_bytes:
            plan.target_only += _target_only(listed[i][1].key, attached_keys, mine)
            i += 1
        target = None
        if i < len(listed) and listed[i][0] == key_bytes:
            target = listed[i][1]
            i += 1
        if unfit or not mine(source.name):  # refused for its headers: its key stays claimed, nothing done
            continue
        kind, reason = decide(source, target)
        own = {key: etags[key] for key in sorted(attached.get(dest, ()))}
        plan.attached_in_target += len(own)
        actions.append(Action(kind, source, dest, archive, reason, target, own, headers))
    plan.target_only += sum(_target_only(t.key, attached_keys, mine) for _, t in listed[i:])
    return plan


def _target_only(key: str, attached: set[str], mine: Callable[[str], bool]) -> int:
    """1 when `key` counts as target-only for this shard (an attached key is counted with its object)."""
    return int(key not in attached and mine(key))


def _attached(
    claimants: Sequence[Claimant],
    mapped: list[tuple[bytes, SourceObject, str, str, Headers, str | None]],
    targets: list[DestObject],
) -> dict[str, set[str]]:
    """Every claimant's refusals (raised) and attachments, merged: {dest key: listed keys of its own}."""
    if not claimants:
        return {}
    names = {dest: source.name for _, source, dest, *_ in mapped}
    listed = [t.key for t in targets]
    attached: dict[str, set[str]] = {}
    for claimant in claimants:
        for dest, keys in claimant.claim(names, listed).items():
            attached.setdefault(dest, set()).update(keys)
    return attached


class StateCache:
    def __init__(self, entries: dict[str, StateEntry] | None = None) -> None:
        self.entries = dict(entries or {})

    def vouch(self, listed: DestObject) -> DestObject | None:
        """What a HEAD would say of `listed`, if the cache knows this exact object (same ETag, size)."""
        return vouched(listed, self.entries.get(listed.key))

    def record(self, key: str, etag: str, source: SourceObject, headers: str) -> None:
        self.entries[key] = state_entry(etag, source, headers)

    def to_bytes(self) -> bytes:
        return encode_entries(STATE_FORMAT, self.entries)

    @classmethod
    def from_bytes(cls, data: bytes) -> StateCache:
        return cls(decode_entries(data, STATE_FORMAT, StateEntry, "state", legacy=LEGACY_FORMAT))


def load_state(target: Target, key: str) -> StateCache:
    """The cache as stored; empty (with a warning, never an error) when missing or unreadable."""
    _, cache = load_document(target, key, "state cache", StateCache.from_bytes,
                             "unchanged multipart objects cost a HEAD")
    return cache if cache is not None else StateCache()


def load_document(
    target: Target, key: str, what: str, parse: Callable[[bytes], T], not_read: str
) -> tuple[Found, T | None]:
    """The document parsed, or why there is none. `not_read` says what a failed read costs."""
    try:
        data = target.get(key).body
    except NotFoundError:
        return Found.MISSING, None
    except Gcs2s3Error as exc:
        log.warning("%s s3://%s/%s not read (%s); %s", what, target.bucket, key, exc, not_read)
        return Found.NOT_READ, None
    try:
        return Found.READ, parse(data)
    except PARSE_ERRORS as exc:
        log.warning("%s s3://%s/%s is unreadable (%s); it will be rewritten", what, target.bucket, key, exc)
        return Found.UNREADABLE, None


def encode_entries(format_version: int, entries: dict[str, Any]) -> bytes:
    """A header line `{"format":N,"fields":[...]}`, then one line per entry, `[key,value,...]`, sorted by
    key, gzipped (same bytes for same entries). Line by line so that a reader can also stream it in key
    order (`iter_entries`) instead of holding it. Flat dataclasses of plain values: read field by field
    (`asdict` deep-copies, ten times slower)."""
    names = [f.name for f in fields(next(iter(entries.values())))] if entries else []
    lines = [_DUMPS({"format": format_version, "fields": names})]
    lines += [_DUMPS([key, *(getattr(entry, name) for name in names)]) for key, entry in sorted(entries.items())]
    return gzip.compress("\n".join(lines).encode("ascii"), compresslevel=6, mtime=0)


def external_sort(pairs: Iterable[tuple[bytes, bytes]], run_bytes: int = RUN_BYTES,
                  folder: str | None = None) -> Iterator[tuple[bytes, bytes]]:
    """`pairs` sorted by key (bytes order), stable, holding at most about `run_bytes` in memory."""
    sorter = ExternalSorter(run_bytes, folder)
    try:
        sorter.extend(pairs)
        yield from sorter
    finally:
        sorter.close()


def settled_in_memory(plan: Plan, cache: StateCache) -> Plan:
    """`plan` (a list) with every action the cache vouches for settled, as a run settled it then
    (without the HEADs of what the cache cannot settle)."""
    assert isinstance(plan.actions, ActionList)
    for index, action in enumerate(plan.actions):
        if needs_confirming(action) and action.existing is not None:
            vouched = cache.vouch(action.existing)
            settled = resolve(action, vouched) if vouched else None
            if settled and settled.kind in (Kind.UNCHANGED, Kind.HEADERS):
                plan.actions.items[index] = settled
    return plan
