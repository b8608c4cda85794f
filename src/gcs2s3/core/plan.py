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

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

from gcs2s3.core.headers import META_CRC32C, META_HEADERS, META_MD5, delivered_headers, digest
from gcs2s3.core.keys import KeyRules, refusal_reason, relative_name
from gcs2s3.core.models import Action, DestObject, Headers, Kind, Plan, Refusal, SourceObject, is_md5_etag

ONE_GROUP = (b"",)  # a claimant's scope when its `claim` must see every key at once


class Claimant(Protocol):
    """What the planner asks of a stage that claims keys (a Stage's `claims`, run/hooks.py)."""

    def claim(self, names: Mapping[str, str], listed: Sequence[str]) -> Mapping[str, Sequence[str]]:
        """`names`: {dest key: source name} of the deliverable names of one group; `listed`: the primary
        target's keys of that group. Raise a CollisionError to refuse the run; return {dest key: listed
        keys that belong to it}."""
        ...

    def scope(self, key: str) -> tuple[bytes, ...]:
        """The groups `key` takes part in: the streaming planner asks `claim` once per group, with only
        that group's keys (ONE_GROUP: every key at once). Groups are compared as bytes: a group must
        always be encoded the same way."""
        ...


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
                  action.attached, action.headers)


class Mapped(NamedTuple):
    """Where one listed source object goes, and with which headers."""

    dest: str  # its primary key
    archive: str  # its archive key
    headers: Headers  # what the delivered objects carry
    unfit: str | None  # why those headers cannot be delivered (the object is then refused)


def map_source(rules: KeyRules, source: SourceObject, mine: Callable[[str], bool], plan: Plan) -> Mapped | None:
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
    return None if reason else Mapped(dest, archive, headers, unfit)

