"""Pure planning: a merge-join of the source listing and the primary target's listing.

No I/O here. Each source object becomes an Action (new / changed / unchanged / check) with its
reason and the headers it is to be delivered with; `resolve` then settles, from the state cache or a
HEAD, what the listings cannot show (the headers' digest, the bytes of multipart objects), turning an
action into unchanged, changed or headers (same bytes, new headers). Names (or headers) that cannot be
delivered become Refusals; two names claiming one key stop the run
(CollisionError) before anything is written. Stages take part through `Claimant.claim` (a stage
refuses names its output would overwrite, and names the keys in the primary target that belong to a
source object); the planner knows no stage by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from gcs2s3.core.errors import CollisionError
from gcs2s3.core.headers import META_CRC32C, META_HEADERS, META_MD5, delivered_headers, digest
from gcs2s3.core.keys import KeyRules, find_collisions, refusal_reason, relative_name
from gcs2s3.core.models import Action, DestObject, Headers, Kind, Plan, Refusal, SourceObject, is_md5_etag
from gcs2s3.core.shards import Shard


class Claimant(Protocol):
    """What the planner asks of a stage (run.hooks.Stage has this hook)."""

    def claim(self, names: Mapping[str, str], listed: Sequence[str]) -> Mapping[str, Sequence[str]]:
        """`names`: {dest key: source name} of every deliverable name; `listed`: the primary target's keys.
        Raise a CollisionError to refuse the run; return {dest key: listed keys that belong to it}."""
        ...


def claim_scope(claimant: object, key: str) -> tuple[bytes, ...]:
    """The groups of keys `key` takes part in for `claimant`'s claims (its `claim_scope`, when it has
    one): the streaming planner asks `claim` once per group, with only that group's keys. A claimant
    without one sees every key at once (one group). Groups are compared as bytes: a group must always
    be encoded the same way."""
    scope = getattr(claimant, "claim_scope", None)
    return scope(key) if scope is not None else (b"",)


def is_placeholder(source: SourceObject) -> bool:
    """A GCS console "folder": a name ending in '/' with no content."""
    return source.name.endswith("/") and source.size == 0


def decide(source: SourceObject, target: DestObject | None) -> tuple[Kind, str]:
    """Compare a source version with what the listing shows at its destination key. UNCHANGED means
    the bytes are proven the same (ETag = MD5); the headers are then still to be confirmed (`resolve`)."""
    if target is None:
        return Kind.NEW, "not in target"
    if target.size != source.size:
        return Kind.CHANGED, f"size differs (source {source.size}, target {target.size})"
    if source.md5 is None:
        return Kind.CHECK, "source has no MD5 (composite object): target metadata decides"
    if not target.etag_is_md5:
        return Kind.CHECK, "target ETag is not an MD5 (multipart upload): target metadata decides"
    if target.etag == source.md5:
        return Kind.UNCHANGED, "ETag equals source MD5"
    return Kind.CHECK, "target ETag differs from source MD5: target metadata decides"


def needs_confirming(action: Action) -> bool:
    """Whether the state cache or a HEAD must settle this action (its headers, or its bytes too)."""
    return action.kind in (Kind.UNCHANGED, Kind.CHECK)


def resolve(action: Action, head: DestObject | None) -> Action:
    """Settle an UNCHANGED or CHECK action with what a HEAD of its destination (or the state cache)
    says: the bytes (unless the ETag already proved them) and the headers' digest."""
    if head is None:
        return _with(action, Kind.NEW, "not in target (removed since listing)", None)
    source = action.source
    meta = head.metadata or {}
    proven = action.kind is Kind.UNCHANGED and is_md5_etag(head.etag) and head.etag == source.md5
    same = head.size == source.size and (proven or (
        meta.get(META_CRC32C) == source.crc32c and (source.md5 is None or meta.get(META_MD5) == source.md5)
    ))
    if not same:
        return _with(action, Kind.CHANGED, "target metadata hashes differ from source", head)
    if meta.get(META_HEADERS) == digest(action.headers):
        reason = action.reason if proven else "target metadata holds the source hashes"
        return _with(action, Kind.UNCHANGED, reason, head)
    why = "headers changed at the source" if META_HEADERS in meta else "delivered without the source's headers"
    return _with(action, Kind.HEADERS, f"same bytes; {why}: rewritten in place", head)


def _with(action: Action, kind: Kind, reason: str, target: DestObject | None) -> Action:
    return Action(kind, action.source, action.dest_key, action.archive_key, reason, target or action.existing,
                  action.attached, action.headers, action.attached_etags)


def map_source(
    rules: KeyRules, source: SourceObject, mine: Callable[[str], bool], plan: Plan
) -> tuple[str, str, Headers, str | None] | None:
    """One listed source object's keys and delivered headers (dest, archive, headers, why its headers
    cannot be delivered), or None when it takes no key: a placeholder or a refused name (counted in
    `plan`). A name refused for its headers still takes its key (collisions count it) and is refused
    in `plan`; another shard's names (`mine` false) are only mapped, for the collision check."""
    if is_placeholder(source):
        plan.placeholders += mine(source.name)
        return None
    rel = relative_name(source.name, rules.path)
    if not rel:
        if mine(source.name):
            plan.refused.append(Refusal(source.name, "name equals `path` itself; set path to its folder"))
        return None
    dest = rules.dest_key(rel)
    archive = rules.archive_key(dest, source.created)
    reason = refusal_reason(rel, dest, archive)
    ours = mine(source.name)
    headers, unfit = delivered_headers(source) if ours else (Headers(), None)
    if (reason or unfit) and ours:
        plan.refused.append(Refusal(source.name, reason or f"not delivered: {unfit}"))
    return None if reason else (dest, archive, headers, unfit)


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
    actions: list[Action] = []
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
        own = tuple(sorted(attached.get(dest, ())))
        plan.attached_in_target += len(own)
        actions.append(Action(kind, source, dest, archive, reason, target, own, headers,
                              tuple(etags[key] for key in own)))
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
