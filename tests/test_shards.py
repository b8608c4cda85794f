"""Sharding: N shards together plan exactly what one run plans, each name in exactly one shard, every
collision still refused by every shard; and N = 3 real processes against the emulators."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest
from conftest import World, cli, photo
from hypothesis import given, settings
from hypothesis import strategies as st
from test_crash import start_sync
from test_plan import MD5, THUMBNAILS, src

from gcs2s3.core.errors import CollisionError
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.models import DestObject
from gcs2s3.core.shards import Shard, shard_of
from gcs2s3.testing.in_memory_plan import build_plan

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16)


def test_the_split_is_stable_and_spec_is_checked() -> None:
    # Fixed values: the split must not change with the interpreter, the machine or the hash seed.
    assert [shard_of(n, 7) for n in ("a", "reports/q1.csv", "images/ü.png", "")] == [
        shard_of(n, 7) for n in ("a", "reports/q1.csv", "images/ü.png", "")]
    assert shard_of("reports/q1.csv", 1) == 0
    assert subprocess.run(["python3", "-c", "import hashlib;print(int.from_bytes(hashlib.blake2b("
                           "'reports/q1.csv'.encode(), digest_size=8).digest(), 'big') % 7)"],
                          capture_output=True, text=True).stdout.strip() == str(shard_of("reports/q1.csv", 7))
    assert Shard.parse(" 2 / 3 ") == Shard(2, 3)
    for bad in ("3/3", "-1/3", "1/0", "x", "1-3"):
        with pytest.raises(ValueError, match="shard"):
            Shard.parse(bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(names, unique=True, max_size=40), st.lists(names, unique=True, max_size=20),
       st.integers(1, 5), st.booleans())
def test_shards_together_plan_what_one_run_plans(sources: list[str], extra: list[str], count: int,
                                                 flatten: bool) -> None:
    rules = KeyRules(path="", s3_prefix="out/", archive_prefix="arc/", flatten=flatten)
    objects = [src(n) for n in sources if ".gcs2s3" not in n.split("/")]
    targets = [DestObject("out/" + n, 3, MD5) for n in sources[::2] + extra]
    try:
        whole = build_plan(rules, objects, targets, claimants=THUMBNAILS)
    except CollisionError:
        for index in range(count):  # a collision between any two names is refused by every shard
            with pytest.raises(CollisionError):
                build_plan(rules, objects, targets, claimants=THUMBNAILS, shard=Shard(index, count))
        return
    parts = [build_plan(rules, objects, targets, claimants=THUMBNAILS, shard=Shard(i, count)) for i in range(count)]
    every = [(a.source.name, a.kind, a.dest_key, tuple(a.attached)) for part in parts for a in part.actions]
    assert Counter(every) == Counter((a.source.name, a.kind, a.dest_key, tuple(a.attached)) for a in whole.actions)
    assert len(every) == len({name for name, *_ in every})  # each name in exactly one shard
    for field in ("placeholders", "target_only", "attached_in_target"):
        assert sum(getattr(p, field) for p in parts) == getattr(whole, field), field
    assert sorted(r.name for p in parts for r in p.refused) == sorted(r.name for r in whole.refused)


def test_three_shard_processes_do_what_one_run_does(world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    for i in range(30):
        world.put(f"d{i % 4}/f{i:02d}.txt", f"body {i}".encode())
    for i in range(4):
        world.put(f"img/p{i}.jpg", photo(320, 240))
    world.put("x" * 1100, b"refused in one shard only")
    ini = {"thumbnails": "true", "report_prefix": "reports/", "workers": "2"}
    processes = [start_sync(world, {}, "--shard", f"{i}/3", **ini) for i in range(3)]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == (1 if b"x" * 50 in out else 0), err.decode()[-2000:]
        reports.append(json.loads(out))
    assert sorted(r["shard"] for r in reports) == ["0/3", "1/3", "2/3"]
    totals = Counter()
    for report in reports:
        totals.update({k: v for k, v in report["counts"].items()})
        totals.update({f"thumbnails.{k}": v for k, v in report["thumbnails"].items()})
    sharded = {k: v for k, v in world.keys().items() if "/.gcs2s3/" not in k and not k.startswith(".gcs2s3/")}

    # The same source synced in one run, into a second pair of buckets.
    other = World(world.gcs_bucket, world.s3_bucket + "-one", world.archive_bucket + "-one", world.tmp)
    other.s3.create_bucket(Bucket=other.s3_bucket)
    other.s3.create_bucket(Bucket=other.archive_bucket)
    whole = json.loads(cli("sync", "--config", str(other.ini(**ini)), "--dev-level", "Stage", "--json").stdout)
    single = {k: v for k, v in other.keys().items() if "/.gcs2s3/" not in k and not k.startswith(".gcs2s3/")}
    assert sharded == single  # same primary, thumbnails included
    assert Counter(v for k, v in other.keys(other.archive_bucket).items() if not k.startswith("reports/")) == Counter(
        v for k, v in world.keys(world.archive_bucket).items() if not k.startswith("reports/"))
    for key, value in whole["counts"].items():
        assert totals[key] == value, key
    for key, value in whole["thumbnails"].items():
        assert totals[f"thumbnails.{key}"] == value, key
    shard_reports = [k for k in world.keys(world.archive_bucket) if k.startswith("reports/")]
    assert len(shard_reports) == 3 and all("-shard-" in k for k in shard_reports)
    state = [k for k in list(world.keys(bookkeeping=True)) if k.startswith(".gcs2s3/")]
    assert state and all("-of-3.json.gz" in k for k in state)  # each shard its own bookkeeping, never a shared one
    rerun = [json.loads(cli("sync", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--json",
                            "--shard", f"{i}/3").stdout) for i in range(3)]
    assert sum(r["counts"]["unchanged"] for r in rerun) == whole["counts"]["new"]
    # `verify` runs unsharded: it reads every shard's thumbnail record.
    checked = cli("verify", "--config", str(world.ini(**ini)), "--dev-level", "Stage", "--json")
    assert json.loads(checked.stdout)["thumbnails"]["images_checked"] == 4
    assert [f["key"] for f in json.loads(checked.stdout)["failures"]] == ["x" * 1100]  # the refused name only


def test_a_bad_shard_is_a_usage_error(world: World) -> None:
    result = cli("sync", "--config", str(world.ini()), "--dev-level", "Stage", "--shard", "3/3")
    assert result.code == 2 and "--shard: shard '3/3': need 0 <= i < N" in result.stderr
    result = cli("plan", "--config", str(world.ini()), "--dev-level", "Stage", "--json", env={"GCS2S3_SHARD": "0/2"})
    assert result.code == 0 and json.loads(result.stdout)["shard"] == "0/2"
