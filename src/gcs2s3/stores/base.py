"""The store interfaces: what the planner, executor and verifier may ask of a source or a target."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from gcs2s3.models import Fetched, Headers, SourceObject, TargetObject, WriteResult


class SourceStore(Protocol):
    """A read-only bucket of versioned objects (GCS)."""

    bucket: str

    def list(self, prefix: str) -> Iterator[SourceObject]:
        """Every object under `prefix`, in no particular order."""
        ...

    def read(self, obj: SourceObject, start: int, end: int) -> bytearray:
        """Bytes [start, end) of exactly the listed generation of `obj`."""
        ...


class TargetStore(Protocol):
    """An S3-like store; every write reports what the server recorded (the evidence to verify)."""

    def list(self, bucket: str, prefix: str) -> Iterator[TargetObject]:
        """Every object under `prefix`, in no particular order."""
        ...

    def probe(self, bucket: str, prefix: str) -> None:
        """Raise NotFoundError / AccessDeniedError when the bucket cannot be listed."""
        ...

    def head(self, bucket: str, key: str) -> TargetObject | None:
        """Size, ETag, user metadata and full-object checksum; None when the key does not exist."""
        ...

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        md5_b64: str,
        crc32c: str,
        metadata: Mapping[str, str],
        if_absent: bool,
        headers: Headers | None = None,
        if_match: str | None = None,
    ) -> WriteResult:
        """One PUT. `if_absent`: only if the key does not exist; `if_match`: only if its ETag is this one
        (PreconditionFailedError otherwise)."""
        ...

    def delete(self, bucket: str, key: str, if_match: str | None = None) -> None:
        """Delete `key` (with `if_match`: only while its ETag is that one, else PreconditionFailedError)."""
        ...

    def create_multipart(
        self, bucket: str, key: str, metadata: Mapping[str, str], headers: Headers | None = None
    ) -> str: ...

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes, crc32c: str) -> str: ...

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

    def copy_part(
        self, bucket: str, key: str, upload_id: str, number: int, src: tuple[str, str], start: int, end: int
    ) -> tuple[str, str | None]:
        """UploadPartCopy of bytes [start, end) of s3://src; (ETag, CRC32C if reported)."""
        ...

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...

    def open_uploads(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        """(key, upload id) of every multipart upload begun and not completed or aborted under `prefix`."""
        ...

    def copy(
        self, src_bucket: str, src_key: str, bucket: str, key: str, *, metadata: Mapping[str, str], headers: Headers
    ) -> WriteResult:
        """Server-side copy with these headers and user metadata (the source key may be `key` itself: a
        header-only update); S3 computes a full-object CRC32C of the copy."""
        ...

    def read_small(self, bucket: str, key: str) -> bytes | None:
        """A whole (small) object's body; None when the key does not exist."""
        ...

    def fetch(self, bucket: str, key: str) -> Fetched | None:
        """A whole (small) object with its ETag and age by the server's clock; None when missing."""
        ...

    def iter_body(self, bucket: str, key: str, chunk_size: int) -> Iterator[bytes]: ...
