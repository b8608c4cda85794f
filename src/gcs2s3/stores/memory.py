"""In-process stores with the semantics the engine relies on, for tests that need no server: a source
(versioned objects, ranged reads of an exact generation) and an S3-like target that is as strict as
S3 where it matters: conditional writes (`If-None-Match: *`, `If-Match`), Content-MD5 and CRC32C
checked on receipt (a mismatch is refused, like S3's BadDigest), multipart uploads (MD5-of-MD5s
`-N` ETags, full-object CRC32C checked at completion), server-side copies, open-upload listing.

The shared contract suite (`gcs2s3.testing.contract`) runs the same tests against these and the
real servers, so what the fast tests learn here holds there too. Thread-safe (one lock).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from gcs2s3.core.errors import IntegrityError, NotFoundError, PreconditionFailedError
from gcs2s3.core.hashes import BodyHasher, crc32c_b64
from gcs2s3.core.models import OVERWRITE, DestObject, Fetched, Headers, PutMode, PutOptions, SourceObject, WriteResult
from gcs2s3.stores.protocols import Part, Target


def _in_range(name: str, prefix: str, start: str, end: str | None) -> bool:
    rest = name[len(prefix):]
    return name.startswith(prefix) and rest >= start and (end is None or rest < end)


class MemorySource:
    """A GCS-like bucket: each `put` makes a new generation; reads name the generation they want."""

    def __init__(self, bucket: str = "memory-source") -> None:
        self.bucket = bucket
        self._objects: dict[str, tuple[SourceObject, bytes]] = {}
        self._generations = itertools.count(1_000_000)
        self._lock = threading.Lock()

    def put(self, name: str, body: bytes, headers: Headers | None = None, *, composite: bool = False) -> SourceObject:
        """A new generation of `name`; `composite`: listed without an MD5, as GCS lists a composed object."""
        hasher = BodyHasher()
        hasher.update(body)
        listed = SourceObject(name, len(body), None if composite else hasher.md5_hex, hasher.crc32c,
                              next(self._generations), datetime.now(UTC), headers or Headers())
        with self._lock:
            self._objects[name] = (listed, bytes(body))
        return listed

    def list(self, prefix: str) -> Iterator[SourceObject]:
        return iter(self.list_range(prefix, "", None))

    def probe(self, prefix: str, timeout_s: float) -> None:
        """Always answers: a memory bucket is always there."""

    def list_range(self, prefix: str, start: str, end: str | None) -> list[SourceObject]:
        with self._lock:
            items = sorted(self._objects.items())
        return [listed for name, (listed, _) in items if _in_range(name, prefix, start, end)]

    def read(self, obj: SourceObject, start: int, end: int, into: bytearray | None = None) -> bytearray:
        with self._lock:
            current = self._objects.get(obj.name)
        if current is None or current[0].generation != obj.generation:
            raise NotFoundError(f"memory read: {obj.name!r} generation {obj.generation} is gone", 404)
        if into is None or len(into) != end - start:
            return bytearray(current[1][start:end])
        into[:] = current[1][start:end]
        return into


@dataclass
class _Stored:
    body: bytes
    etag: str
    metadata: dict[str, str]
    headers: Headers
    crc32c: str
    checksum_type: str | None
    written: float = field(default_factory=time.monotonic)


@dataclass
class _Upload:
    bucket: str
    key: str
    metadata: dict[str, str]
    headers: Headers
    parts: dict[int, tuple[bytes, str, str]] = field(default_factory=dict)  # number -> (body, etag, crc32c)


class _Server:
    """The buckets and open uploads that every MemoryTarget opened from one another shares."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, _Stored]] = {}
        self.uploads: dict[str, _Upload] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def objects(self, bucket: str) -> dict[str, _Stored]:
        if bucket not in self.buckets:
            raise NotFoundError(f"memory: NoSuchBucket {bucket}", 404)
        return self.buckets[bucket]

    def upload(self, upload_id: str) -> _Upload:
        if upload_id not in self.uploads:
            raise NotFoundError(f"memory: NoSuchUpload {upload_id}", 404)
        return self.uploads[upload_id]


def _check(objects: dict[str, _Stored], key: str, mode: PutMode) -> None:
    existing = objects.get(key)
    if mode.kind == "create" and existing is not None:
        raise PreconditionFailedError(f"memory: PreconditionFailed {key} exists", 412)
    if mode.kind == "update" and (existing is None or existing.etag != mode.etag):
        raise PreconditionFailedError(f"memory: PreconditionFailed {key} has another ETag", 412)


class MemoryTarget:
    """One bucket of an in-process S3-like store; `at` opens another bucket of the same store (server-side
    copies work between them). The bucket exists once `create_bucket` is called."""

    def __init__(self, bucket: str = "memory-target", server: _Server | None = None) -> None:
        self.bucket = bucket
        self._server = server or _Server()

    def at(self, bucket: str) -> MemoryTarget:
        return MemoryTarget(bucket, self._server)

    def create_bucket(self) -> MemoryTarget:
        with self._server.lock:
            self._server.buckets.setdefault(self.bucket, {})
        return self

    def _objects(self) -> dict[str, _Stored]:
        return self._server.objects(self.bucket)

    def _source(self, src: tuple[Target, str]) -> _Stored:
        """The stored object `src` names (caller holds the lock)."""
        store, key = src
        if getattr(store, "_server", None) is not self._server:
            raise ValueError("a server-side copy needs a source in the same memory store")
        source = self._server.objects(store.bucket).get(key)
        if source is None:
            raise NotFoundError(f"memory copy: NoSuchKey {key}", 404)
        return source

    # --- reading ---------------------------------------------------------------------------------

    def list(self, prefix: str) -> Iterator[DestObject]:
        return iter(self.list_range(prefix, "", None))

    def list_range(self, prefix: str, start: str, end: str | None) -> list[DestObject]:
        with self._server.lock:
            items = sorted(self._objects().items())
        return [DestObject(key, len(obj.body), obj.etag) for key, obj in items if _in_range(key, prefix, start, end)]

    def probe(self, prefix: str, timeout_s: float | None = None) -> None:
        with self._server.lock:
            self._objects()

    def head(self, key: str) -> DestObject | None:
        with self._server.lock:
            obj = self._objects().get(key)
        if obj is None:
            return None
        return DestObject(key, len(obj.body), obj.etag, dict(obj.metadata), obj.crc32c, obj.checksum_type)

    def headers_of(self, key: str) -> Headers:
        """The standard headers an object carries (tests read them; S3 returns them on HEAD/GET)."""
        with self._server.lock:
            return self._objects()[key].headers

    def get(self, key: str) -> Fetched:
        with self._server.lock:
            obj = self._objects().get(key)
        if obj is None:
            raise NotFoundError(f"memory get: NoSuchKey {key}", 404)
        return Fetched(obj.body, obj.etag, time.monotonic() - obj.written)

    def open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        body = self.get(key).body
        return (body[start:start + chunk_size] for start in range(0, len(body), chunk_size))

    # --- writing ---------------------------------------------------------------------------------

    def put(self, key: str, body: bytes | bytearray, options: PutOptions) -> WriteResult:
        data = bytes(body)
        digest = hashlib.md5(data, usedforsecurity=False)
        crc32c = options.crc32c or crc32c_b64(data)
        md5_bad = options.md5_b64 is not None and base64.b64encode(digest.digest()).decode() != options.md5_b64
        if md5_bad or crc32c_b64(data) != crc32c:
            raise IntegrityError(f"memory put {key}: BadDigest (the body does not match its checksums)")
        with self._server.lock:
            objects = self._objects()
            _check(objects, key, options.mode)
            objects[key] = _Stored(data, digest.hexdigest(), dict(options.metadata), options.headers, crc32c, None)
        return WriteResult(digest.hexdigest(), crc32c)

    def delete(self, key: str, mode: PutMode = OVERWRITE) -> None:
        mode.allowed("a delete", "overwrite", "update")
        with self._server.lock:
            objects = self._objects()
            _check(objects, key, mode)
            objects.pop(key, None)

    def copy(self, src: tuple[Target, str], key: str, options: PutOptions) -> WriteResult:
        options.mode.allowed("a server-side copy", "overwrite")
        with self._server.lock:
            source = self._source(src)
            objects = self._objects()
            etag = hashlib.md5(source.body, usedforsecurity=False).hexdigest()
            objects[key] = replace(source, etag=etag, metadata=dict(options.metadata), headers=options.headers,
                                   checksum_type=None, written=time.monotonic())
        return WriteResult(etag, source.crc32c)

    # --- multipart -------------------------------------------------------------------------------

    def create_multipart(self, key: str, options: PutOptions) -> str:
        with self._server.lock:
            self._objects()
            upload_id = f"upload-{next(self._server.ids)}"
            self._server.uploads[upload_id] = _Upload(self.bucket, key, dict(options.metadata), options.headers)
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray, crc32c: str) -> str:
        data = bytes(body)
        if crc32c_b64(data) != crc32c:
            raise IntegrityError(f"memory upload part {number} of {key}: BadDigest")
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        with self._server.lock:
            self._server.upload(upload_id).parts[number] = (data, etag, crc32c)
        return f'"{etag}"'

    def copy_part(self, key: str, upload_id: str, number: int, src: tuple[Target, str], start: int,
                  end: int) -> tuple[str, str | None]:
        with self._server.lock:
            data = self._source(src).body[start:end]
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
            crc = crc32c_b64(data)
            self._server.upload(upload_id).parts[number] = (data, etag, crc)
        return f'"{etag}"', crc

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[Part], *, crc32c: str,
                           mode: PutMode = OVERWRITE) -> WriteResult:
        with self._server.lock:
            upload = self._server.upload(upload_id)
            bodies = []
            for number, etag, _ in parts:
                stored = upload.parts.get(number)
                if stored is None or stored[1] != etag.strip('"'):
                    raise IntegrityError(f"memory complete {key}: InvalidPart {number}")
                bodies.append(stored[0])
            data = b"".join(bodies)
            if crc32c_b64(data) != crc32c:
                raise IntegrityError(f"memory complete {key}: BadDigest (the full-object CRC32C differs)")
            objects = self._objects()
            _check(objects, key, mode)
            joined = b"".join(hashlib.md5(body, usedforsecurity=False).digest() for body in bodies)
            etag = f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(bodies)}"
            objects[key] = _Stored(data, etag, upload.metadata, upload.headers, crc32c, "FULL_OBJECT")
            del self._server.uploads[upload_id]
        return WriteResult(etag, crc32c)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with self._server.lock:
            self._server.upload(upload_id)
            del self._server.uploads[upload_id]

    def open_uploads(self, prefix: str) -> list[tuple[str, str]]:
        with self._server.lock:
            self._objects()
            return sorted((u.key, upload_id) for upload_id, u in self._server.uploads.items()
                          if u.bucket == self.bucket and u.key.startswith(prefix))
