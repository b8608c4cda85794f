"""The store interfaces the engine codes against: a Source to read from, a Target to write to, and the
optional MultipartTarget capability (rclone's idea: a small interface, extra capabilities discovered at
run time with `isinstance`, not a base class with every method).

Implementations: `gcs.GcsSource`, `memory.MemorySource`; `s3.S3Target`, `memory.MemoryTarget` (both
multipart). One contract suite (tests/test_store_contract.py) runs against each of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from gcs2s3.core.errors import StoreError
from gcs2s3.core.models import DestObject, Fetched, Headers, SourceObject, WriteResult


@runtime_checkable
class Source(Protocol):
    """A read-only bucket of versioned objects (GCS). Listings carry each object's hashes and headers."""

    bucket: str

    def list(self, prefix: str) -> Iterator[SourceObject]:
        """Every object under `prefix`, in no particular order."""
        ...

    def list_range(self, prefix: str, start: str, end: str | None) -> list[SourceObject]:
        """The objects under `prefix` whose name below it lies in [start, end) (end None: unbounded)."""
        ...

    def probe(self, prefix: str, timeout_s: float) -> None:
        """One try at listing one object under `prefix`, answered within `timeout_s`: raise NotFoundError /
        AccessDeniedError when the bucket cannot be listed, UnreachableError when it cannot be reached."""
        ...

    def read(self, obj: SourceObject, start: int, end: int, into: bytearray | None = None) -> bytearray:
        """Bytes [start, end) of exactly the listed generation of `obj`: in `into` when given (a reused
        buffer of exactly end - start bytes, returned), else in a new one."""
        ...


@runtime_checkable
class Target(Protocol):
    """An S3-like store; every write reports what the server recorded (the evidence to verify)."""

    def list(self, bucket: str, prefix: str) -> Iterator[DestObject]:
        """Every object under `prefix`, in no particular order."""
        ...

    def list_range(self, bucket: str, prefix: str, start: str, end: str | None) -> list[DestObject]:
        """The objects under `prefix` whose key below it lies in [start, end) (end None: unbounded)."""
        ...

    def probe(self, bucket: str, prefix: str, timeout_s: float | None = None) -> None:
        """Raise NotFoundError / AccessDeniedError when the bucket cannot be listed (UnreachableError when
        the store cannot be reached); with `timeout_s`, one try answered within that long."""
        ...

    def head(self, bucket: str, key: str) -> DestObject | None:
        """Size, ETag, user metadata and full-object checksum; None when the key does not exist."""
        ...

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        md5_b64: str | None,
        crc32c: str,
        metadata: Mapping[str, str],
        if_absent: bool,
        headers: Headers | None = None,
        if_match: str | None = None,
    ) -> WriteResult:
        """One PUT, refused by the server unless the body has these hashes (Content-MD5 when `md5_b64`
        is given: a composite GCS object has no MD5, and the CRC32C alone protects it). `if_absent`: only if the key
        does not exist; `if_match`: only if its ETag is this one (PreconditionFailedError otherwise)."""
        ...

    def copy(
        self, src_bucket: str, src_key: str, bucket: str, key: str, *, metadata: Mapping[str, str], headers: Headers
    ) -> WriteResult:
        """Server-side copy with these headers and user metadata (the source key may be `key` itself: a
        header-only update); S3 computes a full-object CRC32C of the copy."""
        ...

    def delete(self, bucket: str, key: str, if_match: str | None = None) -> None:
        """Delete `key` (with `if_match`: only while its ETag is that one, else PreconditionFailedError)."""
        ...

    def read_small(self, bucket: str, key: str) -> bytes | None:
        """A whole (small) object's body; None when the key does not exist."""
        ...

    def fetch(self, bucket: str, key: str) -> Fetched | None:
        """A whole (small) object with its ETag and age by the server's clock; None when missing."""
        ...

    def iter_body(self, bucket: str, key: str, chunk_size: int) -> Iterator[bytes]:
        """An object's body in chunks (streamed, never whole in memory)."""
        ...


@runtime_checkable
class MultipartTarget(Target, Protocol):
    """A Target that can assemble one object from parts: needed for objects above the multipart
    threshold (uploads) and above the multipart copy threshold (server-side copies)."""

    def create_multipart(
        self, bucket: str, key: str, metadata: Mapping[str, str], headers: Headers | None = None
    ) -> str: ...

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes, crc32c: str) -> str: ...

    def copy_part(
        self, bucket: str, key: str, upload_id: str, number: int, src: tuple[str, str], start: int, end: int
    ) -> tuple[str, str | None]:
        """UploadPartCopy of bytes [start, end) of s3://src; (ETag, CRC32C if reported)."""
        ...

    def complete_multipart(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str, str | None]],
        *,
        crc32c: str,
        if_absent: bool,
    ) -> WriteResult: ...

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...

    def open_uploads(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        """(key, upload id) of every multipart upload begun and not completed or aborted under `prefix`."""
        ...


def multipart(target: Target, what: str) -> MultipartTarget:
    """`target` as a MultipartTarget, or a StoreError saying what needed it."""
    if isinstance(target, MultipartTarget):
        return target
    raise StoreError(f"{what} needs a target that takes multipart uploads; {type(target).__name__} does not")
