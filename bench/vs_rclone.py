"""Benchmark `gcs2s3 sync` on local emulators, side by side with `rclone copy --checksum`.

One command (`make bench` or `python bench/vs_rclone.py`) prints one table: for each data set, the
first sync and the no-change rerun of each tool, wall time, MiB/s, client CPU (the process's user +
sys, from wait4) with CPU per GB and per object, peak RSS of the process, and requests by kind as the
emulators logged them. rclone runs twice over: "rclone" is its one write (GCS -> primary), "rclone
same work" is our job done with rclone (GCS -> primary, then primary -> archive, a server-side copy).
Then the emulators' own ceilings: a raw boto3 loop
that PUTs the same bytes straight into S3 (one write per object, no source read) with the same
parallelism, and the same loop followed by a CopyObject of each object, the least that any
archive-then-primary delivery has to do. Data sets: (a) 300 objects / 1.2 GB of mixed sizes,
(b) 20,000 objects of 1 KB, (c) one 2 GiB object, (t) 2,000 objects of 32 KiB with both emulators
behind a TLS relay (no ceiling rows: the ceilings run over plain HTTP), (m) the memory check: objects
of 64 MiB, 1 GiB and 3 GiB, each synced by its own gcs2s3 run. rclone is Debian's package, installed
with apt-get when missing (as root).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from google.cloud import storage

from gcs2s3.testing.emulators import S3_SERVERS, running_emulators
from gcs2s3.testing.tls import TlsRelay, self_signed

MB = 1024 * 1024
REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE|PATCH) (\S+) HTTP/1\.[01]')
SETS = {
    # 10 x 64 MiB + 40 x 10 MiB + 250 x 640 KiB = 1,200 MiB in 300 objects
    "a": [(f"mixed/large/{i:02d}.bin", 64 * MB) for i in range(10)]
    + [(f"mixed/medium/{i:02d}.bin", 10 * MB) for i in range(40)]
    + [(f"mixed/small/{i % 10}/{i:03d}.bin", 640 * 1024) for i in range(250)],
    "b": [(f"tiny/{i % 100:02d}/{i:05d}.txt", 1024) for i in range(20_000)],
    "c": [("one/huge.bin", 2048 * MB)],
    # (t): over TLS (both emulators behind a TLS relay): what connections and handshakes cost the client
    "t": [(f"tls/{i % 20:02d}/{i:04d}.bin", 32 * 1024) for i in range(2_000)],
    "m": [("m/object-64M.bin", 64 * MB), ("m/object-1G.bin", 1024 * MB), ("m/object-3G.bin", 3072 * MB)],
}
CHUNK = 64 * MB


@dataclass
class Measure:
    """One row of the table: what ran, on which data, and what it measured."""

    tool: str
    data: str
    run: str
    result: Run


def populate(bucket: storage.Bucket, objects: list[tuple[str, int]]) -> int:
    def put(item: tuple[str, int]) -> int:
        name, size = item
        bucket.blob(name).upload_from_string(os.urandom(size), checksum=None)
        return size

    with ThreadPoolExecutor(max_workers=8 if len(objects) > 1 else 1) as pool:
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


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    requests: Counter[str]
    exit_code: int
    cpu_s: float

    def then(self, other: Run) -> Run:
        """Two commands one after the other, as one run."""
        return Run(self.seconds + other.seconds, max(self.peak_rss_mb, other.peak_rss_mb),
                   self.requests + other.requests, self.exit_code or other.exit_code, self.cpu_s + other.cpu_s)


def measured(command: list[str], env: dict[str, str], logs: dict[str, Path]) -> Run:
    """Run one command: wall seconds, its peak RSS, requests the emulators logged, exit code, and its CPU
    (user + sys of the process and its threads, from wait4)."""
    offsets = {side: path.stat().st_size for side, path in logs.items()}
    with tempfile.TemporaryFile() as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, high_water_kib(process.pid))
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
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
    return Run(seconds, peak_kib / 1024, requests, process.returncode, usage.ru_utime + usage.ru_stime)


def high_water_kib(pid: int) -> int:
    """VmHWM: the process's peak resident set since its exec (getrusage would count the forking parent)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


EXTRA_SETTINGS: list[str] = []  # --set KEY=VALUE


def write_ini(folder: Path, workers: int) -> Path:
    ini = folder / "bench.ini"
    extra = "".join(f"{item.partition('=')[0].strip()} = {item.partition('=')[2].strip()}\n" for item in EXTRA_SETTINGS)
    ini.write_text(
        "[Stage]\ngcs_bucket = bench-src\npath =\ns3_bucket = bench-dst\narchive_bucket = bench-archive\n"
        f"archive_prefix = archive/\ngcs_key_file =\nworkers = {workers}\n{extra}",
        encoding="utf-8",
    )
    return ini


def ceiling(objects: list[tuple[str, int]], workers: int, then_copy: bool = False) -> None:
    """The emulators' ceiling: PUT the same sizes straight into S3 with boto3, `workers` at a time,
    from memory (no source read); objects over 64 MiB in 8 MiB parts, `workers` parts at a time.
    `then_copy`: also CopyObject each one to a second key, the least any archive-then-primary
    delivery must do."""
    client = boto3.client("s3", config=Config(
        max_pool_connections=2 * workers, request_checksum_calculation="when_required",
        retries={"mode": "standard", "max_attempts": 5},
    ))
    block = memoryview(os.urandom(CHUNK))
    part = 8 * MB

    def copy(name: str) -> None:
        if then_copy:
            client.copy_object(Bucket="bench-ceiling", Key=f"primary/{name}",
                               CopySource={"Bucket": "bench-ceiling", "Key": name})

    def put(name: str, size: int) -> None:
        client.put_object(Bucket="bench-ceiling", Key=name, Body=block[:size].tobytes())
        copy(name)

    def put_in_parts(name: str, size: int) -> None:
        upload = client.create_multipart_upload(Bucket="bench-ceiling", Key=name)["UploadId"]

        def one(number: int) -> dict[str, object]:
            length = min(part, size - (number - 1) * part)
            etag = client.upload_part(Bucket="bench-ceiling", Key=name, UploadId=upload, PartNumber=number,
                                      Body=block[:length].tobytes())["ETag"]
            return {"PartNumber": number, "ETag": etag}

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(one, range(1, -(-size // part) + 1)))
        client.complete_multipart_upload(Bucket="bench-ceiling", Key=name, UploadId=upload,
                                         MultipartUpload={"Parts": parts})
        copy(name)

    small = [(n, z) for n, z in objects if z <= CHUNK]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda item: put(*item), small))
    for name, size in objects:
        if size > CHUNK:
            put_in_parts(name, size)


def measured_call(fn: Callable[[], None], logs: dict[str, Path]) -> Run:
    """Like `measured`, for a function run in this process (peak RSS and CPU not reported)."""
    offsets = {side: path.stat().st_size for side, path in logs.items()}
    started = time.monotonic()
    fn()
    seconds = time.monotonic() - started
    time.sleep(0.3)
    requests: Counter[str] = Counter()
    for side, path in logs.items():
        with path.open("rb") as handle:
            handle.seek(offsets[side])
            requests += classify(handle.read().decode(errors="replace").splitlines(), side)
    return Run(seconds, float("nan"), requests, 0, float("nan"))


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


@contextmanager
def session(
    s3_server: str, objects: list[tuple[str, int]], tls: bool = False
) -> Iterator[tuple[Path, dict[str, str], dict[str, Path]]]:
    """Fresh emulators holding `objects` in the source bucket: (work folder, environment, request logs).
    With `tls`, the environment points the tools at TLS relays in front of both emulators, and tells
    them to trust the relays' certificate."""
    with (
        tempfile.TemporaryDirectory(prefix="gcs2s3-bench-") as tmp,
        running_emulators(Path(tmp), True, s3_server) as env,
    ):
        folder = Path(tmp)
        logs = {"gcs": folder / "fake-gcs-server.log"}
        if s3_server == "moto":  # SeaweedFS keeps no request log: its requests are not counted
            logs["s3"] = folder / "moto.log"
        gcs = storage.Client(project="bench").create_bucket("bench-src")
        s3 = boto3.client("s3")
        for bucket in ("bench-dst", "bench-archive", "bench-rclone", "bench-rclone-archive", "bench-ceiling"):
            s3.create_bucket(Bucket=bucket)
        total = populate(gcs, objects)
        print(f"populated {len(objects):,} obj / {total / MB:,.0f} MiB ({s3_server})", file=sys.stderr)
        if not tls:
            yield folder, {**os.environ, **env}, logs
            return
        cert = self_signed(folder)
        with TlsRelay(env["STORAGE_EMULATOR_HOST"], cert) as gcs_tls, TlsRelay(env["AWS_ENDPOINT_URL"], cert) as s3_tls:
            yield folder, {**os.environ, **env, "STORAGE_EMULATOR_HOST": gcs_tls.url, "AWS_ENDPOINT_URL": s3_tls.url,
                           "AWS_CA_BUNDLE": cert[0], "REQUESTS_CA_BUNDLE": cert[0]}, logs


def gcs2s3_command(folder: Path, workers: int) -> list[str]:
    ini = write_ini(folder, workers)
    return [str(Path(sys.executable).with_name("gcs2s3")), "sync", "--dev-level", "Stage", "--config", str(ini)]


def measure(tool: str, data: str, run: str, result: Run) -> Measure:
    print(f"  {tool} {run}: {result.seconds:.1f} s, CPU {result.cpu_s:.1f} s, {result.peak_rss_mb:.0f} MiB",
          file=sys.stderr)
    return Measure(tool, data, run, result)


def bench_set(name: str, workers: int, with_rclone: bool, s3_server: str) -> list[Measure]:
    results = []
    objects = SETS[name]
    tls = name == "t"
    if tls and with_rclone:
        # rclone reads each object at the mediaLink of its listing, which fake-gcs-server writes as
        # http:// on the port the request came to (the relay's, which speaks only TLS): it cannot run here.
        print("  (t): no rclone rows: fake-gcs-server's mediaLinks say http:// for the TLS relay", file=sys.stderr)
        with_rclone = False
    label = f"({name}) {len(objects):,} obj / {sum(size for _, size in objects) / MB:,.0f} MiB{' TLS' if tls else ''}"
    with session(s3_server, objects, tls) as (folder, env, logs):
        flags = ["--checksum", "--s3-no-head", "--transfers", str(workers), "--checkers", str(2 * workers)]
        rclone = ["rclone", "copy", "gcs:bench-src", "s3:bench-rclone", *flags]
        # The same work as ours: the primary copy, then every object copied server-side to the archive.
        archive = ["rclone", "copy", "s3:bench-rclone", "s3:bench-rclone-archive", *flags]
        for run in ("first", "rerun"):
            ours = measured(gcs2s3_command(folder, workers), env, logs)
            results.append(measure("gcs2s3", label, run, ours))
            if with_rclone:
                one = measured(rclone, rclone_env(env), logs)
                results.append(measure("rclone", label, run, one))
                results.append(measure("rclone same work", label, run, one.then(
                    measured(archive, rclone_env(env), logs))))
        for tool, then_copy in (("ceiling: PUT", False), ("ceiling: PUT + copy", True)) if not tls else ():
            s3 = boto3.client("s3")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench-ceiling"):  # start empty
                for item in page.get("Contents", ()):
                    s3.delete_object(Bucket="bench-ceiling", Key=item["Key"])
            results.append(measure(tool, label, "first",
                                   measured_call(lambda c=then_copy: ceiling(objects, workers, c), logs)))
    return results


def bench_memory(workers: int, s3_server: str) -> list[Measure]:
    """(m): one object per session and run, so that only the object's size changes."""
    results = []
    for name, size in SETS["m"]:
        with session(s3_server, [(name, size)]) as (folder, env, logs):
            results.append(measure("gcs2s3", f"(m) 1 obj / {size / MB:,.0f} MiB", "first",
                                   measured(gcs2s3_command(folder, workers), env, logs)))
    return results


def ensure_rclone() -> bool:
    """rclone on PATH, installing Debian's package when missing and we are root."""
    if shutil.which("rclone"):
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("rclone not found and cannot install it here (apt-get install rclone as root): baseline skipped",
              file=sys.stderr)
        return False
    print("installing rclone (apt-get install rclone) ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "rclone"], check=False, stdout=subprocess.DEVNULL, env=env)
    return shutil.which("rclone") is not None


def table(results: list[Measure]) -> str:
    lines = [
        "| data | tool | run | wall s | MiB/s | client CPU s | CPU s/GB | CPU ms/object | % of PUT + copy ceiling "
        "| peak RSS MiB | requests | exit |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    two_writes = {m.data: m.result.seconds for m in results if m.tool == "ceiling: PUT + copy"}
    for m in results:
        r = m.result
        objects = int(m.data.split(" obj")[0].split(") ")[1].replace(",", ""))
        size_mib = float(m.data.split("/ ")[1].split(" MiB")[0].replace(",", ""))
        first = m.run == "first"
        rate = f"{size_mib / r.seconds:,.1f}" if first else ""
        share = f"{100 * two_writes[m.data] / r.seconds:.0f} %" if first and m.data in two_writes else ""
        measured_cpu = r.cpu_s == r.cpu_s  # NaN: not measured (the ceilings run in this process)
        cpu = f"{r.cpu_s:.2f}" if measured_cpu else ""
        per_gb = f"{r.cpu_s / (size_mib / 1024):.2f}" if measured_cpu and first else ""
        per_object = f"{1000 * r.cpu_s / objects:.2f}" if measured_cpu and first else ""
        rss = "" if r.peak_rss_mb != r.peak_rss_mb else f"{r.peak_rss_mb:.0f}"
        requests = ", ".join(f"{kind} {count:,}" for kind, count in sorted(r.requests.items()))
        lines.append(f"| {m.data} | {m.tool} | {m.run} | {r.seconds:.2f} | {rate} | {cpu} | {per_gb} | {per_object} "
                     f"| {share} | {rss} | {requests} | {r.exit_code} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="actbm", help="which data sets, any of a b c t m (default: all)")
    parser.add_argument("--workers", type=int, default=8, help="gcs2s3 workers = rclone --transfers")
    parser.add_argument("--no-rclone", action="store_true", help="skip the rclone baseline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra gcs2s3 setting for every run, e.g. --set max_buffer_mb=48")
    parser.add_argument("--s3", choices=S3_SERVERS, help="the S3 server for every set (default: moto for a and "
                        "b; SeaweedFS for c and m, whose gigabytes moto would hold several times in memory, and for t, "
                        "which moto would make a TLS handshake per request by closing every connection)")
    args = parser.parse_args()
    # A bench stopped with SIGTERM (a timeout, say) still stops its emulators on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with_rclone = not args.no_rclone and ensure_rclone()
    # fake-gcs-server keeps several transient copies of an uploaded body: a tighter Go GC keeps a 3 GiB
    # object within this machine's memory (it does not change what is measured).
    os.environ.setdefault("GOGC", "10")
    EXTRA_SETTINGS.extend(args.set)
    results = []
    for name in args.sets:
        server = args.s3 or ("seaweedfs" if name in "cmt" else "moto")
        if name == "m":
            results += bench_memory(args.workers, server)
        else:
            results += bench_set(name, args.workers, with_rclone, server)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
