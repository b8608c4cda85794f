"""Headers travel with the bytes: Content-Type (guessed when the source has none), Cache-Control,
Content-Disposition, Content-Language, Content-Encoding and custom metadata reach the archive entry and
the primary copy; a gzip-encoded object is delivered as stored; a header-only change is a server-side
rewrite of the primary object; objects delivered without headers are repaired once; what S3 cannot
carry refuses that object with the reason."""

from __future__ import annotations

import base64
import email.header
import gzip
import json
from datetime import UTC, datetime

import boto3
import pytest
from conftest import World, cli
from hypothesis import given
from hypothesis import strategies as st
from proxy import Proxy
from test_sync import sync_json

from gcs2s3.core.headers import META_HEADERS, delivered_headers, digest, guess_content_type
from gcs2s3.core.models import Headers, SourceObject
from gcs2s3.run.state import state_key

MULTIPART = {"multipart_threshold_mb": "1", "part_size_mb": "5"}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def source(name: str = "a/b.csv", **headers: object) -> SourceObject:
    return SourceObject(name, 1, None, "AAAAAA==", 1, WHEN, Headers(**headers))  # type: ignore[arg-type]


# --- pure rules -------------------------------------------------------------------------------------


def test_content_type_is_guessed_from_the_name_when_the_source_has_none() -> None:
    assert guess_content_type("r/q1.csv") == "text/csv" and guess_content_type("p.JPG") == "image/jpeg"
    assert guess_content_type("x.webp") == "image/webp" and guess_content_type("no-extension") is None
    assert guess_content_type("dump.csv.gz") == "application/gzip"  # a compressed file is an archive ...
    assert guess_content_type("dump.csv.gz", "gzip") == "text/csv"  # ... unless it is served decoded
    assert delivered_headers(source("a.csv", content_type="text/x-mine"))[0].content_type == "text/x-mine"
    assert delivered_headers(source("a.csv"))[0].content_type == "text/csv"


def test_metadata_names_are_delivered_in_lower_case_and_sorted() -> None:
    headers, problem = delivered_headers(source(metadata=(("Zeta", "1"), ("Author", "ann"))))
    assert problem is None and headers.metadata == (("author", "ann"), ("zeta", "1"))


@pytest.mark.parametrize(("headers", "reason"), [
    ({"metadata": (("has space", "x"),)}, "not a valid HTTP header name"),
    ({"metadata": (("naïve", "x"),)}, "not a valid HTTP header name"),
    ({"metadata": (("Source-MD5", "x"),)}, "one gcs2s3 writes itself"),
    ({"metadata": (("Owner", "a"), ("owner", "b"))}, "equal but for case"),
    ({"metadata": (("note", "line\nbreak"),)}, "control character"),
    ({"metadata": (("note", "=?UTF-8?B?aGk=?="),)}, "RFC 2047"),
    ({"metadata": (("blob", "x" * 2000),)}, "S3 carries at most"),
    ({"content_disposition": 'attachment; filename="résumé.pdf"'}, "Content-Disposition"),
    ({"cache_control": "max-age=1\r\nX-Evil: 1"}, "Cache-Control"),
])
def test_what_s3_cannot_carry_is_a_reason(headers: dict[str, object], reason: str) -> None:
    delivered, problem = delivered_headers(source(**headers))
    assert problem is not None and reason in problem and delivered == Headers()


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30)


@given(st.dictionaries(names, values, max_size=5), st.sampled_from([None, "text/plain", "image/png"]))
def test_the_digest_changes_with_every_header_and_only_with_them(metadata: dict[str, str], ctype: str | None) -> None:
    pairs = tuple(metadata.items())
    headers, problem = delivered_headers(source(content_type=ctype, metadata=pairs))
    if problem is not None:  # only the RFC 2047 look-alike can be refused here
        assert "RFC 2047" in problem
        return
    again, _ = delivered_headers(source(content_type=ctype, metadata=tuple(reversed(pairs))))
    assert digest(again) == digest(headers)  # order of the source's pairs does not matter
    changed, _ = delivered_headers(source(content_type=ctype, cache_control="no-cache", metadata=pairs))
    assert digest(changed) != digest(headers)


# --- end to end, both S3 servers --------------------------------------------------------------------


def head(world: World, key: str, bucket: str | None = None) -> dict:
    return boto3.client("s3").head_object(Bucket=bucket or world.s3_bucket, Key=key)


def archived(world: World, stem: str) -> str:
    (key,) = [k for k in world.keys(world.archive_bucket) if stem in k]
    return key


def test_every_header_reaches_the_archive_entry_and_the_primary_copy(world: World) -> None:
    blob = world.gcs.blob("docs/report.pdf")
    blob.content_type = "application/pdf"
    blob.cache_control = "public, max-age=3600"
    blob.content_disposition = 'attachment; filename="report.pdf"'
    blob.content_language = "de"
    blob.metadata = {"Owner": "data-team", "batch": "42", "author": "José"}
    blob.upload_from_string(b"%PDF-1.7 fake", content_type="application/pdf")
    big = world.gcs.blob("big/video.mp4")
    big.cache_control = "no-cache"
    big.upload_from_string(b"\0" * (2 * 1024 * 1024 + 7), content_type="video/mp4")  # multipart archive entry
    world.put_untyped("data/table.csv", b"a,b\n")  # no content type: guessed
    world.put_untyped("blob-without-extension", b"?")
    code, report = sync_json(world, **MULTIPART)
    assert code == 0, report
    for bucket, key in ((None, "docs/report.pdf"), (world.archive_bucket, archived(world, "report"))):
        got = head(world, key, bucket)
        assert got["ContentType"] == "application/pdf" and got["CacheControl"] == "public, max-age=3600"
        assert got["ContentDisposition"] == 'attachment; filename="report.pdf"' and got["ContentLanguage"] == "de"
        meta = got["Metadata"]
        assert meta["owner"] == "data-team" and meta["batch"] == "42"
        # Non-ASCII metadata goes as an RFC 2047 encoded word, which S3 decodes and stores as Unicode;
        # the emulators keep it as sent, so what they hold must decode to the source's value.
        assert str(email.header.make_header(email.header.decode_header(meta["author"]))) == "José"
        assert meta["source-crc32c"] and meta[META_HEADERS]
    for bucket, key in ((None, "big/video.mp4"), (world.archive_bucket, archived(world, "video"))):
        got = head(world, key, bucket)
        assert got["ContentType"] == "video/mp4" and got["CacheControl"] == "no-cache"
    assert head(world, "data/table.csv")["ContentType"] == "text/csv"
    assert head(world, "blob-without-extension")["ContentType"] in ("binary/octet-stream",
                                                                    "application/octet-stream")


def test_a_gzip_encoded_object_is_delivered_as_stored(world: World, emulators: dict[str, str]) -> None:
    page = b"<html>" + b"hello " * 5000 + b"</html>"
    stored = gzip.compress(page, mtime=0)
    blob = world.gcs.blob("site/index.html")
    blob.content_encoding = "gzip"
    blob.content_type = "text/html"
    blob.upload_from_string(stored, content_type="text/html")
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs:
        code, report = sync_json(world, env={"STORAGE_EMULATOR_HOST": gcs.url})
        media = [h for (m, p), h in zip(gcs.requests, gcs.headers, strict=True) if "alt=media" in p]
    assert code == 0, report
    # Real GCS decompresses a gzip-encoded object on download (and then ignores the Range) unless the
    # request accepts gzip; no emulator does that, so the request itself is what is tested.
    assert media and all("gzip" in h.get("accept-encoding", "") for h in media), media
    for bucket, key in ((world.s3_bucket, "site/index.html"), (world.archive_bucket, archived(world, "index"))):
        got = boto3.client("s3").get_object(Bucket=bucket, Key=key)
        assert got["ContentEncoding"] == "gzip" and got["ContentType"] == "text/html"
        assert got["Body"].read() == stored


def test_a_header_only_change_rewrites_the_primary_in_place(world: World, emulators: dict[str, str]) -> None:
    world.put("r/q1.csv", b"north,1\n")
    world.put("r/q2.csv", b"south,1\n")
    assert sync_json(world)[0] == 0
    archive_before = world.keys(world.archive_bucket)
    blob = world.gcs.get_blob("r/q1.csv")
    blob.content_type = "text/plain; charset=utf-8"
    blob.metadata = {"fixed": "yes"}
    blob.patch()
    with Proxy(emulators["STORAGE_EMULATOR_HOST"]) as gcs, Proxy(emulators["AWS_ENDPOINT_URL"]) as s3:
        env = {"STORAGE_EMULATOR_HOST": gcs.url, "AWS_ENDPOINT_URL": s3.url}
        code, report = sync_json(world, env=env)
        assert code == 0, report
        assert report["counts"]["headers_changed"] == 1 and report["counts"]["headers_updated"] == 1
        assert report["counts"]["delivered"] == 0 and report["counts"]["unchanged"] == 1
        assert not [p for m, p in gcs.requests if "alt=media" in p]  # no body downloaded
        writes = [(m, p, h) for (m, p), h in zip(s3.requests, s3.headers, strict=True) if m in ("PUT", "POST")
                  and "/.gcs2s3/" not in p]
        assert [(m, p) for m, p, _ in writes] == [("PUT", f"/{world.s3_bucket}/r/q1.csv")]
        assert writes[0][2]["x-amz-copy-source"].endswith(f"{world.s3_bucket}/r/q1.csv")
        assert not [p for m, p in s3.requests if m == "HEAD"]  # the state cache knew the old headers
        s3.reset()
        code, report = sync_json(world, env=env)
        assert code == 0 and report["counts"]["unchanged"] == 2
        assert all(m == "GET" for m, p in s3.requests if "/.gcs2s3/lease" not in p)
        assert not [p for m, p in gcs.requests if "alt=media" in p]
    got = head(world, "r/q1.csv")
    assert got["ContentType"] == "text/plain; charset=utf-8" and got["Metadata"]["fixed"] == "yes"
    assert world.keys(world.archive_bucket) == archive_before  # no new archive entry
    assert world.keys()["r/q1.csv"] == b"north,1\n"
    assert cli("verify", "--config", str(world.ini()), "--dev-level", "Stage").code == 0


def test_objects_delivered_without_headers_are_repaired_once(world: World, emulators: dict[str, str]) -> None:
    for i in range(3):
        world.put_untyped(f"old/{i}.json", b'{"i": %d}' % i)
    world.put_untyped("big.bin", b"\1" * (2 * 1024 * 1024))
    assert sync_json(world, **MULTIPART)[0] == 0
    # What an earlier version left: no headers, no digest, a state cache of the old format.
    s3 = boto3.client("s3")
    for key in ("old/0.json", "old/1.json", "old/2.json", "big.bin"):
        meta = {k: v for k, v in head(world, key)["Metadata"].items() if k != META_HEADERS}
        s3.copy_object(Bucket=world.s3_bucket, Key=key, CopySource={"Bucket": world.s3_bucket, "Key": key},
                       MetadataDirective="REPLACE", Metadata=meta, ContentType="binary/octet-stream")
    old_cache = gzip.compress(json.dumps({"format": 1, "entries": {}}).encode())
    s3.put_object(Bucket=world.s3_bucket, Key=state_key(""), Body=old_cache)
    with Proxy(emulators["AWS_ENDPOINT_URL"]) as proxy:
        code, report = sync_json(world, env={"AWS_ENDPOINT_URL": proxy.url}, **MULTIPART)
        assert code == 0 and report["counts"]["headers_updated"] == 4 and report["counts"]["delivered"] == 0
        first_write = next(i for i, (m, p) in enumerate(proxy.requests)
                           if m in ("PUT", "POST") and "/.gcs2s3/lease" not in p)
        heads = [p for m, p in proxy.requests[:first_write] if m == "HEAD"]
        assert len(heads) == 4  # the upgrade's cost: one HEAD each, once
        proxy.reset()
        code, report = sync_json(world, env={"AWS_ENDPOINT_URL": proxy.url}, **MULTIPART)
        assert code == 0 and report["counts"]["unchanged"] == 4
        # list-only again (plus the state read and the lease)
        assert proxy.count(lambda m, p: m != "GET" and "/.gcs2s3/lease" not in p) == 0
    assert head(world, "old/1.json")["ContentType"] == "application/json"
    assert head(world, "big.bin")["ContentType"] == "application/octet-stream"


def test_metadata_s3_cannot_carry_refuses_that_object_only(world: World) -> None:
    bad = world.gcs.blob("bad.txt")
    bad.metadata = {"source-md5": "mine"}
    bad.upload_from_string(b"claims our name")
    world.put("good.txt", b"fine")
    code, report = sync_json(world)
    assert code == 1 and report["counts"]["delivered"] == 1
    (failure,) = report["failures"]
    assert failure["key"] == "bad.txt" and "gcs2s3 writes itself" in failure["reason"]
    assert set(world.keys()) == {"good.txt"}


def test_thumbnails_keep_their_image_type_and_the_image_cache_control(world: World) -> None:
    from conftest import photo

    blob = world.gcs.blob("pics/p.jpg")
    blob.cache_control = "public, max-age=60"
    blob.upload_from_string(photo(400, 300), content_type="image/jpeg")
    code, report = sync_json(world, thumbnails="true", thumbnail_sizes="thumbnail:150x150:crop")
    assert code == 0, report
    got = head(world, "pics/p-150x150.jpg")
    assert got["ContentType"] == "image/jpeg" and got["CacheControl"] == "public, max-age=60"
    assert head(world, "pics/p.jpg")["ContentType"] == "image/jpeg"


def test_the_encoded_word_is_what_real_s3_documents() -> None:
    value = "José"
    word = "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="
    headers, _ = delivered_headers(source(metadata=(("author", value),)))
    from gcs2s3.core.headers import custom_metadata

    assert custom_metadata(headers) == {"author": word}
