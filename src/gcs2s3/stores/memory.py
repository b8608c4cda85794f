"""In-process stores with the semantics the engine relies on, for tests that need no server: a source
(versioned objects, ranged reads of an exact generation) and an S3-like target that is as strict as
S3 where it matters: conditional writes (`If-None-Match: *`, `If-Match`), Content-MD5 and CRC32C
checked on receipt (a mismatch is refused, like S3's BadDigest), multipart uploads (MD5-of-MD5s
`-N` ETags, full-object CRC32C checked at completion), server-side copies, open-upload listing.

The shared contract suite (`tests/test_store_contract.py`) runs the same tests against these and the
real servers, so what the fast tests learn here holds there too. Thread-safe (one lock).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from gcs2s3.core.errors import IntegrityError, NotFoundError, PreconditionFailedError
from gcs2s3.core.hashes import BodyHasher, crc32c_b64
from gcs2s3.core.models import DestObject, Fetched, Headers, SourceObject, WriteResult


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


class MemoryTarget:
    """An S3-like store of buckets (create them with `create_bucket`)."""

    def __init__(self) -> None:
        self._buckets: dict[str, dict[str, _Stored]] = {}
        self._uploads: dict[str, _Upload] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def create_bucket(self, bucket: str) -> None:
        with self._lock:
            self._buckets.setdefault(bucket, {})

    def _bucket(self, bucket: str) -> dict[str, _Stored]:
        if bucket not in self._buckets:
            raise NotFoundError(f"memory: NoSuchBucket {bucket}", 404)
        return self._buckets[bucket]

    # --- reading ---------------------------------------------------------------------------------

    def list(self, bucket: str, prefix: str) -> Iterator[DestObject]:
        return iter(self.list_range(bucket, prefix, "", None))

    def list_range(self, bucket: str, prefix: str, start: str, end: str | None) -> list[DestObject]:
        with self._lock:
            items = sorted(self._bucket(bucket).items())
        return [DestObject(key, len(obj.body), obj.etag) for key, obj in items if _in_range(key, prefix, start, end)]

    def probe(self, bucket: str, prefix: str, timeout_s: float | None = None) -> None:
        with self._lock:
            self._bucket(bucket)

    def head(self, bucket: str, key: str) -> DestObject | None:
        with self._lock:
            obj = self._bucket(bucket).get(key)
        if obj is None:
            return None
        return DestObject(key, len(obj.body), obj.etag, dict(obj.metadata), obj.crc32c, obj.checksum_type)

    def headers_of(self, bucket: str, key: str) -> Headers:
        """The standard headers an object carries (tests read them; S3 returns them on HEAD/GET)."""
        with self._lock:
            return self._bucket(bucket)[key].headers

    def fetch(self, bucket: str, key: str) -> Fetched | None:
        with self._lock:
            obj = self._bucket(bucket).get(key)
        if obj is None:
            return None
        return Fetched(obj.body, obj.etag, time.monotonic() - obj.written)

    def read_small(self, bucket: str, key: str) -> bytes | None:
        fetched = self.fetch(bucket, key)
        return fetched.body if fetched is not None else None

    def iter_body(self, bucket: str, key: str, chunk_size: int) -> Iterator[bytes]:
        body = self.read_small(bucket, key)
        if body is None:
            raise NotFoundError(f"memory get: NoSuchKey {key}", 404)
        for start in range(0, len(body), chunk_size):
            yield body[start:start + chunk_size]

    # --- writing ---------------------------------------------------------------------------------

    def _precondition(self, objects: dict[str, _Stored], key: str, if_absent: bool, if_match: str | None) -> None:
        existing = objects.get(key)
        if if_absent and existing is not None:
            raise PreconditionFailedError(f"memory: PreconditionFailed {key} exists", 412)
        if if_match is not None and (existing is None or existing.etag != if_match):
            raise PreconditionFailedError(f"memory: PreconditionFailed {key} has another ETag", 412)

    def put(self, bucket: str, key: str, body: bytes, *, md5_b64: str | None, crc32c: str, metadata: Mapping[str, str],
            if_absent: bool, headers: Headers | None = None, if_match: str | None = None) -> WriteResult:
        data = bytes(body)
        digest = hashlib.md5(data, usedforsecurity=False)
        md5_bad = md5_b64 is not None and base64.b64encode(digest.digest()).decode() != md5_b64
        if md5_bad or crc32c_b64(data) != crc32c:
            raise IntegrityError(f"memory put {key}: BadDigest (the body does not match its checksums)")
        with self._lock:
            objects = self._bucket(bucket)
            self._precondition(objects, key, if_absent, if_match)
            objects[key] = _Stored(data, digest.hexdigest(), dict(metadata), headers or Headers(), crc32c, None)
        return WriteResult(digest.hexdigest(), crc32c)

    def delete(self, bucket: str, key: str, if_match: str | None = None) -> None:
        with self._lock:
            objects = self._bucket(bucket)
            if if_match is not None:
                self._precondition(objects, key, False, if_match)
            objects.pop(key, None)

    def copy(self, src_bucket: str, src_key: str, bucket: str, key: str, *, metadata: Mapping[str, str],
             headers: Headers) -> WriteResult:
        with self._lock:
            source = self._bucket(src_bucket).get(src_key)
            if source is None:
                raise NotFoundError(f"memory copy: NoSuchKey {src_key}", 404)
            etag = hashlib.md5(source.body, usedforsecurity=False).hexdigest()
            self._bucket(bucket)[key] = replace(source, etag=etag, metadata=dict(metadata), headers=headers,
                                                checksum_type=None, written=time.monotonic())
        return WriteResult(etag, source.crc32c)

    # --- multipart -------------------------------------------------------------------------------

    def create_multipart(self, bucket: str, key: str, metadata: Mapping[str, str],
                         headers: Headers | None = None) -> str:
        with self._lock:
            self._bucket(bucket)
            upload_id = f"upload-{next(self._ids)}"
            self._uploads[upload_id] = _Upload(bucket, key, dict(metadata), headers or Headers())
        return upload_id

    def _upload(self, upload_id: str) -> _Upload:
        if upload_id not in self._uploads:
            raise NotFoundError(f"memory: NoSuchUpload {upload_id}", 404)
        return self._uploads[upload_id]

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes, crc32c: str) -> str:
        data = bytes(body)
        if crc32c_b64(data) != crc32c:
            raise IntegrityError(f"memory upload part {number} of {key}: BadDigest")
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        with self._lock:
            self._upload(upload_id).parts[number] = (data, etag, crc32c)
        return f'"{etag}"'

    def copy_part(self, bucket: str, key: str, upload_id: str, number: int, src: tuple[str, str], start: int,
                  end: int) -> tuple[str, str | None]:
        with self._lock:
            source = self._bucket(src[0]).get(src[1])
            if source is None:
                raise NotFoundError(f"memory copy part: NoSuchKey {src[1]}", 404)
            data = source.body[start:end]
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
            crc = crc32c_b64(data)
            self._upload(upload_id).parts[number] = (data, etag, crc)
        return f'"{etag}"', crc

    def complete_multipart(self, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str, str | None]],
                           *, crc32c: str, if_absent: bool) -> WriteResult:
        with self._lock:
            upload = self._upload(upload_id)
            bodies = []
            for number, etag, _ in parts:
                stored = upload.parts.get(number)
                if stored is None or stored[1] != etag.strip('"'):
                    raise IntegrityError(f"memory complete {key}: InvalidPart {number}")
                bodies.append(stored[0])
            data = b"".join(bodies)
            if crc32c_b64(data) != crc32c:
                raise IntegrityError(f"memory complete {key}: BadDigest (the full-object CRC32C differs)")
            objects = self._bucket(bucket)
            self._precondition(objects, key, if_absent, None)
            joined = b"".join(hashlib.md5(body, usedforsecurity=False).digest() for body in bodies)
            etag = f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(bodies)}"
            objects[key] = _Stored(data, etag, upload.metadata, upload.headers, crc32c, "FULL_OBJECT")
            del self._uploads[upload_id]
        return WriteResult(etag, crc32c)

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            self._upload(upload_id)
            del self._uploads[upload_id]

    def open_uploads(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        with self._lock:
            self._bucket(bucket)
            return sorted((u.key, upload_id) for upload_id, u in self._uploads.items()
                          if u.bucket == bucket and u.key.startswith(prefix))
