"""A small reverse proxy on 127.0.0.1 for tests: counts requests and injects faults.

It sits between a client and an emulator (point STORAGE_EMULATOR_HOST or AWS_ENDPOINT_URL at it),
over plain HTTP or, given a certificate and key, over TLS (the client must trust that certificate).
It keeps the client's connections alive whatever the emulator does with its own, and counts them
(`connections`: TCP connections the client opened). It records each request (`requests`: method and
path; `headers`: its headers; `statuses`: the status it was answered with). Hooks, each called
with the request's method and path:
- `fault` may return an HTTP status to answer instead of forwarding;
- `tamper_request(method, path, body)` / `tamper_response(method, path, body)` may return other bytes
  to forward instead (a flipped byte, a truncated body: Content-Length follows the new body);
- `drop_mid_body(method, path)` true: send the headers and half the body, then drop the connection;
- `trap(method, path, phase)` true, phase "request" (before forwarding) or "response" (forwarded,
  before answering): hold the request, set `trapped` and wait for `released`; then carry on, or, when
  `cut_off` is set (the client was killed meanwhile), drop the connection without another byte.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

S3_ERROR = {
    500: b"<Error><Code>InternalError</Code><Message>injected by test proxy</Message></Error>",
    403: b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
    503: b"<Error><Code>SlowDown</Code><Message>injected by test proxy</Message></Error>",
}


class Proxy:
    def __init__(self, upstream: str, tls: tuple[str, str] | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.requests: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []  # the request headers of each of `requests`, names in lower case
        # the status each of `requests` was answered with (None: no answer, the connection was dropped)
        self.statuses: list[int | None] = []
        self.fault: Callable[[str, str], int | None] = lambda method, path: None
        self.tamper_request: Callable[[str, str, bytes], bytes | None] = lambda method, path, body: None
        self.tamper_response: Callable[[str, str, bytes], bytes | None] = lambda method, path, body: None
        self.drop_mid_body: Callable[[str, str], bool] = lambda method, path: False
        self.trap: Callable[[str, str, str], bool] = lambda method, path, phase: False
        self.trapped = threading.Event()
        self.released = threading.Event()
        self.cut_off = False
        self.connections = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                with proxy.lock:
                    proxy.connections += 1
                super().setup()

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

            def _held(self, phase: str) -> bool:
                """Hold here if the trap says so; True when the connection must now be dropped."""
                if not proxy.trap(self.command, self.path, phase):
                    return False
                proxy.trapped.set()
                proxy.released.wait(120)
                if proxy.cut_off:
                    self.close_connection = True
                return proxy.cut_off

            def _handle(self) -> None:
                body = self._body()
                with proxy.lock:
                    index = len(proxy.requests)
                    proxy.requests.append((self.command, self.path))
                    proxy.headers.append({k.lower(): v for k, v in self.headers.items()})
                    proxy.statuses.append(None)
                status = proxy.fault(self.command, self.path)
                if status:
                    proxy.statuses[index] = status
                    payload = S3_ERROR.get(status, b"injected") if self.command != "HEAD" else b""
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)
                    self.close_connection = True
                    return
                body = proxy.tamper_request(self.command, self.path, body) or body
                if self._held("request"):
                    return
                dropped = ("transfer-encoding", "connection")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    payload = proxy.tamper_response(self.command, self.path, payload) or payload
                    if self._held("response"):
                        return
                    cut = bool(payload) and proxy.drop_mid_body(self.command, self.path)
                    proxy.statuses[index] = response.status
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    length = response.getheader("Content-Length") if self.command == "HEAD" else None
                    self.send_header("Content-Length", length or str(len(payload)))
                    self.end_headers()
                    if cut:
                        self.wfile.write(payload[: len(payload) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                    elif self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, predicate: Callable[[str, str], bool]) -> int:
        with self.lock:
            return sum(1 for method, path in self.requests if predicate(method, path))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.headers.clear()
            self.statuses.clear()


class LocalServer:
    """A small HTTP server of the tests' own on 127.0.0.1 (a webhook, a refusing proxy), served on a
    daemon thread until `close`. `answer(status)` sends an empty answer; nothing is logged."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], path: str = "") -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    def answer(self, status: int, reason: str | None = None) -> None:
        self.send_response(status, reason)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass
