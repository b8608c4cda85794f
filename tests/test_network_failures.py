"""A service that cannot be reached ends the run in seconds, exit 2, with one line that names the service,
its host and what to check; notified and measured. Each failure is made with local sockets: a closed
port, a socket that accepts and never answers, a TLS server whose certificate is not trusted, a name
that does not resolve, a proxy that refuses. A stop during the listing ends the run within 2 s."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import World, cli
from proxy import LocalServer, Proxy, QuietHandler
from test_exit_paths import failing_run
from test_production import Hook

from gcs2s3.testing.tls import self_signed


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there once it is closed


class Silent:
    """A server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


class RefusingProxy(LocalServer):
    """An HTTP proxy that answers every request, CONNECT included, with 403."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            def _refuse(self) -> None:
                self.answer(403, "Forbidden by policy")

            do_CONNECT = do_GET = do_PUT = do_HEAD = do_POST = _refuse

        super().__init__(Handler)


def unreachable_run(world: World, hook: Hook, env: dict[str, str | None], **ini: str) -> tuple[str, float]:
    started = time.monotonic()
    error, metrics = failing_run(world, world.ini(notify_webhook_url=hook.url, **ini), 2, env=env, hook=hook)
    assert metrics["RunFailed"] == 1
    assert not world.keys(bookkeeping=True)  # nothing written, not even the lease
    return error, time.monotonic() - started


def test_gcs_on_a_closed_port(world: World, hook: Hook) -> None:
    port = closed_port()
    error, took = unreachable_run(world, hook, {"STORAGE_EMULATOR_HOST": port})
    assert f"cannot reach GCS at {port}: connection refused" in error
    assert "NAT gateway" in error and "HTTPS_PROXY" in error and "STORAGE_EMULATOR_HOST" in error
    assert took < 10, took


def test_s3_on_a_closed_port(world: World, hook: Hook) -> None:
    port = closed_port()
    error, took = unreachable_run(world, hook, {"AWS_ENDPOINT_URL": port})
    assert f"cannot reach S3 at {port}: connection refused" in error and "VPC endpoint" in error
    assert "lease" not in error and took < 10, took


def test_a_server_that_never_answers_fails_within_30_s_by_default(world: World, hook: Hook, silent: Silent) -> None:
    error, took = unreachable_run(world, hook, {"STORAGE_EMULATOR_HOST": silent.url})
    assert f"cannot reach GCS at {silent.url}: no answer in time" in error
    assert took < 30, took


def test_the_timeout_and_retries_are_settings(world: World, hook: Hook, silent: Silent) -> None:
    error, took = unreachable_run(world, hook, {"AWS_ENDPOINT_URL": silent.url}, network_timeout_s="1",
                                  network_retries="0")
    assert f"cannot reach S3 at {silent.url}: no answer in time" in error
    assert took < 5, took


@pytest.mark.parametrize("side", ["gcs", "s3"])
def test_an_untrusted_certificate_names_the_ca_bundle_variable(world: World, hook: Hook, emulators: dict[str, str],
                                                              side: str) -> None:
    upstream = emulators["STORAGE_EMULATOR_HOST" if side == "gcs" else "AWS_ENDPOINT_URL"]
    with Proxy(upstream, tls=self_signed(world.tmp)) as relay:
        variable = "STORAGE_EMULATOR_HOST" if side == "gcs" else "AWS_ENDPOINT_URL"
        error, took = unreachable_run(world, hook, {variable: relay.url})
    service, bundle = ("GCS", "REQUESTS_CA_BUNDLE") if side == "gcs" else ("S3", "AWS_CA_BUNDLE")
    assert f"cannot reach {service} at {relay.url}: its TLS certificate is not trusted" in error
    assert bundle in error and took < 10, took


def test_a_name_that_does_not_resolve(world: World, hook: Hook) -> None:
    error, took = unreachable_run(world, hook, {"AWS_ENDPOINT_URL": "http://s3.gcs2s3-test.invalid:9000"})
    assert "cannot reach S3 at http://s3.gcs2s3-test.invalid:9000: the host name does not resolve" in error
    assert "DNS" in error and took < 10, took


def test_a_proxy_that_refuses(world: World, hook: Hook, emulators: dict[str, str]) -> None:
    proxy = RefusingProxy()
    try:
        with Proxy(emulators["AWS_ENDPOINT_URL"], tls=self_signed(world.tmp)) as relay:
            error, took = unreachable_run(world, hook, {"AWS_ENDPOINT_URL": relay.url, "HTTPS_PROXY": proxy.url,
                                                        "https_proxy": proxy.url, "NO_PROXY": None, "no_proxy": None})
    finally:
        proxy.close()
    assert f"cannot reach S3 at {relay.url}: the proxy refused the connection" in error
    assert "HTTPS_PROXY" in error and took < 10, took


def test_settings_from_s3_that_cannot_be_reached(world: World) -> None:
    port = closed_port()
    started = time.monotonic()
    result = cli("sync", "--config", f"s3://{world.archive_bucket}/primary.ini", "--dev-level", "Stage",
                 env={"AWS_ENDPOINT_URL": port})
    assert result.code == 2 and time.monotonic() - started < 15
    (line,) = [json.loads(x)["message"] for x in result.stderr.splitlines() if '"exit_code"' in x and "message" in x]
    assert f"settings file s3://{world.archive_bucket}/primary.ini cannot be read: cannot reach S3 at {port}" in line


@pytest.mark.parametrize(("command", "sig", "code"), [("sync", signal.SIGTERM, 1), ("plan", signal.SIGINT, 130)])
def test_a_stop_during_the_listing_ends_the_run_within_2_s(world: World, emulators: dict[str, str], command: str,
                                                           sig: signal.Signals, code: int) -> None:
    for i in range(5):
        world.put(f"a/{i}.txt", b"x")
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        # the reachability check's one-key listing passes; the primary's listing hangs
        s3.trap = lambda method, path, phase: (method == "GET" and "list-type=2" in path
                                               and not re.search(r"max-keys=1(&|$)", path) and world.s3_bucket in path)
        env = {**os.environ, "AWS_ENDPOINT_URL": s3.url}
        process = subprocess.Popen([sys.executable, "-m", "gcs2s3", command, "--config", str(world.ini()),
                                    "--dev-level", "Stage"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            assert s3.trapped.wait(60), "the listing never started"
            sent = time.monotonic()
            process.send_signal(sig)
            _, err = process.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            s3.released.set()
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == code and took < 2, (process.returncode, took, err[-6000:])
    assert not world.keys()


def test_a_listing_that_fails_ends_the_other_at_once(world: World, emulators: dict[str, str]) -> None:
    """The GCS listing is refused after the reachability check passed, while the primary's listing
    hangs: the run ends with the GCS error at once, not when the S3 listing gives up."""
    world.put("a/1.txt", b"x")
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs, Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        gcs.fault = lambda method, path: 403 if ("/o?" in path and "maxResults=1&" not in path
                                                 and not path.endswith("maxResults=1")) else None
        s3.trap = lambda method, path, phase: (method == "GET" and "list-type=2" in path
                                               and not re.search(r"max-keys=1(&|$)", path) and world.s3_bucket in path)
        started = time.monotonic()
        try:
            result = cli("plan", "--config", str(world.ini()), "--dev-level", "Stage",
                         env={"STORAGE_EMULATOR_HOST": gcs.url, "AWS_ENDPOINT_URL": s3.url})
            took = time.monotonic() - started
        finally:
            s3.released.set()
    assert result.code == 2 and took < 10, (result.code, took, result.stderr[-2000:])
    assert "GCS bucket gs://" in result.stderr and "access denied" in result.stderr
