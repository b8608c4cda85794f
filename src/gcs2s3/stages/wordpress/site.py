"""The WordPress media library over its REST API: the only module that talks HTTP to WordPress.

Finds the API root the way WordPress advertises it (the `Link: <...>; rel="https://api.w.org/"`
header of the site), so a site without pretty permalinks is reached through `?rest_route=`; checks
the application password once (`/wp/v2/users/me`); looks a media item up by its slug; uploads a file
(`POST /wp/v2/media`, the file as the body). Reads are retried with backoff by urllib3; an upload is
never retried here (a retry could post twice): the caller looks the item up by its slug first.

Failures become `WordPressError` with a sentence a person can act on: a wrong password says so, a 413
names the limits to raise. The application password is sent only as Basic auth and never appears in
a message or a log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gcs2s3.core.errors import TransientError, WordPressError, WordPressRefusedError, WordPressUnreachableError

API_REL = "https://api.w.org/"
READ_RETRIES = Retry(total=4, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                     allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False)


@dataclass(frozen=True, slots=True)
class Media:
    id: int
    url: str  # source_url: the file as WordPress serves it
    slug: str


class WordPressSite:
    def __init__(self, url: str, user: str, password: str, *, timeout_s: float = 300, connections: int = 4) -> None:
        self.url = url.rstrip("/") + "/"
        self.user = user
        self._session = requests.Session()
        self._session.auth = (user, password)
        self._session.headers["User-Agent"] = "gcs2s3"
        adapter = HTTPAdapter(max_retries=READ_RETRIES, pool_connections=connections, pool_maxsize=connections)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._timeout = (10, timeout_s)
        self._api: str | None = None

    def close(self) -> None:
        self._session.close()

    # --- requests -------------------------------------------------------------------------------

    def _route(self, route: str) -> str:
        """The URL of a REST route ("wp/v2/media") under the discovered API root."""
        api = self.api_root()
        if "rest_route=" in api:
            base, _, root = api.partition("rest_route=")
            return f"{base}rest_route={root.rstrip('/')}/{route}"
        return urljoin(api, route)

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, url, timeout=self._timeout, **kwargs)
        except requests.Timeout:
            raise WordPressUnreachableError(
                f"{what}: WordPress at {self.url} did not answer within {self._timeout[1]} s") from None
        except requests.ConnectionError as exc:
            raise WordPressUnreachableError(
                f"{what}: cannot reach WordPress at {self.url} ({_reason(exc)}); is it up?") from None
        except requests.RequestException as exc:
            raise WordPressUnreachableError(f"{what}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise self._error(response, what, kwargs.get("data"))
        return response

    def _error(self, response: requests.Response, what: str, body: Any) -> WordPressError:
        status = response.status_code
        code, message = _wp_error(response)
        said = f" ({code}: {message})" if code else ""
        if status == 401:
            return WordPressRefusedError(
                f"{what}: WordPress refused the application password of user {self.user!r} ({status}{said}); "
                "check wordpress_user and GCS2S3_WORDPRESS_APP_PASSWORD (Users > Profile > Application Passwords)",
                status,
            )
        if status == 403:
            return WordPressRefusedError(
                f"{what}: user {self.user!r} is not allowed to do this ({status}{said}); it needs a role that may "
                "upload files (Author or above)", status,
            )
        if status == 413:
            size = _size_of(body)
            sized = f"{size / 1024 / 1024:.1f} MB is " if size is not None else ""
            return WordPressError(
                f"{what}: {sized}over the site's upload limit ({status} Request Entity Too Large); raise the web "
                "server's request-body limit (nginx client_max_body_size, Apache LimitRequestBody) and PHP's "
                "post_max_size and upload_max_filesize", status,
            )
        kind = WordPressUnreachableError if status in (408, 429) or status >= 500 else WordPressError
        return kind(f"{what}: WordPress answered {status} {response.reason}{said}", status)

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "?")
            raise WordPressRefusedError(
                f"{what}: WordPress answered {kind}, not JSON; is {self.url} a WordPress site?") from None

    # --- the API --------------------------------------------------------------------------------

    def api_root(self) -> str:
        """The REST API root: from the site's `Link` header, else `/wp-json/`, else `?rest_route=/`."""
        if self._api is None:
            response = self._request("HEAD", self.url, "finding the REST API", allow_redirects=True)
            link = response.links.get(API_REL, {}).get("url")
            if link:  # on the configured origin (the site may know itself by another name, behind a proxy)
                parts = urlsplit(link)
                link = urljoin(self.url, parts.path + (f"?{parts.query}" if parts.query else ""))
            else:
                try:
                    probe = self._request("GET", urljoin(self.url, "wp-json/"), "finding the REST API")
                    json_answer = probe.headers.get("Content-Type", "").startswith("application/json")
                except WordPressError as exc:
                    if isinstance(exc, TransientError | WordPressRefusedError):
                        raise
                    json_answer = False  # 404: no pretty permalinks
                link = urljoin(self.url, "wp-json/") if json_answer else urljoin(self.url, "?rest_route=/")
            self._api = link
        return self._api

    def check(self) -> None:
        """Raise WordPressError unless the user signs in with the password and may upload files."""
        what = "signing in to WordPress"
        me = self._json(self._request("GET", self._route("wp/v2/users/me"), what, params={"context": "edit"}), what)
        capabilities = me.get("capabilities") or {}
        if not capabilities.get("upload_files"):
            raise WordPressRefusedError(
                f"{what}: user {self.user!r} may not upload files; give it the Author role or above")

    def find(self, slug: str) -> Media | None:
        """The media item with this slug, if any."""
        what = f"looking up media {slug!r}"
        found = self._json(self._request("GET", self._route("wp/v2/media"), what,
                                         params={"slug": slug, "context": "edit"}), what)
        return _media(found[0]) if found else None

    def upload(self, path: Path, filename: str, mime: str, *, slug: str, title: str) -> Media:
        """POST the file as a new media item named `filename`."""
        what = f"uploading {filename!r}"
        disposition = f'attachment; filename="{_header_safe(filename)}"'.encode()
        with path.open("rb") as body:
            response = self._request(
                "POST", self._route("wp/v2/media"), what, data=body, params={"slug": slug, "title": title},
                headers={"Content-Type": mime, "Content-Disposition": disposition},
            )
        return _media(self._json(response, what))


def _media(item: dict[str, Any]) -> Media:
    return Media(int(item["id"]), str(item.get("source_url", "")), str(item.get("slug", "")))


def _wp_error(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if isinstance(body, dict):
        return str(body.get("code", "")), re.sub(r"<[^>]+>", "", str(body.get("message", "")))[:300]
    return "", ""


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _size_of(body: Any) -> int | None:
    try:
        return Path(body.name).stat().st_size
    except (AttributeError, OSError, TypeError):
        return None


def _header_safe(filename: str) -> str:
    """WordPress splits the header on ';' and unquotes '"': neither may appear in the name."""
    return re.sub(r'[";\r\n\\\\]', "_", filename)
