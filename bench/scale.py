"""Scale-out benchmark: one process vs 2 shards vs a Dask LocalCluster of 2 workers.

    python bench/scale.py [--plan-objects 200000] [--copy-objects 20000] [--plan-only] [--delivered]

Local emulators (fake-gcs-server, moto). Two measurements, each for the three ways to run:
- planning: `gcs2s3 plan` of --plan-objects objects present on both sides (list both sides, decide),
  and beside it the listing alone (both sides listed at once with gcs2s3's own stores, nothing
  decided: what planning costs on top of listing is the difference) and `rclone check` of the same
  two buckets (list both sides, compare sizes and hashes), when rclone is installed;
  With --delivered the primary bucket is filled by a `gcs2s3 sync` first (so it holds our metadata and
  state cache, as after any run of ours) instead of directly, as another tool would;
- copying: `gcs2s3 sync` of --copy-objects new 1 KB objects into fresh buckets (not with --plan-only).
Wall time and peak RSS of every process (for the cluster: the client and each worker). On the 2-core
development machine the emulators themselves are single processes sharing those two cores.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config
from google.cloud import storage

from gcs2s3.testing.emulators import running_emulators
from gcs2s3.testing.peak_memory import watch_peak_rss

INI = """[DEFAULT]
aws_region = us-east-1
[Stage]
gcs_bucket = {source}
s3_bucket = {primary}
archive_bucket = {archive}
workers = 8
"""


def fill(source: str, primary: str | None, count: int) -> None:
    """`count` 1 KB objects in GCS (and, with `primary`, the same in S3: an up-to-date target)."""
    gcs = storage.Client(project="bench").bucket(source)
    s3 = boto3.client("s3", config=Config(max_pool_connections=16))
    body = b"x" * 1024

    def put(i: int) -> None:
        name = f"d{i % 100:02d}/f{i:07d}.txt"
        gcs.blob(name).upload_from_string(body)
        if primary:
            s3.put_object(Bucket=primary, Key=name, Body=body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(wall s, exit code, peak RSS KiB) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    watcher = watch_peak_rss(process)
    code = process.wait()
    watcher.join()
    return time.perf_counter() - started, code, watcher.peak_kib  # type: ignore[attr-defined]


def cli(config: Path, verb: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gcs2s3", verb, "--config", str(config), "--dev-level", "Stage", *extra]


def shards(config: Path, verb: str) -> tuple[float, int, list[int]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: run(cli(config, verb, "--shard", f"{i}/2")), range(2)))
    return time.perf_counter() - started, max(code for _, code, _ in results), [rss for *_, rss in results]


def cluster(config: Path, verb: str) -> tuple[float, int, list[int]]:
    """The same CLI with --dask-workers 2: the client's peak RSS, then each worker's (which it logs)."""
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(cli(config, verb, "--dask-workers", "2"), stdout=subprocess.DEVNULL, stderr=err)
        watcher = watch_peak_rss(process)
        code = process.wait()
        watcher.join()
        wall = time.perf_counter() - started
        err.seek(0)
        found = re.search(r"Dask workers' peak RSS MiB: ([\d, ]+)", err.read())
    workers = [int(v) * 1024 for v in found[1].split(",")] if found else []
    return wall, code, [watcher.peak_kib, *workers]  # type: ignore[attr-defined]


def list_only(config: str) -> int:
    """Both sides listed at once through gcs2s3's stores, as a run lists them; nothing decided."""
    from gcs2s3.run.listings import primary_listing, source_listing
    from gcs2s3.stores.opening import open_settings, open_stores

    settings = open_settings(config, "Stage")
    stores = open_stores(settings)
    with ThreadPoolExecutor(2) as pool:
        counts = pool.map(lambda listing: sum(1 for _ in listing),
                          [source_listing(settings, stores.source), primary_listing(settings, stores.primary)])
        print(list(counts), file=sys.stderr)
    return 0


def buckets(tag: str) -> tuple[str, str, str]:
    names = (f"src-{tag}", f"dst-{tag}", f"arc-{tag}")
    storage.Client(project="bench").create_bucket(names[0])
    for name in names[1:]:
        boto3.client("s3").create_bucket(Bucket=name)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan-objects", type=int, default=200_000)
    parser.add_argument("--copy-objects", type=int, default=20_000)
    parser.add_argument("--plan-only", action="store_true", help="only the planning rows")
    parser.add_argument("--delivered", action="store_true", help="fill the primary bucket with a gcs2s3 sync")
    parser.add_argument("--list-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.list_only:
        return list_only(args.list_only)
    rows: list[tuple] = []  # type: ignore[type-arg]
    mark = [_children_cpu()]

    def add(row: tuple) -> None:  # type: ignore[type-arg]
        """A row, with the client CPU (user+sys of every child process since the last row)."""
        now = _children_cpu()
        rows.append((*row, now - mark[0]))
        mark[0] = now

    with tempfile.TemporaryDirectory(prefix="gcs2s3-scale-") as tmp, running_emulators() as env:
        folder = Path(tmp)
        source, primary, archive = buckets("plan")
        print(f"filling {args.plan_objects:,} objects on both sides ...", file=sys.stderr)
        fill(source, None if args.delivered else primary, args.plan_objects)
        config = folder / "plan.ini"
        config.write_text(INI.format(source=source, primary=primary, archive=archive))
        if args.delivered:
            print("delivering them with gcs2s3 sync ...", file=sys.stderr)
            if run(cli(config, "sync"))[1] != 0:
                raise SystemExit("the filling sync failed")
        mark[0] = _children_cpu()
        wall, code, rss = run([sys.executable, __file__, "--list-only", str(config)], {**os.environ, **env})
        add(("list both sides", args.plan_objects, "1 process", wall, code, [rss]))
        wall, code, rss = run(cli(config, "plan"))
        add(("plan", args.plan_objects, "1 process", wall, code, [rss]))
        add(("plan", args.plan_objects, "2 shards", *shards(config, "plan")))
        add(("plan", args.plan_objects, "LocalCluster(2)", *cluster(config, "plan")))
        if shutil.which("rclone"):
            from vs_rclone import rclone_env

            check = ["rclone", "check", f"GCS:{source}", f"S3:{primary}", "--one-way", "--checkers", "8"]
            wall, code, rss = run(check, rclone_env({**os.environ, **env}))
            add(("rclone check", args.plan_objects, "1 process", wall, code, [rss]))
        if args.plan_only:
            return _table(rows)

        print(f"filling {args.copy_objects:,} objects to copy ...", file=sys.stderr)
        source = buckets("copy")[0]
        fill(source, None, args.copy_objects)
        mark[0] = _children_cpu()
        for label, how in (("1 process", None), ("2 shards", shards), ("LocalCluster(2)", cluster)):
            tag = re.sub("[^a-z0-9]+", "", label.lower())
            _, primary, archive = (source, *buckets(f"copy-{tag}")[1:])
            config = folder / f"copy-{tag}.ini"
            config.write_text(INI.format(source=source, primary=primary, archive=archive))
            if how is None:
                wall, code, rss = run(cli(config, "sync"))
                add(("sync", args.copy_objects, label, wall, code, [rss]))
            else:
                add(("sync", args.copy_objects, label, *how(config, "sync")))
    return _table(rows)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _table(rows: list[tuple]) -> int:  # type: ignore[type-arg]
    print("| work | objects | how | wall s | objects/s | exit | client CPU s | peak RSS MiB per process |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for work, count, label, wall, code, rss, cpu in rows:
        print(f"| {work} | {count:,} | {label} | {wall:.1f} | {count / wall:,.0f} | {code} | {cpu:.1f} | "
              f"{', '.join(str(r // 1024) for r in rss)} |")
    print(f"\nbench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
