"""The state cache: for each delivered key, which source version it holds and with which headers.

A single-part object's ETag is its MD5, so the two listings alone prove its bytes; a multipart (or
SSE-KMS) object's ETag does not, and no listing shows an object's headers. Without help every object
would cost a HEAD on every run. The cache, one gzipped JSON object at
`<s3_prefix>.gcs2s3/state.json.gz` in the primary bucket, maps dest key -> (ETag, size, source
md5/crc32c/generation, digest of the delivered headers) as last written or confirmed.

The listings stay the truth: an entry is used only when its ETag and size equal the listing's;
anything else (no entry, stale entry, lost or corrupt cache, a cache of an earlier format) falls back
to a HEAD. So a wrong or missing cache costs requests, never a wrong decision.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterator
from dataclasses import dataclass

from gcs2s3.core.headers import META_HEADERS, identity_metadata
from gcs2s3.core.models import DestObject, SourceObject
from gcs2s3.core.shards import Shard, bookkeeping_key
from gcs2s3.run.documents import decode_entries, encode_entries, iter_entries, load_document, put_document
from gcs2s3.stores.protocols import Target

STATE_FORMAT = 3  # 3: as 2, one line per entry (2: every delivered key, with its headers' digest)
LEGACY_FORMAT = 2  # still read


def state_key(s3_prefix: str, shard: Shard | None = None) -> str:
    """Where the cache lives; each shard of a sharded sync has its own."""
    return bookkeeping_key(s3_prefix, "state", shard, ".json.gz")


@dataclass(frozen=True, slots=True)
class StateEntry:
    etag: str
    size: int
    crc32c: str
    generation: int
    md5: str | None = None
    headers: str | None = None  # digest of the headers delivered with it


def vouched(listed: DestObject, entry: StateEntry | None) -> DestObject | None:
    """What a HEAD would say of `listed`, from its cache entry when that is of this exact object."""
    if entry is None or entry.etag != listed.etag or entry.size != listed.size:
        return None
    metadata = identity_metadata(entry.crc32c, entry.generation, entry.md5)
    if entry.headers:
        metadata[META_HEADERS] = entry.headers
    return DestObject(listed.key, listed.size, listed.etag, metadata=metadata)


def pack_entry(entry: StateEntry) -> bytes:
    """An entry as bytes, for a cache streamed in key order (issue 17's planner)."""
    return marshal.dumps((entry.etag, entry.size, entry.crc32c, entry.generation, entry.md5, entry.headers))


def vouched_packed(listed: DestObject, packed: bytes) -> DestObject | None:
    return vouched(listed, StateEntry(*marshal.loads(packed)))


class StateCache:
    def __init__(self, entries: dict[str, StateEntry] | None = None) -> None:
        self.entries = dict(entries or {})

    def vouch(self, listed: DestObject) -> DestObject | None:
        """What a HEAD would say of `listed`, if the cache knows this exact object (same ETag, size)."""
        return vouched(listed, self.entries.get(listed.key))

    def record(self, key: str, etag: str, source: SourceObject, headers: str) -> None:
        self.entries[key] = StateEntry(etag, source.size, source.crc32c, source.generation, source.md5, headers)

    def to_bytes(self) -> bytes:
        return encode_entries(STATE_FORMAT, self.entries)

    @classmethod
    def from_bytes(cls, data: bytes) -> StateCache:
        return cls(decode_entries(data, STATE_FORMAT, StateEntry, "state", legacy=LEGACY_FORMAT))


def load_state(target: Target, bucket: str, key: str) -> StateCache:
    """The cache as stored; empty (with a warning, never an error) when missing or unreadable."""
    _, cache = load_document(target, bucket, key, "state cache", StateCache.from_bytes,
                             "unchanged multipart objects cost a HEAD")
    return cache if cache is not None else StateCache()


def stream_state(target: Target, bucket: str, key: str, chunk_size: int = 1024 * 1024) -> Iterator[tuple[bytes, bytes]]:
    """The stored cache's entries in key order as (key bytes, packed entry) pairs, streamed from the
    store without holding the document (for the streaming planner, core/stream_plan.py)."""
    for name, values in iter_entries(target.iter_body(bucket, key, chunk_size), STATE_FORMAT, "state"):
        yield name.encode("utf-8", "surrogatepass"), pack_entry(StateEntry(**values))


def save_state(target: Target, bucket: str, key: str, cache: StateCache) -> None:
    put_document(target, bucket, key, cache.to_bytes())
