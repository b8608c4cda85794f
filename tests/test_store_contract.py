"""gcs2s3's own stores against the store contract (gcs2s3.testing.contract): in memory (no server, in
the fast tier), and on the real servers (moto and SeaweedFS for the target, fake-gcs-server for the
source)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from google.cloud import storage

from gcs2s3.stores.gcs import GcsSource
from gcs2s3.stores.memory import MemorySource, MemoryTarget
from gcs2s3.stores.s3 import S3Target
from gcs2s3.testing.contract import CHECKSUMS, SourceContract, TargetContract, fresh_name


class TestMemoryTarget(TargetContract):
    @pytest.fixture
    def target(self) -> MemoryTarget:
        return MemoryTarget(fresh_name("mem")).create_bucket()

    @pytest.fixture
    def second(self, target: MemoryTarget) -> MemoryTarget:
        return target.at(fresh_name("mem")).create_bucket()

    @pytest.fixture
    def missing(self, target: MemoryTarget) -> MemoryTarget:
        return target.at("no-such-bucket")


class TestServerTarget(TargetContract):
    direct = True

    @pytest.fixture
    def target(self, emulators: dict[str, str]) -> S3Target:
        if emulators["s3_server"] == "moto":
            self.cannot = frozenset({CHECKSUMS})  # moto keeps whatever arrives
        name = fresh_name("contract")
        boto3.client("s3").create_bucket(Bucket=name)
        return S3Target(name, direct=self.direct)

    @pytest.fixture
    def second(self, target: S3Target) -> S3Target:
        name = fresh_name("contract")
        boto3.client("s3").create_bucket(Bucket=name)
        return target.at(name)

    @pytest.fixture
    def missing(self, target: S3Target) -> S3Target:
        return target.at("no-such-bucket-anywhere")


class TestBotocoreOnlyTarget(TestServerTarget):
    """The same S3 target with the data path made through botocore alone (`direct=False`)."""

    direct = False


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
        name = fresh_name("contract-src")
        storage.Client(project="test").create_bucket(name)
        yield name

    @pytest.fixture
    def source(self, bucket_name: str) -> GcsSource:
        return GcsSource(bucket_name)

    @pytest.fixture
    def put(self, bucket_name: str) -> Callable[[str, bytes], None]:
        bucket = storage.Client(project="test").bucket(bucket_name)
        return lambda name, body: bucket.blob(name).upload_from_string(body)
