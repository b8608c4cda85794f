"""Several parts of one object in flight within the memory budget, and the archive -> primary copy in
parts (UploadPartCopy) above its threshold."""

from __future__ import annotations

import itertools
import json
import threading

from conftest import World, cli
from hypothesis import given
from hypothesis import strategies as st

from gcs2s3.core.config import load_settings
from gcs2s3.run.sync import run_sync
from gcs2s3.run.transfer import MAX_PARTS, part_ranges
from gcs2s3.stores.gcs import GcsSource
from gcs2s3.stores.protocols import Stores
from gcs2s3.stores.s3 import S3Target

MIB = 1024 * 1024


@given(st.integers(min_value=1, max_value=5 * 1024**4), st.integers(min_value=5 * MIB, max_value=512 * MIB))
def test_parts_cover_the_object_within_s3_limits(size: int, part_size: int) -> None:
    ranges = part_ranges(size, part_size)
    assert len(ranges) <= MAX_PARTS
    assert [n for n, _, _ in ranges] == list(range(1, len(ranges) + 1))
    assert ranges[0][1] == 0 and ranges[-1][2] == size
    assert all(end == nxt for (_, _, end), (_, nxt, _) in itertools.pairwise(ranges))
    assert all(end - start >= part_size for _, start, end in ranges[:-1])
    assert all(end - start <= 5 * 1024**3 for _, start, end in ranges)  # S3's largest part


class WatchedTarget(S3Target):
    """The real S3 adapter, recording how many part uploads run at once."""

    def __init__(self, bucket: str, region: str) -> None:
        super().__init__(bucket, region)
        self.lock = threading.Lock()
        self.now = self.most = 0

    def upload_part(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return super().upload_part(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


def test_parts_of_one_object_upload_in_parallel_within_the_budget(world: World) -> None:
    body = bytes(range(256)) * (26 * 4096)  # 26 MiB: six parts of 5 MiB
    world.put("one/big.bin", body)
    settings = load_settings(
        world.ini(multipart_threshold_mb="1", part_size_mb="5", max_buffer_mb="15", workers="1"), "Stage"
    )
    target = WatchedTarget(settings.archive_bucket, settings.aws_region)  # the parts go to the archive
    stores = Stores(GcsSource(settings.gcs_bucket), target.at(settings.s3_bucket), target)
    result = run_sync(settings, stores, stages=())
    assert result.exit_code == 0
    assert 2 <= target.most <= 3  # 15 MiB budget / 5 MiB parts: never more than three parts held
    assert world.keys()["one/big.bin"] == body


def test_large_copies_use_upload_part_copy(world: World, emulators: dict[str, str]) -> None:
    body = bytes(range(256)) * (12 * 4096)  # 12 MiB: three copy parts of 5 MiB
    world.put("huge.bin", body)
    world.put("small.txt", b"small")
    ini = {"multipart_threshold_mb": "1", "part_size_mb": "5", "multipart_copy_threshold_mb": "1"}
    result = cli("sync", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--json")
    assert result.code == 0, result.stdout
    assert json.loads(result.stdout)["counts"]["delivered"] == 2
    head = world.s3.head_object(Bucket=world.s3_bucket, Key="huge.bin")
    assert head["ETag"].endswith('-3"')  # assembled from three copied parts
    assert head["Metadata"]["source-crc32c"] == world.gcs.get_blob("huge.bin").crc32c
    assert world.keys()["huge.bin"] == body
    rerun = json.loads(cli("sync", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--json").stdout)
    assert rerun["counts"]["unchanged"] == 2
    assert cli("verify", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--deep-verify").code == 0
