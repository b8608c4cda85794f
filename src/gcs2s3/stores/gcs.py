"""GCS source adapter: google-cloud-storage for listing and auth, a plain media GET for the bytes.

Lists with only the fields the planner needs, reads exact generations by byte range (so a version
replaced mid-run is never mixed with its successor) with one media GET on the urllib3 pool of the
client's authorized session, straight into a preallocated buffer (the SDK's download reads small
chunks, and requests' per-call work is most of a small read's cost), and turns google-api-core / google-auth
/ HTTP exceptions into `gcs2s3.core.errors` types.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import requests.adapters
import urllib3
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from gcs2s3.core.errors import AccessDeniedError, ConfigError, NotFoundError, StoreError, TransientError
from gcs2s3.core.models import Headers, SourceObject
from gcs2s3.core.retrying import retried
from gcs2s3.stores import google_internals
from gcs2s3.stores.fanout import fanout_list
from gcs2s3.stores.network import unreachable
from gcs2s3.stores.translate import translating

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
READ_ATTEMPTS = 3  # a failed range read is tried again before the whole object is
READ_TIMEOUT_S = 60  # seconds between two reads of an answer (the connect timeout is the caller's)
_LIST_FIELDS = (
    "items(name,size,md5Hash,crc32c,generation,metageneration,timeCreated,contentType,cacheControl,"
    "contentDisposition,contentLanguage,contentEncoding,metadata),prefixes,nextPageToken"
)


def gcs_endpoint() -> str:
    """Where GCS requests go: the emulator when STORAGE_EMULATOR_HOST is set, else Google's API host."""
    return os.environ.get(EMULATOR_ENV) or "https://storage.googleapis.com"


def _map_google(what: str, exc: Exception) -> Exception | None:
    """google-api-core / google-auth / requests exceptions -> gcs2s3 errors."""
    if isinstance(exc, gexc.NotFound):
        return NotFoundError(f"GCS {what}: not found ({exc.message})", 404)
    if isinstance(exc, gexc.Forbidden | gexc.Unauthorized | auth_exc.RefreshError):
        return AccessDeniedError(f"GCS {what}: access denied ({_short(exc)})", 403)
    if isinstance(exc, requests.ConnectionError | requests.Timeout | auth_exc.TransportError | gexc.RetryError):
        found = unreachable("GCS", gcs_endpoint(), exc)
        if found is not None:
            return found
    if isinstance(exc, gexc.ServerError | gexc.TooManyRequests | requests.ConnectionError | requests.Timeout
                  | requests.exceptions.ChunkedEncodingError):
        return TransientError(f"GCS {what}: {_short(exc)}", getattr(exc, "code", None))
    if isinstance(exc, gexc.GoogleAPICallError):
        return StoreError(f"GCS {what}: {_short(exc)}", exc.code)
    return None


_translated = translating(_map_google)


def _created(blob: storage.Blob) -> datetime:
    """timeCreated, parsed with fromisoformat: the SDK's strptime took a fifth of a no-change run's CPU."""
    raw = google_internals.properties(blob).get("timeCreated")
    return datetime.fromisoformat(raw) if raw else blob.time_created


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


KEY_JSON_ENV = "GCS2S3_GCS_KEY_JSON"  # the key itself, e.g. from Secrets Manager; wins over gcs_key_file


def _credentials(key_file: Path | None) -> service_account.Credentials | None:
    key_json = os.environ.get(KEY_JSON_ENV, "").strip()
    if key_json:
        return _from_info(lambda: json.loads(key_json), f"the environment variable {KEY_JSON_ENV}")
    if key_file is None:
        return None
    try:
        key_file.stat()
    except FileNotFoundError:
        raise ConfigError(f"gcs_key_file {key_file} not found: put the service-account key there") from None
    except OSError as exc:
        raise ConfigError(f"gcs_key_file {key_file} cannot be read: {exc.strerror or exc}") from None
    return _from_info(lambda: json.loads(key_file.read_text(encoding="utf-8")), f"gcs_key_file {key_file}")


def _from_info(read: Callable[[], Any], where: str) -> service_account.Credentials:
    try:
        return service_account.Credentials.from_service_account_info(read())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        # Deliberately no detail: the parser's message may quote the key's contents.
        raise ConfigError(
            f"{where} is not a service-account key (JSON with type, client_email and private_key): download "
            "a new key for the service account"
        ) from None


def _headers(properties: dict[str, Any]) -> Headers:
    """The object's headers and custom metadata as GCS lists them (blank ones as absent)."""
    custom = properties.get("metadata") or {}
    return Headers(
        content_type=properties.get("contentType") or None,
        cache_control=properties.get("cacheControl") or None,
        content_disposition=properties.get("contentDisposition") or None,
        content_language=properties.get("contentLanguage") or None,
        content_encoding=properties.get("contentEncoding") or None,
        metadata=tuple(sorted((str(k), "" if v is None else str(v)) for k, v in custom.items())),
    )


def _source_object(blob: storage.Blob) -> SourceObject:
    return SourceObject(
        name=blob.name,
        size=int(blob.size or 0),
        md5=base64.b64decode(blob.md5_hash).hex() if blob.md5_hash else None,
        crc32c=blob.crc32c or "",
        generation=int(blob.generation or 0),
        created=_created(blob),
        headers=_headers(google_internals.properties(blob)),
        metageneration=int(blob.metageneration or 1),
    )


class GcsSource:
    """The GCS bucket the data team drops files into."""

    def __init__(self, bucket: str, key_file: Path | None = None, pool_size: int = 16,
                 connect_timeout_s: float = 5) -> None:
        credentials = _credentials(key_file)
        self._timeout = (connect_timeout_s, READ_TIMEOUT_S)  # for every listing and read
        try:
            if os.environ.get(EMULATOR_ENV):
                # The emulator accepts anything; the key file, if given, was still checked above.
                self._client = storage.Client(project="gcs2s3-emulated")
            else:
                self._client = storage.Client(credentials=credentials, project=getattr(credentials, "project_id", None))
        except auth_exc.DefaultCredentialsError:
            raise ConfigError(
                "no GCS credentials: set gcs_key_file to a service-account key, or provide application "
                "default credentials (GOOGLE_APPLICATION_CREDENTIALS)"
            ) from None
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        google_internals.session(self._client).mount("https://", adapter)
        google_internals.session(self._client).mount("http://", adapter)
        self.bucket = bucket
        self._bucket = self._client.bucket(bucket)
        self._media = _MediaGets(google_internals.session(self._client), self._timeout)

    def list(self, prefix: str) -> Iterator[SourceObject]:
        return fanout_list(self._list_level, prefix)

    @_translated("listing")
    def probe(self, prefix: str, timeout_s: float) -> None:
        """One try at a one-object listing, answered within `timeout_s` (the reachability check retries
        itself: the SDK's own retry would go on for two minutes); fails as every listing would."""
        list(self._client.list_blobs(self.bucket, prefix=prefix or None, max_results=1, fields="items(name)",
                                     timeout=(timeout_s, timeout_s), retry=None))

    @_translated("listing")
    def list_range(self, prefix: str, start: str, end: str | None) -> list[SourceObject]:
        """The objects under `prefix` whose name below it lies in [start, end) (end None: no bound)."""
        pages = self._client.list_blobs(
            self.bucket, prefix=prefix or None, start_offset=(prefix + start) or None,
            end_offset=prefix + end if end is not None else None, fields=_LIST_FIELDS, page_size=1000,
            timeout=self._timeout,
        )
        return [_source_object(blob) for blob in pages]

    @_translated("listing")
    def _list_level(self, prefix: str, delimited: bool) -> tuple[list[SourceObject], list[str]]:
        pages = self._client.list_blobs(
            self.bucket, prefix=prefix or None, delimiter="/" if delimited else None, fields=_LIST_FIELDS,
            page_size=1000, timeout=self._timeout,
        )
        items = [_source_object(blob) for blob in pages]
        return items, sorted(pages.prefixes) if delimited else []

    def read(self, obj: SourceObject, start: int, end: int, into: bytearray | None = None) -> bytearray:
        """Bytes [start, end) of exactly the listed generation, as stored (never decompressed), read
        straight into one preallocated buffer (`into`, when the caller reuses one). A read that fails on
        the way (connection dropped, 5xx, 429) is retried here, a few times, before the whole object is."""
        return retried(lambda: self._read_once(obj, start, end, into), attempts=READ_ATTEMPTS,
                       retry_on=TransientError)

    @_translated("read")
    def _read_once(self, obj: SourceObject, start: int, end: int, into: bytearray | None) -> bytearray:
        """One media GET of the range. `Accept-Encoding: gzip` makes GCS send a gzip-encoded object as
        stored (no decompressive transcoding, which would also ignore the Range), so its hashes are those
        of the stored bytes. The body goes from the socket into the buffer with no intermediate chunks:
        google-cloud-storage's download reads 8 KiB chunks (docs/benchmarks.md has the difference)."""
        buffer = into if into is not None and len(into) == end - start else bytearray(end - start)
        if end <= start:
            return buffer
        url = google_internals.media_url(self._bucket, obj.name, obj.generation, self._client)
        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "gzip"}
        try:
            response = self._media.get(url, headers)
        except (http.client.HTTPException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable("GCS", url, exc) or TransientError(f"GCS read of {obj.name!r}: {_short(exc)}") from None
        try:
            if response.status >= 400:
                raise self._media.error(response)
            whole = start == 0 and end == obj.size
            if response.status != 206 and not (response.status == 200 and whole):
                raise StoreError(f"GCS read of {obj.name!r}: status {response.status} to a request for "
                                 f"bytes {start}-{end - 1}")
            filled = _fill(response, buffer)
        except (http.client.HTTPException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable("GCS", url, exc) or TransientError(f"GCS read of {obj.name!r}: {_short(exc)}") from None
        finally:
            _done_with(response)
        if filled != len(buffer):
            raise TransientError(f"GCS read of {obj.name!r}: the body ended after {filled} of {len(buffer)} bytes")
        return buffer


class _MediaGets:
    """Where the media GETs go: straight onto the urllib3 pool of the client's own authorized session
    (the same pool, TLS verification and CA bundle as its other requests), with the credentials'
    headers added here, without requests' per-call work (merging settings, reading the proxy
    environment, hooks), which would be most of a small read's CPU. Where a proxy is configured for
    the URL the read goes through the session."""

    def __init__(self, session: Any, timeout: tuple[float, float] = (5, READ_TIMEOUT_S)) -> None:
        self._session = session
        self._timeout = timeout
        self._pools: dict[str, Any] = {}  # scheme://host:port -> urllib3 pool, or None: through requests
        self._lock = threading.Lock()

    def get(self, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        pool = self._pool(url)
        if pool is None:
            return self._session.get(url, headers=headers, stream=True, timeout=self._timeout).raw
        self._session.credentials.before_request(google_internals.auth_request(self._session), "GET", url, headers)
        return pool.urlopen(
            "GET", url[url.index("/", url.index("//") + 2):], headers=headers, redirect=False,
            assert_same_host=False, preload_content=False, decode_content=False, retries=False,
            timeout=urllib3.Timeout(connect=self._timeout[0], read=self._timeout[1]),
        )

    def error(self, response: urllib3.BaseHTTPResponse) -> Exception:
        """The google-api-core exception for an error answer (its JSON message when it has one). A 401
        (a token that expired early, say) refreshes the credentials, as the authorized session does,
        and is retryable: the read's next attempt carries the new token. A refresh that fails is an
        access-denied error."""
        body = response.read(64 * 1024)
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = body.decode("utf-8", "replace")[:300] or http.client.responses.get(response.status, "")
        credentials = self._session.credentials
        if response.status == 401 and not isinstance(credentials, AnonymousCredentials):
            credentials.refresh(google_internals.auth_request(self._session))
            return TransientError(f"GCS read: 401 {message} (credentials refreshed)", 401)
        return gexc.from_http_status(response.status, message)

    def _pool(self, url: str) -> Any:
        origin = url[: url.index("/", url.index("//") + 2)]
        with self._lock:
            if origin in self._pools:
                return self._pools[origin]
        pool = None
        session = self._session
        settings = session.merge_environment_settings(url, {}, None, None, None)
        adapter = session.get_adapter(url)
        if not settings["proxies"] and hasattr(adapter, "get_connection_with_tls_context"):
            request = requests.Request("GET", url).prepare()
            pool = adapter.get_connection_with_tls_context(request, settings["verify"], cert=settings["cert"])
            adapter.cert_verify(pool, url, settings["verify"], settings["cert"])
        with self._lock:
            return self._pools.setdefault(origin, pool)


def _done_with(response: urllib3.BaseHTTPResponse) -> None:
    """Give the connection back to the pool when its body was read to the end; else close it. (The body
    is read below urllib3, so closing the response would close a connection that is fine: every read
    would then open a new one; tests/test_data_path.py counts the connections.)"""
    body = google_internals.raw_body(response)
    if isinstance(body, http.client.HTTPResponse) and body.isclosed():
        response.release_conn()
    else:
        response.close()


def _fill(response: urllib3.BaseHTTPResponse, buffer: bytearray) -> int:
    """Read the response body into `buffer`; how many bytes came. The body is read from http.client's
    own response (urllib3's `readinto` reads into a temporary bytes first), without content decoding."""
    raw = google_internals.raw_body(response) or response
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        count = raw.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled
