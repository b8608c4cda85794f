"""Pure planning: a merge-join of the source listing and the primary target's listing.

No I/O here. Each source object becomes an Action (new / changed / unchanged / check) with its
reason; names that cannot be delivered become Refusals; two names claiming one key stop the run
(CollisionError) before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from gcs2s3.errors import ConfigError
from gcs2s3.keys import KeyRules, find_collisions, refusal_reason, relative_name
from gcs2s3.models import Action, Kind, Plan, Refusal, SourceObject, TargetObject

META_MD5 = "source-md5"
META_CRC32C = "source-crc32c"
META_GENERATION = "source-generation"


class CollisionError(ConfigError):
    """Two source names map to one destination key (exit 2, nothing written)."""

    def __init__(self, collisions: dict[str, list[str]]) -> None:
        shown = [f"{' and '.join(repr(n) for n in names)} -> {key!r}" for key, names in list(collisions.items())[:10]]
        more = f" (and {len(collisions) - 10} more)" if len(collisions) > 10 else ""
        super().__init__(
            f"{len(collisions)} destination key(s) claimed by more than one source name: "
            + "; ".join(shown) + more + ". Rename one of each, or turn flattening off. Nothing was written."
        )
        self.collisions = collisions


def source_metadata(source: SourceObject) -> dict[str, str]:
    """User metadata stored with every object we write: the source version's identity."""
    return identity_metadata(source.crc32c, source.generation, source.md5)


def identity_metadata(crc32c: str, generation: int, md5: str | None) -> dict[str, str]:
    """The `source-*` user metadata for a version with these hashes (md5 absent for composites)."""
    meta = {META_CRC32C: crc32c, META_GENERATION: str(generation)}
    if md5:
        meta[META_MD5] = md5
    return meta


def is_placeholder(source: SourceObject) -> bool:
    """A GCS console "folder": a name ending in '/' with no content."""
    return source.name.endswith("/") and source.size == 0


def decide(source: SourceObject, target: TargetObject | None) -> tuple[Kind, str]:
    """Compare a source version with what the listing shows at its destination key."""
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


def resolve(action: Action, head: TargetObject | None) -> Action:
    """Settle a CHECK action with what a HEAD of its destination reported."""
    if head is None:
        return _with(action, Kind.NEW, "not in target (removed since listing)", None)
    meta = head.metadata or {}
    same = (
        head.size == action.source.size
        and meta.get(META_CRC32C) == action.source.crc32c
        and (action.source.md5 is None or meta.get(META_MD5) == action.source.md5)
    )
    if same:
        return _with(action, Kind.UNCHANGED, "target metadata holds the source hashes", head)
    return _with(action, Kind.CHANGED, "target metadata hashes differ from source", head)


def _with(action: Action, kind: Kind, reason: str, target: TargetObject | None) -> Action:
    return Action(kind, action.source, action.dest_key, action.archive_key, reason, target or action.target)


def build_plan(rules: KeyRules, sources: Iterable[SourceObject], targets: Iterable[TargetObject]) -> Plan:
    """Decide what to do with every source object. Raises CollisionError before deciding anything."""
    plan = Plan()
    mapped: list[tuple[bytes, SourceObject, str, str]] = []
    for source in sources:
        if is_placeholder(source):
            plan.placeholders += 1
            continue
        rel = relative_name(source.name, rules.path)
        if not rel:
            plan.refused.append(Refusal(source.name, "name equals `path` itself; set path to its folder"))
            continue
        dest = rules.dest_key(rel)
        archive = rules.archive_key(dest, source.created)
        reason = refusal_reason(rel, dest, archive)
        if reason:
            plan.refused.append(Refusal(source.name, reason))
            continue
        mapped.append((dest.encode("utf-8"), source, dest, archive))

    collisions = find_collisions((source.name, dest) for _, source, dest, _ in mapped)
    if collisions:
        raise CollisionError(collisions)

    mapped.sort(key=lambda item: item[0])
    listed = sorted(
        ((t.key.encode("utf-8"), t) for t in targets if not rules.is_bookkeeping(t.key)), key=lambda item: item[0]
    )
    i = 0
    for key_bytes, source, dest, archive in mapped:
        while i < len(listed) and listed[i][0] < key_bytes:
            plan.target_only += 1
            i += 1
        target = None
        if i < len(listed) and listed[i][0] == key_bytes:
            target = listed[i][1]
            i += 1
        kind, reason = decide(source, target)
        plan.actions.append(Action(kind, source, dest, archive, reason, target))
    plan.target_only += len(listed) - i
    return plan
