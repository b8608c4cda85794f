"""The store contract: what the engine relies on a Source or a Target to do, written down once as tests
(rclone's fstests, object_store's shared integration tests). A store's own test file subclasses
`TargetContract` or `SourceContract`, gives the fixtures they name, and lists in `cannot` what its
store does not do; pytest then runs every test against it. gcs2s3's own stores run it in
tests/test_store_contract.py (in memory, moto, SeaweedFS, fake-gcs-server).

    class TestMyTarget(TargetContract):
        cannot = frozenset({"ranged listing"})

        @pytest.fixture
        def target(self) -> MyTarget:       # a fresh, empty bucket of the store
            ...

Call `pytest.register_assert_rewrite("gcs2s3.testing.contract")` in your conftest.py for pytest's
detailed assertion messages.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from gcs2s3.core.errors import IntegrityError, NotFoundError, PreconditionFailedError
from gcs2s3.core.hashes import crc32c_b64
from gcs2s3.core.models import Headers, PutMode, PutOptions, WriteResult
from gcs2s3.stores.protocols import MultipartTarget, RangeLister, Source, Target

PART = 5 * 1024 * 1024  # S3's smallest part (but the last)
MULTIPART, RANGED, CHECKSUMS, SECOND_BUCKET = "multipart", "ranged listing", "checksums", "second bucket"
_keys = itertools.count()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def checked(body: bytes, **options: Any) -> PutOptions:
    """Options that carry the body's MD5 and CRC32C, as every write of the engine does."""
    return PutOptions(crc32c=crc32c_b64(body), md5_b64=md5_b64(body), **options)


class TargetContract:
    """Every S3-like target. Fixtures: `target`, a fresh, empty bucket of the store; `second` (optional),
    another fresh bucket of the same store, for server-side copies between buckets; `missing`
(optional), the store opened on a bucket that does not exist. `cannot` names what
    the store does not do, of: "multipart", "ranged listing", "checksums" (refuse a body that does not
    match the checksums sent with it), "second bucket"."""

    cannot: frozenset[str] = frozenset()

    @pytest.fixture
    def second(self) -> Target | None:
        return None

    @pytest.fixture
    def missing(self) -> Target | None:
        return None

    def needs(self, what: str) -> None:
        if what in self.cannot:
            pytest.skip(f"this store does not do: {what}")

    def put(self, target: Target, key: str, body: bytes, **options: Any) -> WriteResult:
        return target.put(key, body, checked(body, metadata={"source-crc32c": crc32c_b64(body)}, **options))

    def test_it_is_a_target_with_what_it_claims(self, target: Target) -> None:
        assert isinstance(target, Target) and isinstance(target.bucket, str)
        assert isinstance(target, MultipartTarget) == (MULTIPART not in self.cannot)
        assert isinstance(target, RangeLister) == (RANGED not in self.cannot)

    def test_put_head_list_get_and_open(self, target: Target) -> None:
        written = self.put(target, "a/b.txt", b"hello", headers=Headers(content_type="text/plain"))
        assert written.etag == hashlib.md5(b"hello").hexdigest()
        head = target.head("a/b.txt")
        assert head is not None and head.size == 5 and head.etag == written.etag
        assert head.metadata is not None and head.metadata["source-crc32c"] == crc32c_b64(b"hello")
        assert target.head("a/missing") is None
        assert [(t.key, t.size) for t in target.list("a/")] == [("a/b.txt", 5)]
        fetched = target.get("a/b.txt")
        assert fetched.body == b"hello" and fetched.etag == written.etag and fetched.age_s is not None
        assert b"".join(target.open("a/b.txt", 2)) == b"hello"

    def test_reading_a_missing_key_raises_not_found_at_once(self, target: Target) -> None:
        with pytest.raises(NotFoundError):
            target.get("nope")
        with pytest.raises(NotFoundError):
            target.open("nope", 1024)  # from the call itself, not from the first chunk

    def test_put_without_a_crc32c_is_given_one(self, target: Target) -> None:
        written = target.put("plain", b"no checksums given", PutOptions())
        assert target.get("plain").body == b"no checksums given"
        assert written.crc32c in (None, crc32c_b64(b"no checksums given"))

    def test_conditional_writes_and_deletes(self, target: Target) -> None:
        first = self.put(target, "lease", b"one", mode=PutMode.create())
        with pytest.raises(PreconditionFailedError):
            self.put(target, "lease", b"two", mode=PutMode.create())
        with pytest.raises(PreconditionFailedError):
            self.put(target, "lease", b"two", mode=PutMode.update("0" * 32))
        assert target.get("lease").body == b"one"
        second = self.put(target, "lease", b"two", mode=PutMode.update(first.etag))
        with pytest.raises(PreconditionFailedError):
            target.delete("lease", PutMode.update(first.etag))
        target.delete("lease", PutMode.update(second.etag))
        assert target.head("lease") is None
        target.delete("lease")  # a missing key is no error

    def test_a_corrupted_body_is_refused(self, target: Target) -> None:
        self.needs(CHECKSUMS)
        with pytest.raises(IntegrityError):
            target.put("bad", b"body", PutOptions(crc32c=crc32c_b64(b"other"), md5_b64=md5_b64(b"other")))
        assert target.head("bad") is None

    def test_a_copy_carries_the_new_headers_and_metadata(self, target: Target) -> None:
        self.put(target, "src.txt", b"copied bytes")
        copied = target.copy((target, "src.txt"), "dst.txt",
                             PutOptions({"m": "2"}, Headers(content_type="text/csv", cache_control="no-cache")))
        head = target.head("dst.txt")
        assert target.get("dst.txt").body == b"copied bytes" and head is not None and head.metadata == {"m": "2"}
        assert copied.crc32c in (None, crc32c_b64(b"copied bytes"))
        onto_itself = target.copy((target, "dst.txt"), "dst.txt", PutOptions({"m": "3"}))
        assert onto_itself.etag == hashlib.md5(b"copied bytes").hexdigest()
        with pytest.raises(NotFoundError):
            target.copy((target, "no-such-key"), "x", PutOptions())
        with pytest.raises(ValueError, match="overwrite"):  # a copy only overwrites; a delete never creates
            target.copy((target, "src.txt"), "dst.txt", PutOptions(mode=PutMode.create()))
        with pytest.raises(ValueError, match="overwrite or update"):
            target.delete("dst.txt", PutMode.create())

    def test_a_copy_between_two_buckets(self, target: Target, second: Target | None) -> None:
        self.needs(SECOND_BUCKET)
        if second is None:
            pytest.skip("no `second` bucket fixture")
        self.put(target, "there.txt", b"across")
        second.copy((target, "there.txt"), "here.txt", PutOptions())
        assert second.get("here.txt").body == b"across" and target.head("here.txt") is None

    def test_multipart_upload_copy_and_abort(self, target: Target) -> None:
        self.needs(MULTIPART)
        assert isinstance(target, MultipartTarget)
        parts_data = [b"\1" * PART, b"\2" * 1000]
        whole = b"".join(parts_data)
        upload = target.create_multipart("big.bin", PutOptions({"m": "1"}, Headers(content_type="video/mp4")))
        assert ("big.bin", upload) in target.open_uploads("")
        parts = [(n, target.upload_part("big.bin", upload, n, data, crc32c_b64(data)), crc32c_b64(data))
                 for n, data in enumerate(parts_data, start=1)]
        done = target.complete_multipart("big.bin", upload, parts, crc32c=crc32c_b64(whole), mode=PutMode.create())
        assert done.etag.endswith("-2") and (done.crc32c in (None, crc32c_b64(whole)))
        assert target.get("big.bin").body == whole and target.open_uploads("") == []
        again = target.create_multipart("ranged.bin", PutOptions())
        copied = [(n, *target.copy_part("ranged.bin", again, n, (target, "big.bin"), s, e))
                  for n, s, e in ((1, 0, PART), (2, PART, len(whole)))]
        target.complete_multipart("ranged.bin", again, copied, crc32c=crc32c_b64(whole))
        assert target.get("ranged.bin").body == whole
        dropped = target.create_multipart("dropped.bin", PutOptions())
        target.abort_multipart("dropped.bin", dropped)
        assert target.open_uploads("") == [] and target.head("dropped.bin") is None

    def test_completing_onto_an_existing_key_in_create_mode_is_refused(self, target: Target) -> None:
        self.needs(MULTIPART)
        assert isinstance(target, MultipartTarget)
        self.put(target, "taken", b"first")
        upload = target.create_multipart("taken", PutOptions())
        part = target.upload_part("taken", upload, 1, b"second", crc32c_b64(b"second"))
        with pytest.raises(PreconditionFailedError):
            target.complete_multipart("taken", upload, [(1, part, crc32c_b64(b"second"))],
                                      crc32c=crc32c_b64(b"second"), mode=PutMode.create())
        assert target.get("taken").body == b"first"
        target.abort_multipart("taken", upload)

    def test_ranged_listing_partitions_the_keys(self, target: Target) -> None:
        self.needs(RANGED)
        assert isinstance(target, RangeLister)
        keys = ["p/0", "p/A", "p/Z", "p/a", "p/m/1", "p/z~", "p/é"]
        for key in keys:
            self.put(target, key, key.encode())
        ranges = [("", "A"), ("A", "a"), ("a", "n"), ("n", None)]
        listed = [t.key for lo, hi in ranges for t in target.list_range("p/", lo, hi)]
        assert sorted(listed) == sorted(keys) and len(listed) == len(keys)


    def test_a_missing_bucket_is_not_found(self, missing: Target | None) -> None:
        if missing is None:
            pytest.skip("no `missing` bucket fixture")
        with pytest.raises(NotFoundError):
            missing.probe("")
        with pytest.raises(NotFoundError):
            list(missing.list(""))


class SourceContract:
    """Every source. Fixtures: `source`, a fresh, empty bucket; `put(name, body)`, which writes a new
    generation of `name` into it. `cannot` as for targets ("ranged listing")."""

    cannot: frozenset[str] = frozenset()

    def test_it_is_a_source(self, source: Source) -> None:
        assert isinstance(source, Source) and not isinstance(source, Target)
        assert isinstance(source, RangeLister) == (RANGED not in self.cannot)

    def test_list_and_read_the_exact_generation(self, source: Source, put: Callable[[str, bytes], None]) -> None:
        for name in ("x/1", "x/2", "x/sub/3", "y/4"):
            put(name, name.encode() * 3)
        listed = {o.name: o for o in source.list("x/")}
        assert sorted(listed) == ["x/1", "x/2", "x/sub/3"]
        one = listed["x/1"]
        assert one.size == 9 and one.md5 == hashlib.md5(b"x/1" * 3).hexdigest() and one.crc32c == crc32c_b64(b"x/1" * 3)
        assert bytes(source.read(one, 3, 6)) == b"x/1"
        buffer = bytearray(3)
        assert source.read(one, 0, 3, buffer) is buffer and bytes(buffer) == b"x/1"
        put("x/1", b"a new version")
        with pytest.raises(NotFoundError):  # the listed generation is gone: never read another one
            source.read(one, 0, 3)

    def test_ranged_listing(self, source: Source, put: Callable[[str, bytes], None]) -> None:
        if RANGED in self.cannot:
            pytest.skip("this store does not do: ranged listing")
        assert isinstance(source, RangeLister)
        for name in ("x/1", "x/2", "x/sub/3"):
            put(name, b"data")
        assert [o.name for o in source.list_range("x/", "2", None)] == ["x/2", "x/sub/3"]
        assert [o.name for o in source.list_range("x/", "", "2")] == ["x/1"]


def fresh_name(prefix: str) -> str:
    """A bucket name no other test of this process uses."""
    return f"{prefix}-{next(_keys)}"
