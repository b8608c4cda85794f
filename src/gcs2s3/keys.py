"""Pure name rules: source name -> destination key, destination key -> archive key, destination key
-> WordPress's derived file keys, and the checks that refuse a name (too long, reserved) or a pair of
names (collision, or one name being another image's thumbnail) before anything is written.

Only the part of a name below `path` is ever transformed, segment by segment; the configured prefixes
are prepended untouched.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
RESERVED_SEGMENT = ".gcs2s3"  # our own bookkeeping lives under this segment; never content
ARCHIVE_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def relative_name(name: str, path: str) -> str:
    """The part of a source name after the configured `path` prefix."""
    if not name.startswith(path):
        raise ValueError(f"{name!r} is not under {path!r}")
    return name[len(path) :]


def flatten(rel: str) -> str:
    """Join the segments of a name with '_' (the WordPress S3 plugin wants one folder)."""
    return "_".join(rel.split("/"))


def dest_name(rel: str, flatten_names: bool) -> str:
    """The destination name below `s3_prefix` of a relative source name."""
    return flatten(rel) if flatten_names else rel


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


def find_collisions(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Destination keys claimed by more than one source name: {key: [names...]}."""
    claims: dict[str, list[str]] = defaultdict(list)
    for name, key in pairs:
        claims[key].append(name)
    return {key: sorted(names) for key, names in claims.items() if len(names) > 1}


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


# --- WordPress's derived files (thumbnails) beside a delivered image --------------------------------

# The image types WordPress sizes (and posts), by lower-cased extension, with their MIME types.
SIZED_MIME = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "png": "image/png",
              "webp": "image/webp", "gif": "image/gif"}
SIZED_EXTENSIONS = frozenset(SIZED_MIME)
# Images of other types: delivered as they are and counted as not sized.
UNSIZED_IMAGE_EXTENSIONS = frozenset({"tif", "tiff", "bmp", "heic", "heif", "avif", "svg", "ico", "jxl"})
_DERIVED = re.compile(r"^(?P<name>.*)-(?:\d+x\d+|scaled|rotated)\.(?P<ext>[^.]*)$", re.DOTALL)


def _split_extension(basename: str) -> tuple[str, str]:
    """PHP's pathinfo: the extension is what follows the last '.', the name what precedes it."""
    name, dot, ext = basename.rpartition(".")
    return (name, ext) if dot else (basename, "")


def thumbnail_key(dest_key: str, suffix: str) -> str:
    """The key WordPress gives a derived file (`suffix` = "-150x150", "-scaled", ...) of `dest_key`:
    `<name><suffix>.<extension in lower case>` in the same folder (WP_Image_Editor::generate_filename)."""
    folder, slash, basename = dest_key.rpartition("/")
    name, ext = _split_extension(basename)
    return f"{folder}{slash}{name}{suffix}.{ext.lower()}"


def extension(key: str) -> str:
    """The lower-cased extension of a key's last segment ("" when it has none)."""
    return _split_extension(key.rpartition("/")[2])[1].lower()


def is_sized_image(dest_key: str) -> bool:
    return extension(dest_key) in SIZED_EXTENSIONS


def find_thumbnail_claims(dest_keys: Iterable[str]) -> dict[str, str]:
    """Keys that look like a derived file of another image among `dest_keys` ({key: that image's key}).

    `a-150x150.jpg` beside `a.jpg` (or `a.JPG`) is claimed whatever a.jpg's size turns out to be: the
    size is only known once the image is read, and a name that one run's thumbnail could overwrite is
    refused, never risked.
    """
    keys = list(dest_keys)
    images: dict[tuple[str, str, str], str] = {}
    for key in keys:
        if is_sized_image(key):
            folder, _, basename = key.rpartition("/")
            name, ext = _split_extension(basename)
            images.setdefault((folder, name, ext.lower()), key)
    claims: dict[str, str] = {}
    for key in keys:
        folder, _, basename = key.rpartition("/")
        match = _DERIVED.match(basename)
        if match:
            owner = images.get((folder, match["name"], match["ext"]))
            if owner is not None and owner != key:
                claims[key] = owner
    return claims
