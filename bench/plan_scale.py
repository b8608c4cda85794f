"""Planning at scale from synthetic listings: memory and time per listed object, no server.

    python bench/plan_scale.py [--objects 1000000 10000000] [--flatten] [--paths memory core run]

Each size and path runs in a fresh child process: a synthetic source and primary target that generate
their listings on the fly (every object present on both sides, unchanged, as after a first sync;
names like `d042/7/img-00012345.jpg` in 1,000 folders, in an order that is not the keys' order, as a
parallel listing gives them), and the state cache a first sync wrote, streamed from a file (written
once per size by the parent, line by line). The child measures from its RSS once the stores are ready
to its high-water mark (VmHWM): what planning adds per listed object, not what the synthetic stores
hold (they hold nothing per object). Paths:
- memory: the in-memory reference planner the tests compare the run's with (both listings as Python records,
  `build_plan`'s merge-join, the state cache read into a dict and settling each object);
- core: `build_plan` alone over the two listings (no state cache): that planning's core;
- run: what a sync does: `run.sync.plan_with_state` (both listings sorted by key on disk beyond a
  bound, the cache streamed and joined, the actions spooled to disk), then the next state cache
  computed from the plan in key order and compared with the stored one (unchanged: not rewritten).
Prints a table: path, objects, seconds, µs per object, peak RSS added, bytes per object, and for the
run path the local disk its sorts and its plan spool used (temporary files, gone when it ends).
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
from gcs2s3.core.errors import NotFoundError
from gcs2s3.core.headers import delivered_headers, digest
from gcs2s3.core.models import DestObject, Fetched, Headers, Kind, Plan, SourceObject
from gcs2s3.run.documents import EntryWriter
from gcs2s3.run.state import STATE_FORMAT, StateEntry, state_entry, write_state
from gcs2s3.run.sync import next_state, plan_with_state
from gcs2s3.stores.memory import MemoryTarget
from gcs2s3.stores.protocols import Stores
from gcs2s3.testing.in_memory_plan import StateCache, build_plan, external_sort, load_state, settled_in_memory

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
        super().__init__("dst")
        self.count = count
        self.flatten = flatten
        self.state_file = state_file

    def list(self, prefix: str) -> Iterator[DestObject]:
        for source in objects(self.count):
            key = source.name.replace("/", "_") if self.flatten else source.name
            yield DestObject(key, source.size, source.md5 or "")

    def get(self, key: str) -> Fetched:
        if not key.endswith("state.json.gz"):
            raise NotFoundError(f"synthetic: NoSuchKey {key}", 404)
        return Fetched(self.state_file.read_bytes(), "etag", 0.0)

    def open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        if not key.endswith("state.json.gz"):
            raise NotFoundError(f"synthetic: NoSuchKey {key}", 404)
        return self._chunks(chunk_size)

    def _chunks(self, chunk_size: int) -> Iterator[bytes]:
        with self.state_file.open("rb") as file:
            while chunk := file.read(chunk_size):
                yield chunk


def write_cache(count: int, flatten: bool, path: Path, folder: str) -> None:
    """The state cache a first sync wrote, line by line in key order (sorted on disk: no dict)."""
    def pairs() -> Iterator[tuple[bytes, bytes]]:
        for source in objects(count):
            key = source.name.replace("/", "_") if flatten else source.name
            yield key.encode(), json.dumps(source.name).encode()

    writer = EntryWriter(STATE_FORMAT, list(StateEntry.__dataclass_fields__))
    for key, name in external_sort(pairs(), folder=folder):
        number = int(json.loads(name).rsplit("-", 1)[1][:8])
        source = next(objects_from(number))
        entry = state_entry(source.md5 or "", source, digest(delivered_headers(source)[0]))
        writer.add(key.decode(), (entry.etag, entry.size, entry.crc32c, entry.generation, entry.md5, entry.headers))
    size = writer.finish()
    writer.file.seek(0)
    with path.open("wb") as out:
        while chunk := writer.file.read(1 << 20):
            out.write(chunk)
    assert path.stat().st_size == size
    writer.close()


def objects_from(number: int) -> Iterator[SourceObject]:
    """Object `number` of `objects` (the generator's formula, for one object)."""
    name = name_of(number)
    md5 = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    yield SourceObject(name, 1000 + number % 5000, md5, f"{number % 99_999_999:08d}"[:6] + "==",
                       1_700_000_000_000 + number, CREATED, HEADERS)


def plan_in_memory(config: Settings, source: SyntheticSource, target: SyntheticTarget) -> Plan:
    """The in-memory reference planning: both listings held, `build_plan`, the state
    cache read whole into a dict, each unsure action settled from it; then the next cache made as a
    dict and compared with the stored one (unchanged: not rewritten)."""
    state = load_state(target, "state.json.gz")
    plan = settled_in_memory(build_plan(config.key_rules, source.list(""), target.list("")), state)
    after = StateCache()
    for action in plan.actions:
        if action.kind is Kind.UNCHANGED and action.existing is not None:
            after.record(action.dest_key, action.existing.etag, action.source, digest(action.headers))
    assert after.entries == state.entries, "the state cache of an unchanged run is not rewritten"
    return plan


def settings(flatten: bool) -> Settings:
    return Settings.model_validate({
        "dev_level": "Stage", "gcs_bucket": "src", "s3_bucket": "dst", "archive_bucket": "arc",
        "wordpress_modification_for_s3_upload_plugin": flatten,
    })


def _status(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(found[1]) * 1024 if found else 0


def child(count: int, flatten: bool, path: str, state_file: Path) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    config = settings(flatten)
    source, target = SyntheticSource(count), SyntheticTarget(count, flatten, state_file)
    before = _status("VmRSS")
    started = time.perf_counter()
    disk = 0
    if path == "memory":
        plan = plan_in_memory(config, source, target)
        kinds = Counter(a.kind.value for a in plan.actions if a.existing and a.existing.metadata)  # settled
    elif path == "core":
        plan = build_plan(config.key_rules, source.list(""), target.list(""))
        kinds = Counter(a.kind.value for a in plan.actions)
    else:
        plan, stored = plan_with_state(config, Stores(source, target, target))  # type: ignore[arg-type]
        written = write_state(target, "state.json.gz", lambda: next_state(plan, []), stored)
        assert not written, "the state cache of an unchanged run is not rewritten"
        kinds = Counter({kind.value: plan.count(kind) for kind in Kind if plan.count(kind)})
        disk = plan.actions.sorted_bytes + plan.actions.written  # type: ignore[union-attr]
    seconds = time.perf_counter() - started
    peak = _status("VmHWM")
    assert sum(kinds.values()) == count and kinds["unchanged"] == count, kinds
    return {"objects": count, "seconds": seconds, "added": peak - before, "disk": disk}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--paths", nargs="+", default=["memory", "core", "run"], choices=["memory", "core", "run"])
    parser.add_argument("--flatten", action="store_true", help="WordPress flattening on (keys reordered)")
    parser.add_argument("--in-memory-up-to", type=int, default=2_000_000,
                        help="run the memory and core paths only up to this many objects (~2 KB each in memory)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.flatten, args.paths[0], args.state)))
        return 0
    print("| path | flatten | objects | plan s | µs per object | peak RSS added MiB | bytes per object | disk MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for count in args.objects:
        with tempfile.TemporaryDirectory(prefix="gcs2s3-plan-scale-") as tmp:
            state = Path(tmp) / "state.json.gz"
            write_cache(count, args.flatten, state, tmp)
            for path in args.paths:
                if path != "run" and count > args.in_memory_up_to:
                    print(f"| {path} | {'on' if args.flatten else 'off'} | {count:,} | not run: would hold "
                          f"~{count * 2000 / 1e9:.0f} GB | | | | |", flush=True)
                    continue
                command = [sys.executable, __file__, "--child", str(count), "--paths", path, "--state", str(state),
                           *(["--flatten"] if args.flatten else [])]
                measure(command, count, path, args.flatten)
    return 0


def measure(command: list[str], count: int, path: str, flatten: bool) -> None:
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    print(f"| {path} | {'on' if flatten else 'off'} | {count:,} | {result['seconds']:.1f} | "
          f"{result['seconds'] / count * 1e6:.1f} | {result['added'] / 2**20:.0f} | "
          f"{result['added'] / count:.0f} | {result['disk'] / 2**20:.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
