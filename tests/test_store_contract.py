"""One contract, every store (rclone's fstests idea): the same tests run against the in-memory stores
(no server, in the fast tier) and the real servers (moto and SeaweedFS for the target,
fake-gcs-server for the source). What the engine relies on a store to do is written down here once.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Callable, Iterator

import boto3
import pytest
from google.cloud import storage

from gcs2s3.core.errors import IntegrityError, NotFoundError, PreconditionFailedError
from gcs2s3.core.hashes import crc32c_b64
from gcs2s3.core.models import Headers
from gcs2s3.stores.gcs import GcsSource
from gcs2s3.stores.memory import MemorySource, MemoryTarget
from gcs2s3.stores.protocols import MultipartTarget, Source, Target
from gcs2s3.stores.s3 import S3Target

_names = itertools.count()
PART = 5 * 1024 * 1024  # S3's smallest part (but the last)


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class TargetContract:
    """Every S3-like target. Subclasses provide `target` (the store) and `bucket` (a fresh bucket)."""

    strict = True  # refuses a body that does not match its checksums (moto does not)

    def put(self, target, bucket: str, key: str, body: bytes, **kw):  # type: ignore[no-untyped-def]
        return target.put(bucket, key, body, md5_b64=md5_b64(body), crc32c=crc32c_b64(body), **{
            "metadata": {"source-crc32c": crc32c_b64(body)}, "if_absent": False, **kw})

    def test_it_is_a_multipart_target(self, target, bucket: str) -> None:  # type: ignore[no-untyped-def]
        assert isinstance(target, Target) and isinstance(target, MultipartTarget)

    def test_put_head_list_and_read(self, target, bucket: str) -> None:  # type: ignore[no-untyped-def]
        written = self.put(target, bucket, "a/b.txt", b"hello", headers=Headers(content_type="text/plain"))
        assert written.etag == hashlib.md5(b"hello").hexdigest()
        head = target.head(bucket, "a/b.txt")
        assert head.size == 5 and head.etag == written.etag and head.metadata["source-crc32c"] == crc32c_b64(b"hello")
        assert target.head(bucket, "a/missing") is None
        assert [(t.key, t.size) for t in target.list(bucket, "a/")] == [("a/b.txt", 5)]
        assert target.read_small(bucket, "a/b.txt") == b"hello" and target.read_small(bucket, "nope") is None
        assert b"".join(target.iter_body(bucket, "a/b.txt", 2)) == b"hello"
        fetched = target.fetch(bucket, "a/b.txt")
        assert fetched.body == b"hello" and fetched.etag == written.etag and fetched.age_s is not None

    def test_conditional_writes(self, target, bucket: str) -> None:  # type: ignore[no-untyped-def]
        first = self.put(target, bucket, "lease", b"one", if_absent=True)
        with pytest.raises(PreconditionFailedError):
            self.put(target, bucket, "lease", b"two", if_absent=True)
        with pytest.raises(PreconditionFailedError):
            self.put(target, bucket, "lease", b"two", if_match="0" * 32)
        second = self.put(target, bucket, "lease", b"two", if_match=first.etag)
        with pytest.raises(PreconditionFailedError):
            target.delete(bucket, "lease", if_match=first.etag)
        target.delete(bucket, "lease", if_match=second.etag)
        assert target.head(bucket, "lease") is None

    def test_a_corrupted_body_is_refused_by_a_strict_store(self, target, bucket: str) -> None:  # type: ignore[no-untyped-def]
        if not self.strict:
            pytest.skip("this store keeps whatever arrives")
        with pytest.raises(IntegrityError):
            target.put(bucket, "bad", b"body", md5_b64=md5_b64(b"other"), crc32c=crc32c_b64(b"other"), metadata={},
                       if_absent=False)
        assert target.head(bucket, "bad") is None

    def test_multipart_upload_copy_and_abort(self, target, bucket: str) -> None:  # type: ignore[no-untyped-def]
        parts_data = [b"\1" * PART, b"\2" * 1000]
        whole = b"".join(parts_data)
        upload = target.create_multipart(bucket, "big.bin", {"m": "1"}, Headers(content_type="video/mp4"))
        assert (("big.bin", upload) in target.open_uploads(bucket, "")) is True
        parts = []
        for number, data in enumerate(parts_data, start=1):
            parts.append((number, target.upload_part(bucket, "big.bin", upload, number, data, crc32c_b64(data)),
                          crc32c_b64(data)))
        done = target.complete_multipart(bucket, "big.bin", upload, parts, crc32c=crc32c_b64(whole), if_absent=True)
        assert done.etag.endswith("-2") and (done.crc32c in (None, crc32c_b64(whole)))
        assert target.read_small(bucket, "big.bin") == whole and target.open_uploads(bucket, "") == []
        copied = target.copy(bucket, "big.bin", bucket, "copy.bin", metadata={"m": "2"}, headers=Headers())
        assert target.read_small(bucket, "copy.bin") == whole and target.head(bucket, "copy.bin").metadata["m"] == "2"
        assert copied.crc32c in (None, crc32c_b64(whole))
        again = target.create_multipart(bucket, "ranged.bin", {})
        ranged = [(n, *target.copy_part(bucket, "ranged.bin", again, n, (bucket, "big.bin"), s, e))
                  for n, s, e in ((1, 0, PART), (2, PART, len(whole)))]
        target.complete_multipart(bucket, "ranged.bin", again, ranged, crc32c=crc32c_b64(whole), if_absent=False)
        assert target.read_small(bucket, "ranged.bin") == whole
        dropped = target.create_multipart(bucket, "dropped.bin", {})
        target.abort_multipart(bucket, "dropped.bin", dropped)
        assert target.open_uploads(bucket, "") == [] and target.head(bucket, "dropped.bin") is None
        with pytest.raises(NotFoundError):
            target.copy(bucket, "no-such-key", bucket, "x", metadata={}, headers=Headers())

    def test_ranged_listing_partitions_the_keys(self, target, bucket: str) -> None:  # type: ignore[no-untyped-def]
        keys = ["p/0", "p/A", "p/Z", "p/a", "p/m/1", "p/z~", "p/é"]
        for key in keys:
            self.put(target, bucket, key, key.encode())
        ranges = [("", "A"), ("A", "a"), ("a", "n"), ("n", None)]
        listed = [t.key for lo, hi in ranges for t in target.list_range(bucket, "p/", lo, hi)]
        assert sorted(listed) == sorted(keys) and len(listed) == len(keys)

    def test_a_missing_bucket_is_not_found(self, target, bucket: str) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(NotFoundError):
            target.probe("no-such-bucket-anywhere", "")


class TestMemoryTarget(TargetContract):
    @pytest.fixture
    def target(self) -> MemoryTarget:
        return MemoryTarget()

    @pytest.fixture
    def bucket(self, target: MemoryTarget) -> str:
        name = f"mem-{next(_names)}"
        target.create_bucket(name)
        return name


class TestServerTarget(TargetContract):
    @pytest.fixture
    def target(self, emulators: dict[str, str]) -> S3Target:
        self.strict = emulators["s3_server"] != "moto"
        return S3Target("us-east-1")

    @pytest.fixture
    def bucket(self, target: S3Target) -> str:
        name = f"contract-{next(_names)}"
        boto3.client("s3").create_bucket(Bucket=name)
        return name


class SourceContract:
    """Every source. Subclasses provide `source` and `put(name, body)` (a new generation each time)."""

    def test_it_is_a_source(self, source) -> None:  # type: ignore[no-untyped-def]
        assert isinstance(source, Source) and not isinstance(source, Target)

    def test_list_range_and_read_the_exact_generation(self, source, put: Callable[[str, bytes], None]) -> None:  # type: ignore[no-untyped-def]
        for name in ("x/1", "x/2", "x/sub/3", "y/4"):
            put(name, name.encode() * 3)
        listed = {o.name: o for o in source.list("x/")}
        assert sorted(listed) == ["x/1", "x/2", "x/sub/3"]
        one = listed["x/1"]
        assert one.size == 9 and one.md5 == hashlib.md5(b"x/1" * 3).hexdigest() and one.crc32c == crc32c_b64(b"x/1" * 3)
        assert bytes(source.read(one, 3, 6)) == b"x/1"
        assert [o.name for o in source.list_range("x/", "2", None)] == ["x/2", "x/sub/3"]
        put("x/1", b"a new version")
        with pytest.raises(NotFoundError):  # the listed generation is gone: never read another one
            source.read(one, 0, 3)


class TestMemorySource(SourceContract):
    @pytest.fixture
    def source(self) -> MemorySource:
        return MemorySource()

    @pytest.fixture
    def put(self, source: MemorySource) -> Callable[[str, bytes], None]:
        def put(name: str, body: bytes) -> None:
            source.put(name, body)

        return put


class TestServerSource(SourceContract):
    @pytest.fixture
    def bucket_name(self, emulators: dict[str, str]) -> Iterator[str]:
        name = f"contract-src-{next(_names)}"
        storage.Client(project="test").create_bucket(name)
        yield name

    @pytest.fixture
    def source(self, bucket_name: str) -> GcsSource:
        return GcsSource(bucket_name)

    @pytest.fixture
    def put(self, bucket_name: str) -> Callable[[str, bytes], None]:
        bucket = storage.Client(project="test").bucket(bucket_name)
        return lambda name, body: bucket.blob(name).upload_from_string(body)
