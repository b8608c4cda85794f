"""The library from the outside: a source and a target written only from the names `gcs2s3` exports
pass the store contract and carry a whole sync, verify included, with the plan closed after use."""

from __future__ import annotations

import base64
import hashlib
import itertools
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import crc32c
import pytest

import gcs2s3
from gcs2s3 import (
    DestObject,
    Fetched,
    Headers,
    IntegrityError,
    Kind,
    NotFoundError,
    PreconditionFailedError,
    PutMode,
    PutOptions,
    Settings,
    SourceObject,
    Stores,
    Target,
    WriteResult,
    make_plan,
    run_sync,
    run_verify,
)
from gcs2s3.testing.contract import MULTIPART, RANGED, SourceContract, TargetContract


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(struct.pack(">I", crc32c.crc32c(data))).decode()


class DictSource:
    """A source bucket in a dict: each put is a new generation."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._objects: dict[str, tuple[SourceObject, bytes]] = {}
        self._generations = itertools.count(1)

    def put(self, name: str, body: bytes) -> None:
        listed = SourceObject(name, len(body), hashlib.md5(body).hexdigest(), crc32c_b64(body),
                              next(self._generations), datetime.now(UTC), Headers())
        self._objects[name] = (listed, body)

    def list(self, prefix: str) -> Iterator[SourceObject]:
        return iter([listed for name, (listed, _) in sorted(self._objects.items()) if name.startswith(prefix)])

    def probe(self, prefix: str, timeout_s: float) -> None:
        return None

    def read(self, obj: SourceObject, start: int, end: int, into: bytearray | None = None) -> bytearray:
        listed, body = self._objects.get(obj.name, (None, b""))
        if listed is None or listed.generation != obj.generation:
            raise NotFoundError(f"{obj.name} generation {obj.generation} is gone")
        if into is not None and len(into) == end - start:
            into[:] = body[start:end]
            return into
        return bytearray(body[start:end])


class DictTarget:
    """A target bucket in a dict of buckets shared by every DictTarget made from one another."""

    def __init__(self, bucket: str, buckets: dict[str, dict[str, tuple[bytes, dict[str, str]]]] | None = None) -> None:
        self.bucket = bucket
        self._buckets = {} if buckets is None else buckets
        self._buckets.setdefault(bucket, {})
        self._lock = threading.Lock()

    def beside(self, bucket: str) -> DictTarget:
        return DictTarget(bucket, self._buckets)

    @property
    def _objects(self) -> dict[str, tuple[bytes, dict[str, str]]]:
        return self._buckets[self.bucket]

    def list(self, prefix: str) -> Iterator[DestObject]:
        return iter([DestObject(key, len(body), hashlib.md5(body).hexdigest())
                     for key, (body, _) in sorted(self._objects.items()) if key.startswith(prefix)])

    def probe(self, prefix: str, timeout_s: float | None = None) -> None:
        return None

    def head(self, key: str) -> DestObject | None:
        if key not in self._objects:
            return None
        body, metadata = self._objects[key]
        return DestObject(key, len(body), hashlib.md5(body).hexdigest(), dict(metadata), crc32c_b64(body))

    def get(self, key: str) -> Fetched:
        if key not in self._objects:
            raise NotFoundError(f"no such key {key}")
        body = self._objects[key][0]
        return Fetched(body, hashlib.md5(body).hexdigest(), 0.0)

    def open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        body = self.get(key).body
        return iter([body[i:i + chunk_size] for i in range(0, len(body), chunk_size)])

    def _check(self, key: str, mode: PutMode) -> None:
        existing = self._objects.get(key)
        if mode.kind == "create" and existing is not None:
            raise PreconditionFailedError(f"{key} exists")
        if mode.kind == "update" and (existing is None or hashlib.md5(existing[0]).hexdigest() != mode.etag):
            raise PreconditionFailedError(f"{key} has another ETag")

    def put(self, key: str, body: bytes | bytearray, options: PutOptions) -> WriteResult:
        data = bytes(body)
        if options.crc32c not in (None, crc32c_b64(data)) or \
                options.md5_b64 not in (None, base64.b64encode(hashlib.md5(data).digest()).decode()):
            raise IntegrityError(f"{key}: the body does not match its checksums")
        with self._lock:
            self._check(key, options.mode)
            self._objects[key] = (data, dict(options.metadata))
        return WriteResult(hashlib.md5(data).hexdigest(), crc32c_b64(data))

    def copy(self, src: tuple[Target, str], key: str, options: PutOptions) -> WriteResult:
        options.mode.allowed("a server-side copy", "overwrite")
        store, source_key = src
        if not isinstance(store, DictTarget) or store._buckets is not self._buckets:
            raise ValueError("a copy needs a source of the same store")
        body = store.get(source_key).body
        with self._lock:
            self._objects[key] = (body, dict(options.metadata))
        return WriteResult(hashlib.md5(body).hexdigest(), crc32c_b64(body))

    def delete(self, key: str, mode: PutMode = PutMode()) -> None:  # noqa: B008 (frozen: one shared value is safe)
        mode.allowed("a delete", "overwrite", "update")
        with self._lock:
            self._check(key, mode)
            self._objects.pop(key, None)


class TestDictTarget(TargetContract):
    cannot = frozenset({MULTIPART, RANGED})

    @pytest.fixture
    def target(self) -> DictTarget:
        return DictTarget("contract")

    @pytest.fixture
    def second(self, target: DictTarget) -> DictTarget:
        return target.beside("second")


class TestDictSource(SourceContract):
    cannot = frozenset({RANGED})

    @pytest.fixture
    def source(self) -> DictSource:
        return DictSource("contract")

    @pytest.fixture
    def put(self, source: DictSource):  # type: ignore[no-untyped-def]
        return source.put


def test_a_sync_and_a_verify_run_on_stores_written_from_the_exported_names() -> None:
    source = DictSource("src")
    for name, body in {"r/q1.csv": b"north,1\n", "img/a.png": b"\x89PNG", "deep/x/y.txt": b"y"}.items():
        source.put(name, body)
    primary = DictTarget("dst")
    stores = Stores(source, primary, primary.beside("arc"))
    settings = Settings.model_validate({"dev_level": "Stage", "gcs_bucket": "src", "s3_bucket": "dst",
                                        "archive_bucket": "arc", "archive_prefix": "archive/"})
    with make_plan(settings, stores) as plan:
        assert plan.count(Kind.NEW) == 3 and plan.size(Kind.NEW) == 13
    result = run_sync(settings, stores, stages=())
    assert result.exit_code == 0 and len(result.outcomes) == 3
    assert {k: b for k, (b, _) in primary._objects.items() if ".gcs2s3/" not in k} == {
        "r/q1.csv": b"north,1\n", "img/a.png": b"\x89PNG", "deep/x/y.txt": b"y"}
    assert sorted(o.size for o in stores.archive.list("archive/")) == [1, 4, 8]
    assert run_verify(settings, stores).ok
    again = run_sync(settings, stores, stages=())
    assert again.exit_code == 0 and again.outcomes == []


def test_every_exported_name_resolves_and_settings_from_a_file_load_no_sdk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in gcs2s3.__all__:
        assert getattr(gcs2s3, name) is not None, name
    ini = tmp_path / "primary.ini"
    ini.write_text("[Stage]\ngcs_bucket = src-b\ns3_bucket = dst-b\narchive_bucket = arc-b\n"
                   "archive_prefix = archive/\n")
    code = (f"import sys, gcs2s3; s = gcs2s3.open_settings({str(ini)!r}, 'Stage'); assert s.s3_bucket == 'dst-b'; "
            "loaded = [m for m in ('botocore', 'google.cloud.storage', 'google.auth') if m in sys.modules]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
