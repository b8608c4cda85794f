"""Planning at scale from synthetic listings: memory and time per listed object, no server.

    python bench/plan_scale.py [--objects 1000000 10000000] [--flatten] [--paths today core stream]

Each size and path runs in a fresh child process: a synthetic source and primary target that generate
their listings on the fly (every object present on both sides, unchanged, as after a first sync;
names like `d042/7/img-00012345.jpg` in 1,000 folders, in an order that is not the keys' order, as a
parallel listing gives them). The child measures from its RSS once the stores are ready to its
high-water mark (VmHWM): what planning adds per listed object, not what the synthetic stores hold
(they hold nothing per object). Paths:
- today: `make_plan` as a run makes it (both listings, the state cache a first sync wrote, the
  in-memory merge-join, the settling from the cache);
- core: `build_plan` alone over the two listings (no state cache): today's planning core;
- stream: the streaming planner (core/stream_plan.py) over both listings and the state cache, each
  sorted by key with the external sort (run/sorting.py, `--run-mb` of pairs in memory per sort, the
  rest spilled to disk), the cache settling each object as make_plan does, the actions consumed as a
  run would consume the unchanged ones (counted, not kept).
Prints a table: path, objects, seconds, µs per object, peak RSS added, bytes per object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from gcs2s3.core.config import Settings
from gcs2s3.core.headers import delivered_headers, digest
from gcs2s3.core.models import DestObject, Headers, SourceObject
from gcs2s3.core.plan import build_plan
from gcs2s3.core.stream_plan import StreamingPlan
from gcs2s3.run.sorting import external_sort
from gcs2s3.run.state import StateCache, StateEntry, pack_entry, vouched_packed
from gcs2s3.run.sync import make_plan
from gcs2s3.stores.memory import MemoryTarget

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HEADERS = Headers(content_type="image/jpeg", cache_control="max-age=3600")


def name_of(i: int) -> str:
    return f"d{i % 1000:03d}/{i % 7}/img-{i:08d}.jpg"


def objects(count: int) -> Iterator[SourceObject]:
    """The source listing, generated (GCS order does not matter to the planner)."""
    for i in range(count):
        name = name_of(i)
        md5 = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
        yield SourceObject(name, 1000 + i % 5000, md5, f"{i % 99_999_999:08d}"[:6] + "==", 1_700_000_000_000 + i,
                           CREATED, HEADERS)


class SyntheticSource:
    bucket = "src"

    def __init__(self, count: int) -> None:
        self.count = count

    def list(self, prefix: str) -> Iterator[SourceObject]:
        return objects(self.count)  # by object number: 1,000 folders interleaved, not the names' order


class SyntheticTarget(MemoryTarget):
    """The primary listing generated from the same objects; the state cache read from a file."""

    def __init__(self, count: int, flatten: bool, state_file: Path) -> None:
        super().__init__()
        self.count = count
        self.flatten = flatten
        self.state_file = state_file

    def list(self, bucket: str, prefix: str) -> Iterator[DestObject]:
        for source in objects(self.count):
            key = source.name.replace("/", "_") if self.flatten else source.name
            yield DestObject(key, source.size, source.md5 or "")

    def read_small(self, bucket: str, key: str) -> bytes | None:
        return self.state_file.read_bytes() if key.endswith("state.json.gz") else None


def cache_pairs(count: int, flatten: bool) -> Iterator[tuple[bytes, bytes]]:
    """The state cache a first sync wrote, as (key, packed entry) pairs (a run would stream it in key order
    from S3; here it is generated and sorted, so its sort is part of the measurement)."""
    for source in objects(count):
        key = source.name.replace("/", "_") if flatten else source.name
        entry = StateEntry(source.md5 or "", source.size, source.crc32c, source.generation, source.md5,
                           digest(delivered_headers(source)[0]))
        yield key.encode(), pack_entry(entry)


def settings(flatten: bool) -> Settings:
    return Settings.model_validate({
        "dev_level": "Stage", "gcs_bucket": "src", "s3_bucket": "dst", "archive_bucket": "arc",
        "wordpress_modification_for_s3_upload_plugin": flatten,
    })


def _status(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(found[1]) * 1024 if found else 0


def child(count: int, flatten: bool, path: str, run_mb: int) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    config = settings(flatten)
    with tempfile.TemporaryDirectory(prefix="gcs2s3-plan-scale-") as tmp:
        state_file = Path(tmp) / "state.json.gz"
        if path == "today":
            cache = StateCache()
            for source in objects(count):
                key = source.name.replace("/", "_") if flatten else source.name
                cache.record(key, source.md5 or "", source, digest(delivered_headers(source)[0]))
            state_file.write_bytes(cache.to_bytes())
            del cache
        source, target = SyntheticSource(count), SyntheticTarget(count, flatten, state_file)
        before = _status("VmRSS")
        started = time.perf_counter()
        if path == "today":
            plan, _ = make_plan(config, source, target)  # type: ignore[arg-type]
            kinds = Counter(a.kind.value for a in plan.actions)
        elif path == "core":
            plan = build_plan(config.key_rules, source.list(""), target.list("dst", ""))
            kinds = Counter(a.kind.value for a in plan.actions)
        else:
            streaming = StreamingPlan(config.key_rules)
            bound = run_mb * 2**20
            joined = streaming.join(external_sort(streaming.mapped(source.list("")), bound, tmp),
                                    external_sort(streaming.listed(target.list("dst", "")), bound, tmp),
                                    external_sort(cache_pairs(count, flatten), bound, tmp), vouched_packed)
            kinds = Counter(action.kind.value for action in joined if action.existing.metadata)  # settled by the cache
        seconds = time.perf_counter() - started
        peak = _status("VmHWM")
    assert sum(kinds.values()) == count and kinds["unchanged"] == count, kinds
    return {"objects": count, "seconds": seconds, "added": peak - before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--paths", nargs="+", default=["today", "core", "stream"], choices=["today", "core", "stream"])
    parser.add_argument("--flatten", action="store_true", help="WordPress flattening on (keys reordered)")
    parser.add_argument("--run-mb", type=int, default=32, help="stream path: MiB of pairs sorted in memory")
    parser.add_argument("--in-memory-up-to", type=int, default=2_000_000,
                        help="run the today and core paths only up to this many objects (~2 KB each in memory)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.flatten, args.paths[0], args.run_mb)))
        return 0
    print("| path | flatten | objects | plan s | µs per object | peak RSS added MiB | bytes per object |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for count in args.objects:
        for path in args.paths:
            if path != "stream" and count > args.in_memory_up_to:
                print(f"| {path} | {'on' if args.flatten else 'off'} | {count:,} | not run: would hold "
                      f"~{count * 2000 / 1e9:.0f} GB | | | |", flush=True)
                continue
            command = [sys.executable, __file__, "--child", str(count), "--paths", path, "--run-mb", str(args.run_mb),
                       *(["--flatten"] if args.flatten else [])]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            print(f"| {path} | {'on' if args.flatten else 'off'} | {count:,} | {result['seconds']:.1f} | "
                  f"{result['seconds'] / count * 1e6:.1f} | {result['added'] / 2**20:.0f} | "
                  f"{result['added'] / count:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
