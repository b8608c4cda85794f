"""WordPress's image names: which types it sizes and posts, the keys of the derived files (thumbnails) it
puts beside an image, and which names claim to be another image's derived file. Pure; shared by the
thumbnails and WordPress stages.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Iterable

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


def thumbnail_scope(key: str) -> tuple[bytes, ...]:
    """The groups `find_thumbnail_claims` can relate `key` within: as an image, (folder, name, extension);
    as a derived file, the image it names. Keys of different groups never claim one another, so the
    claims can be found one group at a time (the streaming planner's `scope`)."""
    folder, _, basename = key.rpartition("/")
    groups = []
    if is_sized_image(key):
        name, ext = _split_extension(basename)
        groups.append(marshal.dumps((folder, name, ext.lower()), 2))  # version 2: the same bytes for equal values
    match = _DERIVED.match(basename)
    if match:
        groups.append(marshal.dumps((folder, match["name"], match["ext"]), 2))
    return tuple(groups)
