"""Listed objects as compact bytes, for planning at scale: a SourceObject or DestObject packed with
`marshal` (a tuple of plain values), ~100 bytes plus the name, against ~1 KB as Python objects.
Records are packed for sorting and spilling (run/sorting.py), a plan's actions for its spool
(run/plan_file.py), and unpacked only where an object is acted on. Pure; lossless (the round trip
gives an equal object).
"""

from __future__ import annotations

import functools
import marshal
from datetime import UTC, datetime, timedelta, timezone

from gcs2s3.core.models import NO_ATTACHMENTS, Action, DestObject, Headers, Kind, SourceObject

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def pack_source(source: SourceObject) -> bytes:
    headers = _pack_headers(source.headers)
    offset = source.created.utcoffset()
    zone = None if offset is None else offset // _MICROSECOND
    return marshal.dumps((source.name, source.size, source.md5, source.crc32c, source.generation,
                          _micros(source.created) if zone is not None else source.created.isoformat(), zone,
                          headers, source.metageneration))


def unpack_source(data: bytes) -> SourceObject:
    name, size, md5, crc32c, generation, created, zone, headers, metageneration = marshal.loads(data)
    if zone is None:
        moment = datetime.fromisoformat(created)
    else:
        moment = (_EPOCH + created * _MICROSECOND).astimezone(UTC if zone == 0 else timezone(zone * _MICROSECOND))
    return SourceObject(name, size, md5, crc32c, generation, moment, _unpack_headers(headers), metageneration)


def pack_dest(target: DestObject) -> bytes:
    return marshal.dumps((target.key, target.size, target.etag, target.crc32c, target.checksum_type,
                          None if target.metadata is None else tuple(sorted(target.metadata.items()))))


def unpack_dest(data: bytes) -> DestObject:
    key, size, etag, crc32c, checksum_type, metadata = marshal.loads(data)
    return DestObject(key, size, etag, None if metadata is None else dict(metadata), crc32c, checksum_type)


def _pack_headers(h: Headers) -> tuple[object, ...] | None:
    return None if h == Headers() else (h.content_type, h.cache_control, h.content_disposition, h.content_language,
                                        h.content_encoding, h.metadata)


@functools.lru_cache(maxsize=1024)  # a bucket's objects share a few sets of headers
def _unpack_headers(packed: tuple[object, ...] | None) -> Headers:
    if not packed:
        return Headers()
    return Headers(*packed[:5], tuple(tuple(pair) for pair in packed[5]))  # type: ignore[arg-type]


def pack_action(action: Action, flag: bool = False) -> bytes:
    """An action (and one flag of its holder's, e.g. "still to be confirmed") as bytes."""
    return marshal.dumps((action.kind.value, pack_source(action.source), action.dest_key, action.archive_key,
                          action.reason, None if action.existing is None else pack_dest(action.existing),
                          tuple(action.attached.items()), _pack_headers(action.headers), flag))


def unpack_action(data: bytes) -> tuple[Action, bool]:
    kind, source, dest, archive, reason, existing, attached, headers, flag = marshal.loads(data)
    return Action(Kind(kind), unpack_source(source), dest, archive, reason,
                  None if existing is None else unpack_dest(existing), dict(attached) if attached else NO_ATTACHMENTS,
                  _unpack_headers(headers)), flag
