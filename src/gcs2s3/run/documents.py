"""Our bookkeeping objects (the state cache, the WordPress ledger, the thumbnail record, the run report):
documents read and written whole, and the gzipped entry format the `.gcs2s3/` documents share (a
header line, then one JSON line per entry in key order, so that it can also be streamed).

Reading one never fails a run: a document that cannot be read or parsed is logged and reported as
such, and its owner decides what that costs (more HEADs, more look-ups), never a wrong decision.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import itertools
import json
import logging
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from typing import Any, BinaryIO, TypeVar

from gcs2s3.core.errors import Gcs2s3Error
from gcs2s3.core.hashes import BodyHasher, crc32c_b64
from gcs2s3.core.models import Headers, PutOptions
from gcs2s3.stores.protocols import MultipartTarget, Target

log = logging.getLogger(__name__)
T = TypeVar("T")
PARSE_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError, zlib.error)


class Found(enum.Enum):
    READ = "read"
    MISSING = "missing"
    NOT_READ = "not read"  # the request failed (a warning was logged)
    UNREADABLE = "unreadable"  # read, but not a document we can parse (a warning was logged)


def put_document(target: Target, key: str, body: bytes, content_type: str | None = None) -> None:
    hasher = BodyHasher()
    hasher.update(body)
    options = PutOptions(headers=Headers(content_type=content_type), crc32c=hasher.crc32c, md5_b64=hasher.md5_b64)
    target.put(key, body, options)


_DUMPS = json.JSONEncoder(separators=(",", ":")).encode  # ASCII: any name, even a lone surrogate, survives


class EntryWriter:
    """The entries format, written a line at a time to a temporary file (entries given in key order):
    a header line `{"format":N,"fields":[...]}`, then one line `[key,value,...]` per entry, gzipped
    (same bytes for same entries), so that a reader can stream it in key order. `put_file` stores it."""

    def __init__(self, format_version: int, names: list[str]) -> None:
        self.file: BinaryIO = tempfile.TemporaryFile(prefix="gcs2s3-doc-")  # noqa: SIM115
        self._gzip = gzip.GzipFile(fileobj=self.file, mode="wb", compresslevel=6, mtime=0)
        self._lines: list[str] = [_DUMPS({"format": format_version, "fields": names})]

    def add(self, key: str, values: Iterable[Any]) -> None:
        self._lines.append(_DUMPS([key, *values]))
        if len(self._lines) >= 4096:
            self._drain(more=True)

    def _drain(self, more: bool) -> None:
        text = "\n".join(self._lines) + ("\n" if more else "")
        self._gzip.write(text.encode("ascii"))
        self._lines = []

    def finish(self) -> int:
        """Close the gzip stream; the file's size."""
        self._drain(more=False)
        self._gzip.close()
        return self.file.seek(0, 2)

    def close(self) -> None:
        self.file.close()


PART_BYTES = 16 * 1024 * 1024


def put_file(target: Target, key: str, file: BinaryIO, size: int) -> None:
    """A document written to a file stored at `key`: one PUT up to PART_BYTES, parts beyond (held one
    part at a time)."""
    file.seek(0)
    if size <= PART_BYTES or not isinstance(target, MultipartTarget):
        put_document(target, key, file.read())
        return
    upload = target.create_multipart(key, PutOptions())
    try:
        parts: list[tuple[int, str, str | None]] = []
        whole = BodyHasher(md5=False)
        while chunk := file.read(PART_BYTES):
            whole.update(chunk)
            crc = crc32c_b64(chunk)
            parts.append((len(parts) + 1, target.upload_part(key, upload, len(parts) + 1, chunk, crc), crc))
        target.complete_multipart(key, upload, parts, crc32c=whole.crc32c)
    except BaseException:
        with contextlib.suppress(Gcs2s3Error):
            target.abort_multipart(key, upload)
        raise


def decode_entries(data: bytes, format_version: int, entry: Callable[..., T], what: str,
                   legacy: int | None = None) -> dict[str, T]:
    """The entries of a document in the entries format (EntryWriter); with `legacy`, also of the earlier layout of
    that format number (one JSON object `{"format":N,"entries":{key:{field:value}}}`)."""
    head, _, rest = gzip.decompress(data).partition(b"\n")
    header = json.loads(head)
    if legacy is not None and header.get("format") == legacy and "entries" in header:
        return {key: entry(**values) for key, values in header["entries"].items()}
    names = _names(header, format_version, what)
    rows = json.loads(b"[" + rest.strip(b"\n").replace(b"\n", b",") + b"]")  # one parse (JSON has no raw newline)
    if names == [f.name for f in fields(entry)]:  # type: ignore[arg-type]  # written by this version: by position
        return {row[0]: entry(*row[1:]) for row in rows}
    return {row[0]: entry(**dict(zip(names, row[1:], strict=True))) for row in rows}


def iter_entries(chunks: Iterable[bytes], format_version: int, what: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """A document in the entries format (EntryWriter), streamed from its compressed chunks: (key, fields) in key
    order, holding one line at a time."""
    inflate = zlib.decompressobj(wbits=31)
    names: list[str] | None = None
    tail = b""
    for chunk in itertools.chain(chunks, [b""]):
        text = tail + (inflate.decompress(chunk) if chunk else inflate.flush())
        lines = text.split(b"\n")
        tail = lines.pop() if chunk else b""
        for line in lines:
            if not line:
                continue
            if names is None:
                names = _names(json.loads(line), format_version, what)
                continue
            row = json.loads(line)
            yield row[0], dict(zip(names, row[1:], strict=True))
    if names is None:
        raise ValueError(f"empty {what} document")


def _names(header: Any, format_version: int, what: str) -> list[str]:
    if not isinstance(header, dict) or header.get("format") != format_version or "fields" not in header:
        found = header.get("format") if isinstance(header, dict) else None
        raise ValueError(f"unknown {what} format {found!r}")
    return list(header["fields"])
