"""Which headers a delivered object carries, the user-metadata names gcs2s3 writes itself, and what S3
cannot carry (pure: no I/O).

Every delivered version keeps the source's Content-Type, Cache-Control, Content-Disposition,
Content-Language, Content-Encoding and custom metadata. A source without a Content-Type gets one
guessed from the name's extension, as `aws s3 sync` does (one fixed table, the same on every machine;
a compressed file without a Content-Encoding is typed as the archive it is: `x.csv.gz` is
`application/gzip`, never `text/csv`). S3 keeps metadata names in lower case, so they are delivered in
lower case. What S3 cannot carry as sent (a name that is no HTTP token, two names equal but for case,
a name gcs2s3 uses itself, a control character, a non-ASCII standard header, more than S3's 2 KB of
user metadata) refuses that object with the reason: never dropped or mangled silently. A non-ASCII
metadata value is sent as an RFC 2047 encoded word, which S3 decodes and stores as Unicode (S3's own
rule for user metadata).

`digest` names a set of headers in 16 hex characters: kept with each object (`source-headers`) and in
the state cache, so a header-only change at the source is seen from the listings alone.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import mimetypes
import re
from dataclasses import replace

from gcs2s3.core.models import Headers, SourceObject

# The user metadata gcs2s3 writes on its own account (a source name may not take them).
META_MD5 = "source-md5"
META_CRC32C = "source-crc32c"
META_GENERATION = "source-generation"
META_HEADERS = "source-headers"
META_POSTING = "wordpress-post"  # on images delivered while posting to WordPress is on
META_DERIVED_FROM = "derived-from-generation"  # on thumbnails
OWN_METADATA = frozenset({META_MD5, META_CRC32C, META_GENERATION, META_HEADERS, META_POSTING, META_DERIVED_FROM})
OWN_METADATA_BYTES = 160  # the most our own pairs take of the 2 KB
MAX_METADATA_BYTES = 2048  # S3: user metadata, names and values as UTF-8, summed

_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?[^?]*\?=")
_ARCHIVE_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
                  "br": "application/x-brotli", "compress": "application/x-compress"}
# Types Python's own table lacks in some versions, so that every install guesses alike.
_EXTRA_TYPES = {".webp": "image/webp", ".avif": "image/avif", ".heic": "image/heic", ".heif": "image/heif",
                ".md": "text/markdown", ".woff": "font/woff", ".woff2": "font/woff2", ".mjs": "text/javascript",
                ".wasm": "application/wasm", ".jsonl": "application/jsonl", ".ndjson": "application/x-ndjson",
                ".parquet": "application/vnd.apache.parquet", ".avro": "application/avro"}
_TYPES = mimetypes.MimeTypes()  # Python's built-in table only: no /etc/mime.types, the same everywhere
for _ext, _type in _EXTRA_TYPES.items():
    _TYPES.add_type(_type, _ext)


def guess_content_type(name: str, content_encoding: str | None = None) -> str | None:
    """The Content-Type of a file called `name` (None when the extension is unknown)."""
    basename = name.rpartition("/")[2]
    guessed, encoding = _TYPES.guess_type(basename, strict=False)
    if encoding and not content_encoding:
        return _ARCHIVE_TYPES.get(encoding, "application/octet-stream")
    return guessed


def delivered_headers(source: SourceObject) -> tuple[Headers, str | None]:
    """(the headers to deliver `source` with, None) or (empty headers, why S3 cannot carry them)."""
    checked, problem = _checked(source.headers)
    if problem is not None or checked.content_type:
        return checked, problem
    return replace(checked, content_type=guess_content_type(source.name, checked.content_encoding)), None


@functools.lru_cache(maxsize=4096)
def _checked(given: Headers) -> tuple[Headers, str | None]:
    """A source's headers as S3 carries them (metadata names lower-cased, sorted), or why it cannot.
    Cached: a bucket's objects share a few sets of headers, and planning asks for every object."""
    for what, value in (("Content-Type", given.content_type), ("Cache-Control", given.cache_control),
                        ("Content-Disposition", given.content_disposition),
                        ("Content-Language", given.content_language), ("Content-Encoding", given.content_encoding)):
        if value is not None and (not value.isascii() or _CONTROL.search(value)):
            return Headers(), f"its {what} {value!r} has characters S3 cannot carry in a header; fix it in GCS"
    metadata: dict[str, str] = {}
    size = OWN_METADATA_BYTES
    for name, value in given.metadata:
        problem = _metadata_problem(name, value, metadata)
        if problem:
            return Headers(), problem
        metadata[name.lower()] = value
        size += len(name.encode("utf-8")) + len(_encoded(value).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        return Headers(), (f"its custom metadata takes {size - OWN_METADATA_BYTES} bytes; S3 carries at most "
                           f"{MAX_METADATA_BYTES - OWN_METADATA_BYTES} beside gcs2s3's own")
    return Headers(given.content_type, given.cache_control, given.content_disposition, given.content_language,
                   given.content_encoding, tuple(sorted(metadata.items()))), None


def _metadata_problem(name: str, value: str, seen: dict[str, str]) -> str | None:
    if not _TOKEN.match(name):
        return f"custom metadata name {name!r} is not a valid HTTP header name, which S3 needs; rename it in GCS"
    if name.lower() in OWN_METADATA:
        return f"custom metadata name {name!r} is one gcs2s3 writes itself; rename it in GCS"
    if name.lower() in seen:
        return f"custom metadata names equal but for case ({name!r}); S3 keeps names in lower case: rename one"
    if _CONTROL.search(value):
        return f"custom metadata {name!r} has a control character in its value, which S3 cannot carry"
    if _ENCODED_WORD.search(value):
        return f"custom metadata {name!r} holds an RFC 2047 encoded word, which S3 would decode: S3 cannot keep it"
    return None


def _encoded(value: str) -> str:
    """A metadata value as sent: ASCII as it is, otherwise one RFC 2047 encoded word (UTF-8, base64)."""
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def custom_metadata(headers: Headers) -> dict[str, str]:
    """The custom metadata as sent to S3 (values encoded where S3 needs it)."""
    return {name: _encoded(value) for name, value in headers.metadata}


@functools.lru_cache(maxsize=4096)
def digest(headers: Headers) -> str:
    """16 hex characters that change whenever any delivered header or metadata pair does (cached, as
    `_checked` is: asked once per object on every run)."""
    canonical = json.dumps([headers.content_type, headers.cache_control, headers.content_disposition,
                            headers.content_language, headers.content_encoding, list(headers.metadata)],
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def object_metadata(source: SourceObject, headers: Headers) -> dict[str, str]:
    """All user metadata of a delivered object: the source's identity, its headers' digest, its custom pairs."""
    return {**custom_metadata(headers), **identity_metadata(source.crc32c, source.generation, source.md5),
            META_HEADERS: digest(headers)}


def identity_metadata(crc32c: str, generation: int, md5: str | None) -> dict[str, str]:
    """The `source-*` user metadata for a version with these hashes (md5 absent for composites)."""
    meta = {META_CRC32C: crc32c, META_GENERATION: str(generation)}
    if md5:
        meta[META_MD5] = md5
    return meta
