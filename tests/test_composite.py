"""Composite GCS objects carry no MD5, only CRC32C: delivered, verified by CRC32C, never re-copied.

fake-gcs-server computes an MD5 even for composed objects, so the listing is made to look like real
GCS's by dropping the MD5 from what the real adapter returned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from conftest import World

from gcs2s3.core.config import load_settings
from gcs2s3.core.models import SourceObject
from gcs2s3.run.sync import run_sync
from gcs2s3.run.verify import run_verify
from gcs2s3.stores.gcs import GcsSource
from gcs2s3.stores.protocols import Stores
from gcs2s3.stores.s3 import S3Target


class CountingTarget(S3Target):
    heads = 0

    def head(self, key: str):  # type: ignore[no-untyped-def]
        self.heads += 1
        return super().head(key)


class CompositeListing(GcsSource):
    def list(self, prefix: str) -> Iterator[SourceObject]:
        for obj in super().list(prefix):
            yield dataclasses.replace(obj, md5=None)


def test_composite_objects_use_crc32c_only(world: World) -> None:
    world.put("parts/a", b"a" * 100)
    world.put("parts/b", b"b" * (2 * 1024 * 1024))
    settings = load_settings(world.ini(multipart_threshold_mb="1", part_size_mb="5"), "Stage")
    source, target = CompositeListing(settings.gcs_bucket), CountingTarget(settings.s3_bucket, settings.aws_region)
    stores = Stores(source, target, target.at(settings.archive_bucket))

    first = run_sync(settings, stores, stages=())
    assert first.exit_code == 0 and len(first.outcomes) == 2
    assert {o.verified_by for o in first.outcomes} == {"crc32c"}
    head = world.s3.head_object(Bucket=world.s3_bucket, Key="parts/a")
    assert "source-md5" not in head["Metadata"]

    target.heads = 0
    again = run_sync(settings, stores, stages=())
    assert again.exit_code == 0 and again.outcomes == []
    assert target.heads == 0  # the state cache vouches for both; without it each costs a HEAD
    assert {a.kind.value for a in again.plan.actions} == {"unchanged"}
    assert run_verify(settings, stores).ok
