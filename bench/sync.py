"""Benchmark `gcs2s3 sync` on local emulators, side by side with `rclone copy --checksum`.

One command (`make bench` or `python bench/sync.py`), prints one table: for each data set, the first
sync and the no-change rerun, wall time, peak RSS of the process, and requests by kind as the
emulators logged them. Data sets: (a) 300 objects / 1.2 GB of mixed sizes, (b) 20,000 objects of 1 KB.
rclone (Debian's package) runs on the same source into its own bucket; it is skipped when missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
from google.cloud import storage

from gcs2s3.emulators import running_emulators

MB = 1024 * 1024
REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE|PATCH) (\S+) HTTP/1\.[01]')
SETS = {
    # 10 x 64 MiB + 40 x 10 MiB + 250 x 640 KiB = 1,200 MiB in 300 objects
    "a": [(f"mixed/large/{i:02d}.bin", 64 * MB) for i in range(10)]
    + [(f"mixed/medium/{i:02d}.bin", 10 * MB) for i in range(40)]
    + [(f"mixed/small/{i % 10}/{i:03d}.bin", 640 * 1024) for i in range(250)],
    "b": [(f"tiny/{i % 100:02d}/{i:05d}.txt", 1024) for i in range(20_000)],
}


@dataclass
class Measure:
    tool: str
    data: str
    run: str
    seconds: float
    peak_rss_mb: float
    requests: Counter[str]
    exit_code: int


def populate(bucket: storage.Bucket, objects: list[tuple[str, int]]) -> int:
    def put(item: tuple[str, int]) -> int:
        name, size = item
        bucket.blob(name).upload_from_string(os.urandom(size))
        return size

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(pool.map(put, objects))


def classify(log_lines: list[str], side: str) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for line in log_lines:
        match = REQUEST.search(line)
        if not match:
            continue
        method, path = match.groups()
        if side == "gcs":
            kinds["gcs list" if method == "GET" and re.search(r"/o(\?|$)", path) else
                  "gcs read" if "alt=media" in path or path.startswith("/download/") else f"gcs {method}"] += 1
        elif method == "GET":
            kinds["s3 list" if "list-type=2" in path or "prefix=" in path else "s3 get"] += 1
        elif method == "PUT":
            kinds["s3 part" if "partNumber=" in path else "s3 put/copy"] += 1
        else:
            kinds[f"s3 {method.lower()}"] += 1
    return kinds


def measured(command: list[str], env: dict[str, str], logs: dict[str, Path]) -> tuple[float, float, Counter[str], int]:
    """Run one command; (wall seconds, its peak RSS in MiB, requests the emulators logged, exit code)."""
    offsets = {side: path.stat().st_size for side, path in logs.items()}
    with tempfile.TemporaryFile() as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        peak_kib = 0
        while process.poll() is None:
            peak_kib = max(peak_kib, high_water_kib(process.pid))
            time.sleep(0.02)
        seconds = time.monotonic() - started
        if process.returncode:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-600:]
            print(f"  ! {command[0]} exited {process.returncode}: {tail}", file=sys.stderr)
    time.sleep(0.3)  # let the emulators flush their request logs
    requests: Counter[str] = Counter()
    for side, path in logs.items():
        with path.open("rb") as handle:
            handle.seek(offsets[side])
            requests += classify(handle.read().decode(errors="replace").splitlines(), side)
    return seconds, peak_kib / 1024, requests, process.returncode


def high_water_kib(pid: int) -> int:
    """VmHWM: the process's peak resident set since its exec (getrusage would count the forking parent)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def write_ini(folder: Path, workers: int) -> Path:
    ini = folder / "bench.ini"
    ini.write_text(
        "[Stage]\ngcs_bucket = bench-src\npath =\ns3_bucket = bench-dst\narchive_bucket = bench-archive\n"
        f"archive_prefix = archive/\ngcs_key_file =\nworkers = {workers}\n",
        encoding="utf-8",
    )
    return ini


def rclone_env(env: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k != "AWS_CA_BUNDLE"}
    out.update({
        "RCLONE_CONFIG_GCS_TYPE": "google cloud storage",
        "RCLONE_CONFIG_GCS_ANONYMOUS": "true",
        "RCLONE_CONFIG_GCS_ENDPOINT": env["STORAGE_EMULATOR_HOST"] + "/storage/v1/",
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Other",
        "RCLONE_CONFIG_S3_ENDPOINT": env["AWS_ENDPOINT_URL"],
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
        "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
        "RCLONE_CONFIG_S3_REGION": "us-east-1",
    })
    return out


def bench_set(name: str, workers: int, with_rclone: bool) -> list[Measure]:
    results = []
    with tempfile.TemporaryDirectory(prefix="gcs2s3-bench-") as tmp, running_emulators(Path(tmp), True) as env:
        folder = Path(tmp)
        logs = {"gcs": folder / "fake-gcs-server.log", "s3": folder / "moto.log"}
        gcs = storage.Client(project="bench").create_bucket("bench-src")
        s3 = boto3.client("s3")
        for bucket in ("bench-dst", "bench-archive", "bench-rclone"):
            s3.create_bucket(Bucket=bucket)
        total = populate(gcs, SETS[name])
        label = f"({name}) {len(SETS[name]):,} obj / {total / MB:,.0f} MiB"
        print(f"populated {label}", file=sys.stderr)
        full_env = {**os.environ, **env}
        gcs2s3 = [str(Path(sys.executable).with_name("gcs2s3")), "sync", "--config", str(write_ini(folder, workers)),
                  "--dev-level", "Stage"]
        rclone = ["rclone", "copy", "gcs:bench-src", "s3:bench-rclone", "--checksum", "--s3-no-head",
                  "--transfers", str(workers), "--checkers", str(2 * workers)]
        tools = [("gcs2s3", gcs2s3, full_env)]
        if with_rclone:
            tools.append(("rclone", rclone, rclone_env(full_env)))
        for tool, command, tool_env in tools:
            for run in ("first", "rerun"):
                seconds, rss, requests, code = measured(command, tool_env, logs)
                results.append(Measure(tool, label, run, seconds, rss, requests, code))
                print(f"  {tool} {run}: {seconds:.1f} s", file=sys.stderr)
    return results


def table(results: list[Measure]) -> str:
    lines = [
        "| data | tool | run | wall s | MiB/s | peak RSS MiB | requests | exit |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    for m in results:
        size_mib = float(m.data.split("/ ")[1].split(" MiB")[0].replace(",", ""))
        rate = f"{size_mib / m.seconds:,.1f}" if m.run == "first" else ""
        requests = ", ".join(f"{kind} {count:,}" for kind, count in sorted(m.requests.items()))
        lines.append(f"| {m.data} | {m.tool} | {m.run} | {m.seconds:.2f} | {rate} | {m.peak_rss_mb:.0f} | "
                     f"{requests} | {m.exit_code} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="ab", help="which data sets: a, b or ab (default)")
    parser.add_argument("--workers", type=int, default=8, help="gcs2s3 workers = rclone --transfers")
    parser.add_argument("--no-rclone", action="store_true", help="skip the rclone baseline")
    args = parser.parse_args()
    with_rclone = not args.no_rclone and shutil.which("rclone") is not None
    if not with_rclone and not args.no_rclone:
        print("rclone not found (apt-get install rclone): baseline skipped", file=sys.stderr)
    results = [m for name in args.sets for m in bench_set(name, args.workers, with_rclone)]
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
