"""The store interfaces the engine codes against: a Source to read from, a Target to write to, each bound
to one bucket, and two optional capabilities (rclone's idea: a small interface, extra capabilities
found at run time with `isinstance`, not a base class with every method): MultipartTarget (objects
assembled from parts) and RangeLister (a listing of one key range, which the cluster engine uses to
split a bucket between workers).

The rules every store keeps, and the contract suite (`gcs2s3.testing.contract`) checks:
- reading a key that does not exist (`get`, `open`) raises NotFoundError; `head` answers None;
- a write whose PutMode condition fails raises PreconditionFailedError and changes nothing;
- a mode a call does not take (a delete that would `create`, a copy that does not overwrite) is a
  ValueError (`PutMode.allowed`);
- a body that does not match the checksums sent with it is refused (IntegrityError) and changes nothing;
- every write returns what the server recorded (WriteResult: the evidence verification reads).

Implementations: `gcs.GcsSource`, `memory.MemorySource`; `s3.S3Target`, `memory.MemoryTarget` (both
multipart and ranged).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from gcs2s3.core.errors import StoreError
from gcs2s3.core.models import OVERWRITE, DestObject, Fetched, PutMode, PutOptions, SourceObject, WriteResult

Part = tuple[int, str, str | None]  # (part number, ETag, CRC32C when the server reported one)


@runtime_checkable
class Source(Protocol):
    """A read-only bucket of versioned objects (GCS). Listings carry each object's hashes and headers."""

    bucket: str

    def list(self, prefix: str) -> Iterator[SourceObject]:
        """Every object under `prefix`, in no particular order."""
        ...

    def probe(self, prefix: str, timeout_s: float) -> None:
        """One try at listing one object under `prefix`, answered within `timeout_s`: raise NotFoundError /
        AccessDeniedError when the bucket cannot be listed, UnreachableError when it cannot be reached."""
        ...

    def read(self, obj: SourceObject, start: int, end: int, into: bytearray | None = None) -> bytearray:
        """Bytes [start, end) of exactly the listed generation of `obj`: in `into` when given (a reused
        buffer of exactly end - start bytes, returned), else in a new one. NotFoundError when that
        generation is gone."""
        ...


@runtime_checkable
class Target(Protocol):
    """One bucket of an S3-like store; every write reports what the server recorded."""

    bucket: str

    def list(self, prefix: str) -> Iterator[DestObject]:
        """Every object under `prefix`, in no particular order."""
        ...

    def probe(self, prefix: str, timeout_s: float | None = None) -> None:
        """Raise NotFoundError / AccessDeniedError when the bucket cannot be listed (UnreachableError when
        the store cannot be reached); with `timeout_s`, one try answered within that long."""
        ...

    def head(self, key: str) -> DestObject | None:
        """Size, ETag, user metadata and full-object checksum; None when the key does not exist."""
        ...

    def get(self, key: str) -> Fetched:
        """A whole (small) object with its ETag and age by the server's clock; NotFoundError when missing."""
        ...

    def open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        """An object's body in chunks, streamed (never whole in memory). The request is made by this call:
        NotFoundError comes from it, not from the first chunk. Close the iterator when leaving it early."""
        ...

    def put(self, key: str, body: bytes | bytearray, options: PutOptions) -> WriteResult:
        """One PUT, refused by the server unless the body has the options' checksums (Content-MD5 when
        `md5_b64` is given: a composite GCS object has no MD5, and the CRC32C alone protects it), and
        only when its mode allows."""
        ...

    def copy(self, src: tuple[Target, str], key: str, options: PutOptions) -> WriteResult:
        """Server-side copy of `src` (a target of the same store and a key: the key may be `key` itself,
        a header-only update) to `key`, with the options' headers and user metadata (mode: overwrite only);
        the server computes the copy's full-object CRC32C."""
        ...

    def delete(self, key: str, mode: PutMode = OVERWRITE) -> None:
        """Delete `key` (mode `update`: only while its ETag is that one); a missing key is no error."""
        ...


@runtime_checkable
class MultipartTarget(Target, Protocol):
    """A Target that can assemble one object from parts: needed for objects above the multipart
    threshold (uploads) and above the multipart copy threshold (server-side copies)."""

    def create_multipart(self, key: str, options: PutOptions) -> str:
        """Begin an upload of `key` with the options' headers and metadata; its upload id."""
        ...

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray, crc32c: str) -> str:
        """One part, refused unless it has this CRC32C; its ETag."""
        ...

    def copy_part(self, key: str, upload_id: str, number: int, src: tuple[Target, str], start: int,
                  end: int) -> tuple[str, str | None]:
        """UploadPartCopy of bytes [start, end) of `src`; (ETag, CRC32C if reported)."""
        ...

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[Part], *, crc32c: str,
                           mode: PutMode = OVERWRITE) -> WriteResult:
        """Assemble the parts, refused unless the whole has this full-object CRC32C, and only when `mode`
        allows."""
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def open_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """(key, upload id) of every multipart upload begun and not completed or aborted under `prefix`."""
        ...


@runtime_checkable
class RangeLister(Protocol):
    """A store that lists one key range: the objects under `prefix` whose name below it lies in
    [start, end) (end None: unbounded), in key order."""

    def list_range(self, prefix: str, start: str, end: str | None) -> Sequence[Any]: ...


class Stores(NamedTuple):
    """What a run reads and writes: the source bucket, and the primary and archive targets (two buckets
    of one S3 store; they may be the same bucket, apart by prefix)."""

    source: Source
    primary: Target
    archive: Target


def multipart(target: Target, what: str) -> MultipartTarget:
    """`target` as a MultipartTarget, or a StoreError saying what needed it."""
    if isinstance(target, MultipartTarget):
        return target
    raise StoreError(f"{what} needs a target that takes multipart uploads; {type(target).__name__} does not")


def ranged(store: object, what: str) -> RangeLister:
    """`store` as a RangeLister, or a StoreError saying what needed it."""
    if isinstance(store, RangeLister):
        return store
    raise StoreError(f"{what} needs a store that lists key ranges; {type(store).__name__} does not")
