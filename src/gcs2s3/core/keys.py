"""Pure name rules: source name -> destination key, destination key -> archive key, and the checks that
refuse a name (too long, reserved) or a pair of names (a collision) before anything is written.

Only the part of a name below `path` is ever transformed, segment by segment; the configured prefixes
are prepended untouched.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
RESERVED_SEGMENT = ".gcs2s3"  # our own bookkeeping lives under this segment; never content
ARCHIVE_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def relative_name(name: str, path: str) -> str:
    """The part of a source name after the configured `path` prefix."""
    if not name.startswith(path):
        raise ValueError(f"{name!r} is not under {path!r}")
    return name[len(path) :]


def flattened(rel: str) -> str:
    """Join the segments of a name with '_' (the WordPress S3 plugin wants one folder)."""
    return "_".join(rel.split("/"))


def dest_name(rel: str, flatten_names: bool) -> str:
    """The destination name below `s3_prefix` of a relative source name."""
    return flattened(rel) if flatten_names else rel


def archive_name(dest_rel: str, created: datetime, generation: int | None = None) -> str:
    """The archive name (below `archive_prefix`) of one delivered version.

    `<dest name without its last extension>.<UTC creation time><last extension>`; the time is the
    source version's, so a rerun finds the same name. `generation` gives the fallback name used when
    two versions were created within the same second.
    """
    head, sep, last = dest_rel.rpartition("/")
    stem, ext = posixpath.splitext(last)
    stamp = created.astimezone(UTC).strftime(ARCHIVE_TIME_FORMAT)
    if generation is not None:
        stamp = f"{stamp}-g{generation}"
    return f"{head}{sep}{stem}.{stamp}{ext}"


def has_reserved_segment(name: str) -> bool:
    return RESERVED_SEGMENT in name.split("/")


def refusal_reason(rel: str, dest_key: str, archive_key: str) -> str | None:
    """Why a single source name cannot be delivered, or None when it can."""
    if has_reserved_segment(rel):
        return f"name has the reserved segment '{RESERVED_SEGMENT}/' (gcs2s3's own bookkeeping); rename it"
    for what, key in (("destination", dest_key), ("archive", archive_key)):
        size = len(key.encode("utf-8"))
        if size > MAX_KEY_BYTES:
            return f"{what} key would be {size} UTF-8 bytes; S3 allows at most {MAX_KEY_BYTES}"
    return None


class KeyRules:
    """The configured prefixes and flatten switch, applied to one source object at a time."""

    def __init__(self, path: str, s3_prefix: str, archive_prefix: str, flatten: bool) -> None:
        self.path = path
        self.s3_prefix = s3_prefix
        self.archive_prefix = archive_prefix
        self.flatten = flatten

    def dest_key(self, rel: str) -> str:
        return self.s3_prefix + dest_name(rel, self.flatten)

    def archive_key(self, dest_key: str, created: datetime, generation: int | None = None) -> str:
        return self.archive_prefix + archive_name(dest_key[len(self.s3_prefix) :], created, generation)

    def is_bookkeeping(self, target_key: str) -> bool:
        """A key under the primary prefix that is gcs2s3's own state, never content."""
        return has_reserved_segment(target_key[len(self.s3_prefix) :])
