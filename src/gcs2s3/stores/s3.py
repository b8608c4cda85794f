"""S3 target adapter over botocore (boto3's core: boto3 itself adds ~0.1 s of import and nothing we use).

Every write sends the checksums S3 validates on receipt (Content-MD5 and/or CRC32C, full-object for
multipart), archive writes are conditional (If-None-Match: *) so an archive entry is never
overwritten, and botocore exceptions are translated into `gcs2s3.core.errors` types here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import botocore.auth
import botocore.session
from botocore import exceptions as bexc
from botocore.config import Config

from gcs2s3.core.errors import (
    AccessDeniedError,
    ConfigError,
    Gcs2s3Error,
    IntegrityError,
    NotFoundError,
    PreconditionFailedError,
    StoreError,
    TransientError,
    UnreachableError,
)
from gcs2s3.core.hashes import crc32c_b64
from gcs2s3.core.models import OVERWRITE, DestObject, Fetched, PutMode, PutOptions, WriteResult
from gcs2s3.stores.fanout import fanout_list
from gcs2s3.stores.network import unreachable
from gcs2s3.stores.protocols import Part, Target
from gcs2s3.stores.s3_direct import BotocoreWrites, DirectWrites, condition, header_values, result_of
from gcs2s3.stores.translate import translating

SETTINGS_READ_TIMEOUT_S = 8
_NOT_FOUND = {"NoSuchBucket", "NoSuchKey", "NotFound", "404", "NoSuchUpload"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "AllAccessDisabled"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
# The server received other bytes than the checksums we sent: corrupted in transit, worth a retry.
_CORRUPTED = {"BadDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch"}
_TRANSIENT = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "503", "500", "ThrottlingException"}
# Every failure on the way to the server and back: refused, DNS, TLS, proxy, timeouts, dropped bodies.
_CONNECTION = (bexc.ConnectionError, bexc.HTTPClientError)


def _map_botocore(what: str, exc: Exception) -> Exception | None:
    """botocore exceptions -> gcs2s3 errors."""
    if isinstance(exc, bexc.ClientError):
        return _from_client_error(what, exc)
    if isinstance(exc, bexc.NoCredentialsError):
        return ConfigError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with a task role"
        )
    if isinstance(exc, _CONNECTION):
        return unreachable("S3", _endpoint(), exc) or TransientError(f"S3 {what}: {exc}")
    if isinstance(exc, bexc.BotoCoreError):
        return StoreError(f"S3 {what}: {exc}")
    return None


def _endpoint() -> str:
    """Where S3 requests go, for an error that does not say (a proxy's refusal names only the proxy)."""
    return (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            or "https://s3.<aws_region>.amazonaws.com")


_translated = translating(_map_botocore)


def _from_client_error(what: str, exc: bexc.ClientError) -> Gcs2s3Error:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = f"S3 {what}: {code or status} {error.get('Message', '')}".strip()
    if code in _NOT_FOUND or status == 404:
        return NotFoundError(message, status)
    if code in _DENIED or status in (401, 403):
        return AccessDeniedError(message, status)
    if code in _PRECONDITION or status == 412:
        return PreconditionFailedError(message, status)
    if code in _CORRUPTED:
        return IntegrityError(f"{message} (the upload was corrupted in transit; S3 refused it)")
    if code in _TRANSIENT or (status is not None and status >= 500):
        return TransientError(message, status)
    return StoreError(message, status)


def _age(headers: Mapping[str, str]) -> float | None:
    """Seconds since the object was last written, by the server's clock (its Date and Last-Modified)."""
    try:
        modified = _http_date(headers["last-modified"])
        now = _http_date(headers["date"]) if headers.get("date") else datetime.now(UTC)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return max(0.0, (now - modified).total_seconds())


def _http_date(text: str) -> datetime:
    """An HTTP date (the first, when a proxy joined two with a comma), as an aware UTC datetime."""
    if text.count("GMT") > 1:
        text = text.split("GMT")[0] + "GMT"
    when = parsedate_to_datetime(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def read_text_object(url: str) -> str:
    """The text of `s3://bucket/key` (the settings file), read with the standard AWS credentials;
    every failure is a ConfigError that says what to fix."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ConfigError(f"settings file {url} is not s3://BUCKET/KEY")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        # the first request of a run: an unreachable S3 must fail it in seconds, not after minutes of retries
        target = S3Target(bucket, region, pool_size=1, read_timeout_s=SETTINGS_READ_TIMEOUT_S, attempts=3)
        return target.get(key).body.decode("utf-8")
    except NotFoundError:
        raise ConfigError(f"settings file {url} not found: upload it there, or check the bucket and key") from None
    except AccessDeniedError as exc:
        raise ConfigError(f"settings file {url}: access denied ({exc}); the task role needs s3:GetObject on it") \
            from None
    except UnreachableError as exc:
        raise ConfigError(f"settings file {url} cannot be read: {exc.advice()}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"settings file {url} is not UTF-8 text") from None
    except StoreError as exc:
        raise ConfigError(f"settings file {url} cannot be read: {exc}") from None


# botocore's own SigV4 signer for S3, not the CRT one it picks when awscrt is installed: the CRT signer
# copies every body into a new BytesIO before signing. The direct transport signs with the same class.
_PYTHON_SIGV4 = "s3v4-gcs2s3"
botocore.auth.AUTH_TYPE_MAPS.setdefault(_PYTHON_SIGV4, botocore.auth.S3SigV4Auth)


def _python_sigv4(signature_version: object = None, **_: object) -> str | None:
    return _PYTHON_SIGV4 if signature_version in ("v4", "s3v4") else None


class _Connection:
    """One botocore client (thread-safe, pooled) and the data-path transport chosen for it, shared by
    every bucket opened through it."""

    def __init__(self, region: str, pool_size: int, connect_timeout_s: float, read_timeout_s: float,
                 attempts: int | None, direct: bool) -> None:
        self.config = Config(
            region_name=region,
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            # Standard mode: exponential backoff with jitter on 5xx, throttling and connection errors.
            # AWS_MAX_ATTEMPTS / AWS_RETRY_MODE still override it, as everywhere in the AWS SDKs.
            retries={
                "mode": os.environ.get("AWS_RETRY_MODE", "standard"),  # type: ignore[typeddict-item]
                "max_attempts": attempts or int(os.environ.get("AWS_MAX_ATTEMPTS", "6")),
            },
            max_pool_connections=pool_size,
            # We compute and send our own checksums; do not let botocore hash every body a second time.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # No SHA-256 of each body for the signature: every body we send carries Content-MD5 and/or
            # CRC32C that S3 checks on receipt, and TLS protects it on the way.
            s3={"payload_signing_enabled": False},
        )
        # Timestamps (LastModified) stay unparsed strings: nothing here reads them, and parsing one per
        # listed key is a large share of a no-change run's CPU.
        self.core = botocore.session.get_session()
        self.core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
        self.client = self.core.create_client("s3", config=self.config)
        self.client.meta.events.register("choose-signer.s3", _python_sigv4)
        self.writes = DirectWrites(self.client) if direct else BotocoreWrites(self.client)

    def quick_client(self, timeout_s: float) -> Any:
        """A client that tries once, answered within `timeout_s` (the reachability check retries itself)."""
        return self.core.create_client("s3", config=self.config.merge(Config(
            connect_timeout=timeout_s, read_timeout=timeout_s, retries={"total_max_attempts": 1})))


class S3Target:
    """One S3 bucket. `at(bucket)` opens another bucket on the same client and pool (the primary and the
    archive target of a run share one). `direct=False` makes every call through botocore's pipeline
    (s3_direct.py says what the direct transport saves)."""

    def __init__(self, bucket: str, region: str = "us-east-1", pool_size: int = 16, connect_timeout_s: float = 5,
                 read_timeout_s: float = 60, attempts: int | None = None, *, direct: bool = True,
                 connection: _Connection | None = None) -> None:
        self.bucket = bucket
        self._connection = connection or _Connection(region, pool_size, connect_timeout_s, read_timeout_s,
                                                     attempts, direct)
        self._client = self._connection.client
        self._writes = self._connection.writes

    def at(self, bucket: str) -> S3Target:
        return S3Target(bucket, connection=self._connection)

    def _source_bucket(self, src: tuple[Target, str]) -> tuple[str, str]:
        store, key = src
        if getattr(store, "_connection", None) is not self._connection:
            raise ValueError("a server-side copy needs a source opened from this target (S3Target.at)")
        return store.bucket, key

    def list(self, prefix: str) -> Iterator[DestObject]:
        return fanout_list(self._list_level, prefix)

    @_translated("listing")
    def _list_level(self, prefix: str, delimited: bool) -> tuple[list[DestObject], list[str]]:
        args = {"Bucket": self.bucket, "Prefix": prefix, **({"Delimiter": "/"} if delimited else {})}
        items: list[DestObject] = []
        prefixes: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(**args):
            items.extend(
                DestObject(key=item["Key"], size=item["Size"], etag=item["ETag"].strip('"'))
                for item in page.get("Contents", ())
            )
            prefixes.extend(common["Prefix"] for common in page.get("CommonPrefixes", ()))
        return items, prefixes

    @_translated("listing")
    def list_range(self, prefix: str, start: str, end: str | None) -> list[DestObject]:
        """The keys under `prefix` whose part below it lies in [start, end) (end None: no bound)."""
        low, high = prefix + start, (prefix + end if end is not None else None)
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start:  # StartAfter is exclusive: start just before `low`, drop what precedes it
            args["StartAfter"] = low[:-1] + chr(ord(low[-1]) - 1) + "\U0010ffff" if ord(low[-1]) else low[:-1]
        items: list[DestObject] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(**args):
            for item in page.get("Contents", ()):
                key = item["Key"]
                if high is not None and key >= high:
                    return items
                if key >= low:
                    items.append(DestObject(key=key, size=item["Size"], etag=item["ETag"].strip('"')))
        return items

    @_translated("listing")
    def probe(self, prefix: str, timeout_s: float | None = None) -> None:
        """One cheap request that fails (not found / access denied) when the bucket cannot be listed.
        With `timeout_s`: one try, answered within that long (the reachability check retries itself)."""
        client = self._client if timeout_s is None else self._connection.quick_client(timeout_s)
        client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)

    @_translated("head")
    def head(self, key: str) -> DestObject | None:
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except bexc.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise
        return DestObject(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            metadata=response.get("Metadata", {}),
            crc32c=response.get("ChecksumCRC32C"),
            checksum_type=response.get("ChecksumType"),
        )

    @_translated("put")
    def put(self, key: str, body: bytes | bytearray, options: PutOptions) -> WriteResult:
        return self._writes.put(self.bucket, key, body, options, options.crc32c or crc32c_b64(body))

    @_translated("create multipart upload")
    def create_multipart(self, key: str, options: PutOptions) -> str:
        response = self._client.create_multipart_upload(
            Bucket=self.bucket, Key=key, Metadata=dict(options.metadata), ChecksumAlgorithm="CRC32C",
            ChecksumType="FULL_OBJECT", **header_values(options.headers, 2),
        )
        return str(response["UploadId"])

    @_translated("upload part")
    def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray, crc32c: str) -> str:
        return self._writes.upload_part(self.bucket, key, upload_id, number, body, crc32c)

    @_translated("complete multipart upload")
    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[Part], *, crc32c: str,
                           mode: PutMode = OVERWRITE) -> WriteResult:
        response = self._client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": n, "ETag": etag, **({"ChecksumCRC32C": crc} if crc else {})}
                    for n, etag, crc in parts
                ]
            },
            ChecksumCRC32C=crc32c,
            ChecksumType="FULL_OBJECT",
            **condition(mode, 2),
        )
        return result_of(response)

    @_translated("delete")
    def delete(self, key: str, mode: PutMode = OVERWRITE) -> None:
        mode.allowed("a delete", "overwrite", "update")
        self._client.delete_object(Bucket=self.bucket, Key=key, **condition(mode, 2))

    @_translated("abort multipart upload")
    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    @_translated("listing multipart uploads")
    def open_uploads(self, prefix: str) -> list[tuple[str, str]]:
        pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix)
        return [(upload["Key"], upload["UploadId"]) for page in pages for upload in page.get("Uploads", ())]

    @_translated("copy part")
    def copy_part(self, key: str, upload_id: str, number: int, src: tuple[Target, str], start: int,
                  end: int) -> tuple[str, str | None]:
        bucket, source_key = self._source_bucket(src)
        response = self._client.upload_part_copy(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
            CopySource={"Bucket": bucket, "Key": source_key}, CopySourceRange=f"bytes={start}-{end - 1}",
        )
        result = response.get("CopyPartResult", {})
        return str(result["ETag"]), result.get("ChecksumCRC32C")

    @_translated("copy")
    def copy(self, src: tuple[Target, str], key: str, options: PutOptions) -> WriteResult:
        options.mode.allowed("a server-side copy", "overwrite")
        return self._writes.copy(self._source_bucket(src), self.bucket, key, options)

    @_translated("get")
    def get(self, key: str) -> Fetched:
        response = self._get(key)
        body = bytes(response["Body"].read())
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return Fetched(body, str(response.get("ETag", "")).strip('"'), _age(headers))

    def open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        return self._chunks(self._get(key)["Body"], chunk_size)

    def _chunks(self, body: Any, chunk_size: int) -> Iterator[bytes]:
        try:
            while chunk := self._read(body, chunk_size):
                yield chunk
        finally:
            body.close()

    @_translated("get")
    def _get(self, key: str) -> dict[str, Any]:
        return self._client.get_object(Bucket=self.bucket, Key=key)

    @_translated("read body")
    def _read(self, body: Any, size: int) -> bytes:
        return body.read(size)
