"""The state cache: for each delivered key whose ETag is not an MD5, which source version it holds.

A single-part object's ETag is its MD5, so the two listings alone decide whether it changed. A multipart
(or SSE-KMS) object's ETag is not, and without help every such object costs a HEAD on every run. The
cache, one small gzipped JSON object at `<s3_prefix>.gcs2s3/state.json.gz` in the primary bucket,
maps dest key -> (ETag, size, source md5/crc32c/generation) as last written or confirmed.

The listings stay the truth: an entry is used only when its ETag and size equal the listing's, and
only to conclude "unchanged"; anything else (no entry, stale entry, lost or corrupt cache) falls back
to a HEAD. So a wrong or missing cache costs requests, never a wrong decision.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import asdict, dataclass

from gcs2s3.errors import Gcs2s3Error
from gcs2s3.hashes import BodyHasher
from gcs2s3.keys import RESERVED_SEGMENT
from gcs2s3.models import SourceObject, TargetObject
from gcs2s3.plan import identity_metadata
from gcs2s3.shards import Shard
from gcs2s3.stores.base import TargetStore

log = logging.getLogger(__name__)
STATE_FORMAT = 1


def state_key(s3_prefix: str, shard: Shard | None = None) -> str:
    """Where the cache lives; each shard of a sharded sync has its own."""
    return f"{s3_prefix}{RESERVED_SEGMENT}/state{shard.file_suffix if shard else ''}.json.gz"


@dataclass(frozen=True, slots=True)
class Entry:
    etag: str
    size: int
    crc32c: str
    generation: int
    md5: str | None = None


class StateCache:
    def __init__(self, entries: dict[str, Entry] | None = None) -> None:
        self.entries = dict(entries or {})

    def vouch(self, listed: TargetObject) -> TargetObject | None:
        """What a HEAD would say of `listed`, if the cache knows this exact object (same ETag, size)."""
        entry = self.entries.get(listed.key)
        if entry is None or entry.etag != listed.etag or entry.size != listed.size:
            return None
        metadata = identity_metadata(entry.crc32c, entry.generation, entry.md5)
        return TargetObject(listed.key, listed.size, listed.etag, metadata=metadata)

    def record(self, key: str, etag: str, source: SourceObject) -> None:
        self.entries[key] = Entry(etag, source.size, source.crc32c, source.generation, source.md5)

    def to_bytes(self) -> bytes:
        entries = {key: asdict(entry) for key, entry in sorted(self.entries.items())}
        text = json.dumps({"format": STATE_FORMAT, "entries": entries}, separators=(",", ":"))
        return gzip.compress(text.encode("utf-8"), mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> StateCache:
        document = json.loads(gzip.decompress(data))
        if document.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown state format {document.get('format')!r}")
        return cls({key: Entry(**fields) for key, fields in document["entries"].items()})


def load_state(target: TargetStore, bucket: str, key: str) -> StateCache:
    """The cache as stored; empty (with a warning, never an error) when missing or unreadable."""
    data = read_document(target, bucket, key, "state cache", "unchanged multipart objects cost a HEAD")
    if data is None:
        return StateCache()
    try:
        return StateCache.from_bytes(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("state cache s3://%s/%s is unreadable (%s); it will be rewritten", bucket, key, exc)
        return StateCache()


def save_state(target: TargetStore, bucket: str, key: str, cache: StateCache) -> None:
    put_document(target, bucket, key, cache.to_bytes())


def read_document(target: TargetStore, bucket: str, key: str, what: str, consequence: str) -> bytes | None:
    """One of our bookkeeping objects; None when missing, or (with a warning) when it cannot be read."""
    try:
        return target.read_small(bucket, key)
    except Gcs2s3Error as exc:
        log.warning("%s s3://%s/%s not read (%s); %s", what, bucket, key, exc, consequence)
        return None


def put_document(target: TargetStore, bucket: str, key: str, body: bytes) -> None:
    hasher = BodyHasher()
    hasher.update(body)
    target.put(bucket, key, body, md5_b64=hasher.md5_b64, crc32c=hasher.crc32c, metadata={}, if_absent=False)
