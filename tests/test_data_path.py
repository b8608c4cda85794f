"""The requests the data path sends, as the server sees them (through a recording proxy, on both S3
servers): no SHA-256 of the body in the signature (the checksums protect it), the listing's MD5 as
Content-MD5 on a single PUT, a CRC32C on every body, and still a SigV4 signature on every request.
Real S3 over TLS behaves like this too; no emulator can show the CPU it saves, so the request is what
is tested (bench/vs_rclone.py measures the CPU)."""

from __future__ import annotations

import base64
import hashlib
import os
import re

import pytest
from conftest import World
from google.cloud import storage
from proxy import Proxy
from test_sync import sync_json

from gcs2s3.core.errors import TransientError
from gcs2s3.stores.gcs import GcsSource
from gcs2s3.testing.tls import self_signed

BIG = bytes(range(256)) * (24 * 1024)  # 6 MiB: a multipart upload with 5 MiB parts


def test_bodies_go_unsigned_with_the_listings_md5_and_a_crc32c(world: World, emulators: dict[str, str]) -> None:
    world.put("r/q1.csv", b"north,1\n")
    world.put("big.bin", BIG)
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        code, report = sync_json(world, env={"AWS_ENDPOINT_URL": s3.url}, multipart_threshold_mb="5",
                                 part_size_mb="5")
        sent = list(zip(s3.requests, s3.headers, strict=True))
        statuses = list(s3.statuses)
    assert code == 0, report
    assert all(h.get("authorization", "").startswith("AWS4-HMAC-SHA256 ") for _, h in sent)
    with_body = [((m, p), h) for (m, p), h in sent if m in ("PUT", "POST") and "x-amz-copy-source" not in h]
    assert with_body and all(h.get("x-amz-content-sha256") == "UNSIGNED-PAYLOAD" for _, h in with_body)
    # The archive entry of the small object, chosen by its key (not by the whole target: an upload id in
    # the query of another object's part may contain "q1"): one PUT that succeeded. Should the server
    # refuse a try or drop it, a retry is the same request, and only the last try succeeds.
    tries = [(h, status) for ((m, p), h), status in zip(sent, statuses, strict=True)
             if m == "PUT" and re.fullmatch(rf"/{world.archive_bucket}/archive/r/q1\.\d{{8}}T\d{{6}}Z\.csv", p)]
    assert tries and tries[-1][1] == 200 and all(status != 200 for _, status in tries[:-1]), tries
    listed_md5 = base64.b64encode(hashlib.md5(b"north,1\n").digest()).decode()
    for headers, _ in tries:
        assert headers["content-md5"] == listed_md5 and headers["if-none-match"] == "*"
        assert headers["x-amz-checksum-crc32c"] == tries[0][0]["x-amz-checksum-crc32c"]
    parts = [h for (m, p), h in with_body if m == "PUT" and "partNumber=" in p]
    assert len(parts) == 2 and all(h.get("x-amz-checksum-crc32c") for h in parts)
    # PUT, UploadPart and CopyObject go out on the direct path (our own User-Agent), not botocore's
    hot = [h for (m, p), h in sent if m == "PUT"]
    assert any("x-amz-copy-source" in h for h in hot)
    assert all(h.get("user-agent", "").startswith("gcs2s3/") for h in hot), [h.get("user-agent") for h in hot]


def test_a_misdirected_direct_call_is_made_again_by_botocore_which_then_keeps_that_bucket(
    world: World, emulators: dict[str, str]
) -> None:
    """The direct path takes only a plain success. Answered with a 400 (as S3 answers a request sent to
    the wrong region), the same call is made through botocore; when botocore succeeds, that bucket is
    left to botocore for the rest of the run, and the other bucket keeps the direct path."""
    for i in range(4):
        world.put(f"f{i}.txt", b"data %d" % i)
    refused: list[str] = []

    def misdirect_first_archive_put(method: str, path: str) -> int | None:
        if method == "PUT" and f"/{world.archive_bucket}/archive/" in path and not refused:
            refused.append(path)
            return 400
        return None

    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        s3.fault = misdirect_first_archive_put
        code, report = sync_json(world, env={"AWS_ENDPOINT_URL": s3.url}, workers="1")
        sent = list(zip(s3.requests, s3.headers, strict=True))
    assert code == 0 and report["counts"]["delivered"] == 4, report
    archive = [(p, h.get("user-agent", "")) for (m, p), h in sent
               if m == "PUT" and f"/{world.archive_bucket}/archive/" in p]
    assert archive[0] == (refused[0], archive[0][1]) and archive[0][1].startswith("gcs2s3/")
    assert archive[1][0] == refused[0] and archive[1][1].startswith("Botocore/")  # the same call, by botocore
    assert len(archive) == 5 and all(agent.startswith("Botocore/") for _, agent in archive[1:])
    primary = [h.get("user-agent", "") for (m, p), h in sent
               if m == "PUT" and f"/{world.s3_bucket}/" in p and "x-amz-copy-source" in h]
    assert len(primary) == 4 and all(agent.startswith("gcs2s3/") for agent in primary)
    assert world.keys() == {f"f{i}.txt": b"data %d" % i for i in range(4)}


def test_gcs_range_reads_reuse_their_connections(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each range read is one media GET whose body is read to its end, so the connection goes back to
    the pool: 16 reads (and the listing) cost one or two TCP connections (counted by the proxy), not 16
    (over TLS each costs ~18 ms of CPU). Counting urllib3's connection objects is not enough: a closed
    one is reopened under the same object."""
    bucket = storage.Client(project="reuse").create_bucket(f"reuse-{emulators['s3_server']}")
    body = os.urandom(1 << 20)
    bucket.blob("o").upload_from_string(body)
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        source = GcsSource(bucket.name, pool_size=4)
        (listed,) = source.list("")
        for start in range(0, 1 << 20, 1 << 16):
            assert source.read(listed, start, start + (1 << 16)) == body[start : start + (1 << 16)]
    assert len(gcs.requests) >= 17 and gcs.connections <= 2, (len(gcs.requests), gcs.connections)


def test_gcs_reads_honour_a_configured_http_proxy(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Media GETs skip requests' per-call work, but not the proxy settings: with HTTP_PROXY set (here to
    a proxy that is not there) a read goes to the proxy, and fails as a retryable error."""
    bucket = storage.Client(project="proxied").create_bucket(f"proxied-{emulators['s3_server']}")
    bucket.blob("o").upload_from_string(b"through the proxy")
    source = GcsSource(bucket.name)
    (listed,) = source.list("")
    assert source.read(listed, 0, listed.size) == b"through the proxy"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    proxied = GcsSource(bucket.name)
    with pytest.raises(TransientError):
        proxied._read_once(listed, 0, listed.size, None)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_run_opens_no_more_connections_than_its_pools_hold(
    world: World, emulators: dict[str, str], scheme: str
) -> None:
    """Every request on both sides goes back to a kept-alive pool (each new TLS connection costs ~18 ms
    of client CPU): 48 objects (96 S3 writes, 48 GCS reads, the listings, the verification) open at
    most as many connections per side as the pool holds (workers * 2 + 4), over HTTP and over TLS."""
    for i in range(47):
        world.put(f"d{i % 5}/f{i:02d}.txt", b"data %d" % i)
    world.put("big.bin", BIG)  # multipart: its parts go on the part uploaders' threads
    tls = self_signed(world.tmp) if scheme == "https" else None
    with Proxy(emulators["STORAGE_EMULATOR_HOST"], tls) as gcs, Proxy(emulators["AWS_ENDPOINT_URL"], tls) as s3:
        env = {"STORAGE_EMULATOR_HOST": gcs.url, "AWS_ENDPOINT_URL": s3.url}
        if tls:
            env |= {"AWS_CA_BUNDLE": tls[0], "REQUESTS_CA_BUNDLE": tls[0]}
        code, report = sync_json(world, env=env, workers="2", multipart_threshold_mb="5", part_size_mb="5")
    assert code == 0 and report["counts"]["delivered"] == 48, report
    pool = 2 * 2 + 4
    assert len(s3.requests) >= 100 and len(gcs.requests) >= 49, (len(s3.requests), len(gcs.requests))
    assert 1 <= s3.connections <= pool and 1 <= gcs.connections <= pool, (s3.connections, gcs.connections)


def test_a_401_on_a_media_get_refreshes_the_token_and_is_retryable() -> None:
    """As google-auth's authorized session does: a 401 (a token that expired early) refreshes the
    credentials and the read is tried again; other error answers keep their google-api-core type."""
    import io

    import urllib3
    from google.api_core import exceptions as gexc

    from gcs2s3.stores.gcs import _MediaGets

    class Credentials:
        refreshed = 0

        def refresh(self, request: object) -> None:
            Credentials.refreshed += 1

    class Session:
        credentials = Credentials()
        _auth_request = object()

    def answer(status: int, body: bytes) -> urllib3.HTTPResponse:
        return urllib3.HTTPResponse(body=io.BytesIO(body), status=status, preload_content=False)

    media = _MediaGets(Session())
    error = media.error(answer(401, b'{"error": {"message": "token expired"}}'))
    assert isinstance(error, TransientError) and "token expired" in str(error) and Credentials.refreshed == 1
    error = media.error(answer(403, b'{"error": {"message": "no access"}}'))
    assert isinstance(error, gexc.Forbidden) and "no access" in str(error) and Credentials.refreshed == 1
    assert isinstance(media.error(answer(503, b"busy")), gexc.ServiceUnavailable)
