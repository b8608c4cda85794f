"""The S3 data path's transports: the three hot calls (PutObject, UploadPart, CopyObject) made through
botocore (`BotocoreWrites`), or sent without botocore's call pipeline (`DirectWrites`), which the
S3 target picks once, when it is made. The one table of standard headers both use lives here.

A botocore call spends client CPU besides moving the bytes (event emission, parameter validation and
serialisation, endpoint rules, response parsing); a delivery makes two or three of them per object.
The direct transport builds the request by hand, signs it with botocore's own SigV4 signer under the
client's own configuration (no SHA-256 of the body), and sends it on the botocore client's own
connection pool (same TLS settings, proxies and pool size); docs/benchmarks.md has what it saves.

Nothing is guessed: the bucket's URL and signing region are taken, once per bucket, from a call that
botocore builds and signs itself (and that is stopped before it is sent), so addressing style, custom
endpoints, FIPS/dual-stack settings and the region are botocore's. Only a plain success and the two
answers botocore would only get again (404, 412: raised as botocore's ClientError) are handled here.
Anything else (another error status, a 200 with an error inside, a connection error, a header that is
not ASCII) makes the same call through botocore, which owns retries, redirects and error parsing;
when botocore then succeeds where the direct call was refused as misdirected, the direct path is
switched off for that bucket.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.exceptions import ClientError

from gcs2s3.core.models import Headers, PutMode, PutOptions, WriteResult
from gcs2s3.core.version import VERSION
from gcs2s3.stores import botocore_internals

T = TypeVar("T")
_MISDIRECTED = {301, 307, 400, 403}
# Answers that botocore would only get again: raised as botocore would raise them (412: a condition
# such as If-None-Match failed, the lease and the archive rely on it; 404: no such bucket, key or upload).
_FINAL = {404, 412}
# (Headers field, HTTP header, botocore parameter) of every standard header an object carries
HEADER_FIELDS = (
    ("content_type", "Content-Type", "ContentType"),
    ("cache_control", "Cache-Control", "CacheControl"),
    ("content_disposition", "Content-Disposition", "ContentDisposition"),
    ("content_language", "Content-Language", "ContentLanguage"),
    ("content_encoding", "Content-Encoding", "ContentEncoding"),
)


def header_values(headers: Headers, column: int) -> dict[str, str]:
    """The headers that are set, named by HEADER_FIELDS' `column` (1: HTTP, 2: botocore)."""
    return {row[column]: value for row in HEADER_FIELDS if (value := getattr(headers, row[0]))}


def condition(mode: PutMode, column: int) -> dict[str, str]:
    """A write's condition as request headers (column 1) or botocore parameters (column 2)."""
    if mode.kind == "create":
        return {("", "If-None-Match", "IfNoneMatch")[column]: "*"}
    if mode.kind == "update":
        return {("", "If-Match", "IfMatch")[column]: f'"{mode.etag}"'}
    return {}


def result_of(response: Mapping[str, Any]) -> WriteResult:
    """A botocore write response's ETag and CRC32C."""
    return WriteResult(etag=str(response.get("ETag", "")).strip('"'), crc32c=response.get("ChecksumCRC32C"))


class BotocoreWrites:
    """The hot calls made through botocore."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put(self, bucket: str, key: str, body: bytes | bytearray, options: PutOptions, crc32c: str) -> WriteResult:
        extra = {**condition(options.mode, 2), **header_values(options.headers, 2)}
        if options.md5_b64:
            extra["ContentMD5"] = options.md5_b64
        response = self._client.put_object(
            Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="CRC32C", ChecksumCRC32C=crc32c,
            Metadata=dict(options.metadata), **extra,
        )
        return result_of(response)

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes | bytearray,
                    crc32c: str) -> str:
        response = self._client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body,
            ChecksumAlgorithm="CRC32C", ChecksumCRC32C=crc32c,
        )
        return str(response["ETag"])

    def copy(self, src: tuple[str, str], bucket: str, key: str, options: PutOptions) -> WriteResult:
        response = self._client.copy_object(
            Bucket=bucket, Key=key, CopySource={"Bucket": src[0], "Key": src[1]}, MetadataDirective="REPLACE",
            Metadata=dict(options.metadata), ChecksumAlgorithm="CRC32C", **header_values(options.headers, 2),
        )
        return result_of(response.get("CopyObjectResult", {}))


class _NoBody:
    """The body of the answer the probe gets instead of sending anything."""

    def stream(self, **_: object) -> Iterator[bytes]:
        return iter(())


def _capturing(probe_key: str, seen: threading.local) -> Any:
    """botocore's `before-send` handler that stops the probe (a HEAD of `probe_key`, a name no one
    uses): it notes the request's URL and signing region in `seen` and answers it with an empty 200,
    so nothing is sent. Every other request goes on untouched."""

    def capture(request: AWSRequest, **_: object) -> AWSResponse | None:
        if not urlsplit(request.url).path.endswith("/" + probe_key):
            return None
        authorization = request.headers.get("Authorization", "")
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
        seen.request = (request.url, scope[2] if len(scope) > 2 else "")
        return AWSResponse(request.url, 200, {}, _NoBody())

    return capture


def _ascii(headers: Mapping[str, str]) -> bool:
    return all(value.isascii() and name.isascii() for name, value in headers.items())


def _xml_value(body: bytes, tag: bytes) -> str | None:
    """The text of the first <tag> in a small S3 response (no namespaces needed, no parser)."""
    start = body.find(b"<" + tag + b">")
    if start < 0:
        return None
    start += len(tag) + 2
    end = body.find(b"</" + tag + b">", start)
    return body[start:end].decode().replace("&quot;", '"').replace("&#34;", '"') if end >= 0 else None


class DirectWrites(BotocoreWrites):
    """The hot calls sent directly, each made through botocore instead when the direct call declines."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._lock = threading.Lock()
        self._bases: dict[str, tuple[str, str] | None] = {}  # bucket -> (URL prefix, region) or None: off
        self._declined = threading.local()  # the status of this thread's last declined direct call
        self._probe_key = f"gcs2s3-endpoint-probe-{uuid.uuid4().hex}"
        self._seen = threading.local()
        client.meta.events.register_first("before-send.s3.HeadObject", _capturing(self._probe_key, self._seen))

    def put(self, bucket: str, key: str, body: bytes | bytearray, options: PutOptions, crc32c: str) -> WriteResult:
        sent = {**header_values(options.headers, 1), **_meta(options.metadata), **condition(options.mode, 1),
                "x-amz-checksum-crc32c": crc32c, "x-amz-sdk-checksum-algorithm": "CRC32C"}
        if options.md5_b64:
            sent["Content-MD5"] = options.md5_b64
        response = self._send("PutObject", bucket, key, "", sent, body)
        if response is None:
            return self._botocore_did(bucket, super().put(bucket, key, body, options, crc32c))
        return WriteResult(etag=response.headers.get("ETag", "").strip('"'),
                           crc32c=response.headers.get("x-amz-checksum-crc32c"))

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, body: bytes | bytearray,
                    crc32c: str) -> str:
        query = f"uploadId={quote(upload_id, safe='-_.~')}&partNumber={number}"  # botocore's order
        sent = {"x-amz-checksum-crc32c": crc32c, "x-amz-sdk-checksum-algorithm": "CRC32C"}
        response = self._send("UploadPart", bucket, key, query, sent, body)
        etag = None if response is None else response.headers.get("ETag")
        if not etag:
            return self._botocore_did(bucket, super().upload_part(bucket, key, upload_id, number, body, crc32c))
        return str(etag)

    def copy(self, src: tuple[str, str], bucket: str, key: str, options: PutOptions) -> WriteResult:
        sent = {**header_values(options.headers, 1), **_meta(options.metadata), "x-amz-metadata-directive": "REPLACE",
                "x-amz-checksum-algorithm": "CRC32C",
                "x-amz-copy-source": quote(f"{src[0]}/{src[1]}".encode(), safe="-._~/")}
        response = self._send("CopyObject", bucket, key, "", sent, b"")
        body = response.content if response is not None else b""
        etag = _xml_value(body, b"ETag")
        if b"<Error>" in body or etag is None:  # S3 may answer a copy 200 and fail it in the body
            return self._botocore_did(bucket, super().copy(src, bucket, key, options))
        return WriteResult(etag=etag.strip('"'), crc32c=_xml_value(body, b"ChecksumCRC32C"))

    def _botocore_did(self, bucket: str, result: T) -> T:
        """What botocore returned after this thread's direct call was declined. When the direct call had
        been refused as misdirected or missigned (a redirect, 400 or 403) and botocore succeeded, botocore
        knows something about the bucket that the probe did not (its region after a redirect, say): the
        bucket is left to botocore from now on."""
        if getattr(self._declined, "status", None) in _MISDIRECTED:
            with self._lock:
                self._bases[bucket] = None
        return result

    def _send(
        self, operation: str, bucket: str, key: str, query: str, headers: dict[str, str], body: bytes | bytearray
    ) -> Any | None:
        """PUT one request (`operation` names it in errors): the response to a plain success; None when
        botocore must make the call; raises the errors in _FINAL."""
        self._declined.status = None
        base = self._base(bucket)
        if base is None or not _ascii(headers):
            return None
        prefix, region = base
        url = prefix + quote(key.encode(), safe="/~") + (f"?{query}" if query else "")
        request = AWSRequest(method="PUT", url=url, data=body,
                             headers={**headers, "User-Agent": f"gcs2s3/{VERSION}"})
        response = botocore_internals.send_signed(self._client, request, region)
        if response is None:  # no credentials, or a connection that failed: botocore's call comes next
            _pause()
            return None
        if response.status_code in _FINAL:
            raise _client_error(response, operation)
        if response.status_code != 200:
            self._declined.status = response.status_code
            if response.status_code == 429 or response.status_code >= 500:
                _pause()
            return None
        return response

    def _base(self, bucket: str) -> tuple[str, str] | None:
        """The URL prefix keys of `bucket` go after, and the region botocore signs it for."""
        with self._lock:
            if bucket in self._bases:
                return self._bases[bucket]
        found = self._probe(bucket)
        with self._lock:
            return self._bases.setdefault(bucket, found)

    def _probe(self, bucket: str) -> tuple[str, str] | None:
        self._seen.request = None
        try:
            self._client.head_object(Bucket=bucket, Key=self._probe_key)
        except Exception:  # no credentials, a bad endpoint...: botocore says so on the real call
            return None
        if self._seen.request is None:
            return None
        url, region = self._seen.request
        if urlsplit(url).query or not region:
            return None
        return url.removesuffix(self._probe_key), region


def _client_error(response: Any, operation: str) -> ClientError:
    """The botocore error for an S3 error answer, so it is translated where botocore's are."""
    body = response.content or b""
    error = {"Code": _xml_value(body, b"Code") or str(response.status_code),
             "Message": _xml_value(body, b"Message") or ""}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": response.status_code}}, operation)


def _pause() -> None:
    """Before botocore makes a call the server just refused as busy: the wait botocore's standard
    retry mode makes before its first retry (up to a second, at random), so a throttled bucket does
    not get the same request twice at once."""
    time.sleep(random.uniform(0, 1))


def _meta(metadata: Mapping[str, str]) -> dict[str, str]:
    return {f"x-amz-meta-{name}": value for name, value in metadata.items()}
