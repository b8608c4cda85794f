"""The requests the data path sends, as the server sees them (through a recording proxy, on both S3
servers): no SHA-256 of the body in the signature (the checksums protect it), the listing's MD5 as
Content-MD5 on a single PUT, a CRC32C on every body, and still a SigV4 signature on every request.
Real S3 over TLS behaves like this too; no emulator can show the CPU it saves, so the request is what
is tested (bench/vs_rclone.py measures the CPU)."""

from __future__ import annotations

import base64
import hashlib
import os

from conftest import World
from google.cloud import storage
from proxy import Proxy
from test_sync import sync_json

from gcs2s3.stores.gcs import GcsSource

BIG = bytes(range(256)) * (24 * 1024)  # 6 MiB: a multipart upload with 5 MiB parts


def test_bodies_go_unsigned_with_the_listings_md5_and_a_crc32c(world: World, emulators: dict[str, str]) -> None:
    world.put("r/q1.csv", b"north,1\n")
    world.put("big.bin", BIG)
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        code, report = sync_json(world, env={"AWS_ENDPOINT_URL": s3.url}, multipart_threshold_mb="5",
                                 part_size_mb="5")
        sent = list(zip(s3.requests, s3.headers, strict=True))
    assert code == 0, report
    assert all(h.get("authorization", "").startswith("AWS4-HMAC-SHA256 ") for _, h in sent)
    with_body = [((m, p), h) for (m, p), h in sent if m in ("PUT", "POST") and "x-amz-copy-source" not in h]
    assert with_body and all(h.get("x-amz-content-sha256") == "UNSIGNED-PAYLOAD" for _, h in with_body)
    single = [h for (m, p), h in with_body if m == "PUT" and "q1" in p and "archive" in p]
    assert len(single) == 1
    listed_md5 = base64.b64encode(hashlib.md5(b"north,1\n").digest()).decode()
    assert single[0]["content-md5"] == listed_md5 and single[0]["x-amz-checksum-crc32c"]
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


def test_gcs_range_reads_reuse_their_connections(emulators: dict[str, str]) -> None:
    """Each range read is one media GET whose body is read to its end, so the connection goes back to
    the pool: 20 reads cost one or two new connections, not 20 (over TLS each costs ~18 ms of CPU)."""
    bucket = storage.Client(project="reuse").create_bucket(f"reuse-{emulators['s3_server']}")
    body = os.urandom(1 << 20)
    bucket.blob("o").upload_from_string(body)
    source = GcsSource(bucket.name, pool_size=4)
    (listed,) = source.list("")
    for start in range(0, 1 << 20, 1 << 16):
        assert source.read(listed, start, start + (1 << 16)) == body[start : start + (1 << 16)]
    pools = source._client._http.get_adapter(emulators["STORAGE_EMULATOR_HOST"]).poolmanager.pools
    found = [pools[key] for key in pools.keys()]  # noqa: SIM118 (urllib3's container cannot be iterated)
    requests = sum(pool.num_requests for pool in found)
    connections = sum(pool.num_connections for pool in found)
    assert requests >= 17 and connections <= 2, (requests, connections)
