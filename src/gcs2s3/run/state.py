"""The state cache: for each delivered key, which source version it holds and with which headers.

A single-part object's ETag is its MD5, so the two listings alone prove its bytes; a multipart (or
SSE-KMS) object's ETag does not, and no listing shows an object's headers. Without help every object
would cost a HEAD on every run. The cache, a gzipped JSON-lines document at
`<s3_prefix>.gcs2s3/state.json.gz` in the primary bucket, maps dest key -> (ETag, size, source
md5/crc32c/generation, digest of the delivered headers) as last written or confirmed. A run streams
it (`StoredState`, joined in key order by the planner) and writes it line by line (`write_state`):
it is never held whole.

The listings stay the truth: an entry is used only when its ETag and size equal the listing's;
anything else (no entry, stale entry, lost or corrupt cache, a cache of an earlier format) falls back
to a HEAD. So a wrong or missing cache costs requests, never a wrong decision.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import marshal
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from gcs2s3.core.errors import Gcs2s3Error, NotFoundError
from gcs2s3.core.headers import META_HEADERS, identity_metadata
from gcs2s3.core.models import DestObject, SourceObject
from gcs2s3.core.shards import Shard, bookkeeping_key
from gcs2s3.run.documents import (
    PARSE_ERRORS,
    EntryWriter,
    decode_entries,
    iter_entries,
    put_file,
)
from gcs2s3.stores.protocols import Target

log = logging.getLogger(__name__)

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


def state_entry(etag: str, source: SourceObject, headers: str) -> StateEntry:
    """What the cache says of a key that holds `source`'s version with the headers of digest `headers`."""
    return StateEntry(etag, source.size, source.crc32c, source.generation, source.md5, headers)


def vouched(listed: DestObject, entry: StateEntry | None) -> DestObject | None:
    """What a HEAD would say of `listed`, from its cache entry when that is of this exact object."""
    if entry is None or entry.etag != listed.etag or entry.size != listed.size:
        return None
    metadata = identity_metadata(entry.crc32c, entry.generation, entry.md5)
    if entry.headers:
        metadata[META_HEADERS] = entry.headers
    return DestObject(listed.key, listed.size, listed.etag, metadata=metadata)


def pack_entry(entry: StateEntry) -> bytes:
    """An entry as bytes, for a cache streamed in key order (the streaming planner). Marshal version 2
    (no shared references, no interning marks): equal entries give equal bytes, which the cache's
    fingerprint relies on."""
    return marshal.dumps((entry.etag, entry.size, entry.crc32c, entry.generation, entry.md5, entry.headers), 2)


def vouched_packed(listed: DestObject, packed: bytes) -> DestObject | None:
    return vouched(listed, StateEntry(*marshal.loads(packed)))


def stream_state(target: Target, key: str, chunk_size: int = 1024 * 1024) -> Iterator[tuple[bytes, bytes]]:
    """The stored cache's entries in key order as (key bytes, packed entry) pairs, streamed from the
    store without holding the document (for the streaming planner, core/stream_plan.py)."""
    for name, values in iter_entries(target.open(key, chunk_size), STATE_FORMAT, "state"):
        yield name.encode("utf-8", "surrogatepass"), pack_entry(StateEntry(**values))


_FIELDS = [f.name for f in fields(StateEntry)]
_FRAME = struct.Struct(">II")


def _fingerprint(hasher: Any, key: bytes, packed: bytes) -> None:
    hasher.update(_FRAME.pack(len(key), len(packed)) + key + packed)


class StoredState:
    """The stored cache as a stream of (key bytes, packed entry) pairs in key order (iterate once; the
    streaming planner joins it), never raising: a missing cache is empty; one that cannot be read or
    parsed is logged, and what was not read is treated as unknown (more HEADs). A cache in the earlier
    one-object layout is read whole, once (the run that upgrades rewrites it line by line).

    `fingerprint` (after `drain`) identifies what was read, so that an unchanged cache is not rewritten."""

    def __init__(self, target: Target, key: str, chunk_size: int = 1024 * 1024) -> None:
        self.where = f"s3://{target.bucket}/{key}"
        self.complete = False
        self.legacy = False  # read in the earlier layout: rewritten even when its entries are unchanged
        self._hasher = hashlib.blake2b(digest_size=16)
        self._stream = self._read(target, key, chunk_size)

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return self._stream

    def _read(self, target: Target, key: str, chunk_size: int) -> Iterator[tuple[bytes, bytes]]:
        try:
            try:
                pairs = stream_state(target, key, chunk_size)
                first = next(pairs, None)
            except ValueError as exc:  # the header: an earlier layout, or not ours
                if "format" not in str(exc):
                    raise
                pairs = iter(sorted(_legacy_pairs(target, key)))
                first = next(pairs, None)
                self.legacy = True
            for pair in itertools.chain([first] if first is not None else [], pairs):
                _fingerprint(self._hasher, *pair)
                yield pair
            self.complete = True
        except NotFoundError:
            self.complete = True  # no cache yet: the first run
        except Gcs2s3Error as exc:
            log.warning("state cache %s not read (%s); unchanged multipart objects cost a HEAD", self.where, exc)
        except PARSE_ERRORS as exc:
            log.warning("state cache %s is unreadable (%s); it will be rewritten", self.where, exc)

    def drain(self) -> None:
        for _ in self._stream:
            pass

    @property
    def fingerprint(self) -> bytes | None:
        return self._hasher.digest() if self.complete and not self.legacy else None


def _legacy_pairs(target: Target, key: str) -> list[tuple[bytes, bytes]]:
    entries = decode_entries(target.get(key).body, STATE_FORMAT, StateEntry, "state", legacy=LEGACY_FORMAT)
    return [(name.encode("utf-8", "surrogatepass"), pack_entry(entry)) for name, entry in entries.items()]


def write_state(target: Target, key: str, entries: Callable[[], Iterable[tuple[str, StateEntry]]],
                stored: StoredState) -> bool:
    """Store the cache (`entries()` gives them in key order) written line by line, unless it holds
    exactly what `stored` read (drained): that is checked first, on the packed entries alone, so an
    unchanged run encodes nothing. Whether it was written."""
    if stored.fingerprint is not None:
        hasher = hashlib.blake2b(digest_size=16)
        for name, entry in entries():
            _fingerprint(hasher, name.encode("utf-8", "surrogatepass"), pack_entry(entry))
        if stored.fingerprint == hasher.digest():
            return False
    writer = EntryWriter(STATE_FORMAT, _FIELDS)
    try:
        for name, entry in entries():
            writer.add(name, (entry.etag, entry.size, entry.crc32c, entry.generation, entry.md5, entry.headers))
        put_file(target, key, writer.file, writer.finish())
        return True
    finally:
        writer.close()
