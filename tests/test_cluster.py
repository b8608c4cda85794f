"""One sync on a Dask LocalCluster (2 worker processes) against the emulators equals the single-process
run object by object, also when a worker is killed mid-run."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest
from conftest import World, cli, photo

from gcs2s3.cluster import DaskEngine, SettingsRef, dask_client, name_ranges
from gcs2s3.core.config import load_settings
from gcs2s3.run.sync import run_sync
from gcs2s3.stages import stages_for
from gcs2s3.stores.opening import open_stores

pytest.importorskip("distributed")


def test_name_ranges_cover_every_string_once() -> None:
    for count in (1, 2, 5, 16, 100):
        ranges = name_ranges(count)
        assert ranges[0][0] == "" and ranges[-1][1] is None
        assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
        for name in ("", "0", "a/b", "Zz", "zzz", "~tilde", "ü", "\U0001f600", "A", "9x"):
            owners = [r for r in ranges if r[0] <= name and (r[1] is None or name < r[1])]
            assert len(owners) == 1, (count, name)


def fill(world: World) -> None:
    for i in range(40):
        world.put(f"d{i % 5}/s{i % 3}/f{i:02d}.txt", f"body {i}".encode())
    world.put("Upper/Case.csv", b"a,b\n")
    world.put("0digits/x.bin", bytes(range(256)) * 9000)  # 2.2 MB: multipart with the settings below
    world.put("img/p.jpg", photo(400, 300))
    world.put("~tail/ü.txt", b"unicode")


INI = {"wordpress_modification_for_s3_upload_plugin": "true", "thumbnails": "true", "thumbnail_workers": "1",
       "multipart_threshold_mb": "1", "part_size_mb": "5", "workers": "2"}


def one_process_copy(world: World) -> tuple[World, dict]:
    other = World(world.gcs_bucket, world.s3_bucket + "-one", world.archive_bucket + "-one", world.tmp)
    other.s3.create_bucket(Bucket=other.s3_bucket)
    other.s3.create_bucket(Bucket=other.archive_bucket)
    report = json.loads(cli("sync", "--config", str(other.ini(**INI)), "--dev-level", "Stage", "--json").stdout)
    return other, report


def content(world: World, bucket: str | None = None) -> dict[str, bytes]:
    return {k: v for k, v in world.keys(bucket).items() if ".gcs2s3/" not in k}


def test_a_cluster_run_equals_the_single_process_run(world: World) -> None:
    fill(world)
    result = cli("sync", "--config", str(world.ini(**INI)), "--dev-level", "Stage", "--json", "--dask-workers", "2")
    assert result.code == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    other, single = one_process_copy(world)
    assert content(world) == content(other)
    assert Counter(content(world, world.archive_bucket).values()) == Counter(
        content(other, other.archive_bucket).values())
    for key in ("new", "changed", "unchanged", "delivered", "archived", "failed", "refused"):
        assert report["counts"][key] == single["counts"][key], key
    assert report["thumbnails"] == single["thumbnails"]
    again = cli("sync", "--config", str(world.ini(**INI)), "--dev-level", "Stage", "--json", "--dask-workers", "2")
    assert json.loads(again.stdout)["counts"]["unchanged"] == single["counts"]["new"]


def test_a_worker_killed_mid_run_costs_only_a_retry(world: World) -> None:
    fill(world)
    settings = load_settings(world.ini(**INI), "Stage")
    ref = SettingsRef(str(world.ini(**INI)), "Stage")
    killed: list[int] = []
    with dask_client(None, 2) as client:
        pids = list(client.run(os.getpid).values())

        def kill_one(_: object) -> None:
            if not killed:  # after the first outcome: the other chunks are queued or running
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        engine = DaskEngine(client, ref, ranges=8, chunk=4)
        result = run_sync(settings, open_stores(settings), stages=stages_for(settings), engine=engine,
                          on_outcome=kill_one)
    assert killed and result.exit_code == 0, [o.error for o in result.failed]
    other, single = one_process_copy(world)
    assert content(world) == content(other)
    assert Counter(content(world, world.archive_bucket).values()) == Counter(
        content(other, other.archive_bucket).values())
    assert len(result.outcomes) == single["counts"]["delivered"]
