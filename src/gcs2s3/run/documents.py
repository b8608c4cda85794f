"""Our bookkeeping objects (the state cache, the WordPress ledger, the run report): small documents
read and written whole, and the gzipped-JSON entry format the two `.gcs2s3/` documents share.

Reading one never fails a run: a document that cannot be read or parsed is logged and reported as
such, and its owner decides what that costs (more HEADs, more look-ups), never a wrong decision.
"""

from __future__ import annotations

import enum
import gzip
import json
import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from gcs2s3.core.errors import Gcs2s3Error
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.models import Headers
from gcs2s3.stores.protocols import Target

log = logging.getLogger(__name__)
T = TypeVar("T")
PARSE_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError)


class Found(enum.Enum):
    READ = "read"
    MISSING = "missing"
    NOT_READ = "not read"  # the request failed (a warning was logged)
    UNREADABLE = "unreadable"  # read, but not a document we can parse (a warning was logged)


def load_document(
    target: Target, bucket: str, key: str, what: str, parse: Callable[[bytes], T], not_read: str
) -> tuple[Found, T | None]:
    """The document parsed, or why there is none. `not_read` says what a failed read costs."""
    try:
        data = target.read_small(bucket, key)
    except Gcs2s3Error as exc:
        log.warning("%s s3://%s/%s not read (%s); %s", what, bucket, key, exc, not_read)
        return Found.NOT_READ, None
    if data is None:
        return Found.MISSING, None
    try:
        return Found.READ, parse(data)
    except PARSE_ERRORS as exc:
        log.warning("%s s3://%s/%s is unreadable (%s); it will be rewritten", what, bucket, key, exc)
        return Found.UNREADABLE, None


def put_document(target: Target, bucket: str, key: str, body: bytes, content_type: str | None = None) -> None:
    hasher = BodyHasher()
    hasher.update(body)
    target.put(bucket, key, body, md5_b64=hasher.md5_b64, crc32c=hasher.crc32c, metadata={}, if_absent=False,
               headers=Headers(content_type=content_type))


def encode_entries(format_version: int, entries: dict[str, Any]) -> bytes:
    """`{"format": N, "entries": {key: dataclass as dict}}`, sorted, gzipped (same bytes for same entries).
    Flat dataclasses of plain values: read field by field (`asdict` deep-copies, ten times slower)."""
    names = [f.name for f in fields(next(iter(entries.values())))] if entries else []
    rows = {key: {name: getattr(entry, name) for name in names} for key, entry in sorted(entries.items())}
    document = {"format": format_version, "entries": rows}
    return gzip.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"), compresslevel=6, mtime=0)


def decode_entries(data: bytes, format_version: int, entry: Callable[..., T], what: str) -> dict[str, T]:
    document = json.loads(gzip.decompress(data))
    if document.get("format") != format_version:
        raise ValueError(f"unknown {what} format {document.get('format')!r}")
    return {key: entry(**fields) for key, fields in document["entries"].items()}
