"""WordPress's image sizing rules, pure: which files an upload gets (sub-sizes, `-scaled`,
`-rotated`) and their exact dimensions.

A line-by-line port of WordPress 6.x `wp_constrain_dimensions`, `image_resize_dimensions` and
`wp_fuzzy_number_match` (wp-includes/media.php, functions.php) with no plugin filters, including PHP's
rounding (half away from zero, after PHP's pre-rounding to 15 significant digits). The test suite
checks it against a table that WordPress's own functions computed (tests/data/wp_dimensions.json).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from gcs2s3.core.errors import ConfigError

BIG_IMAGE_THRESHOLD = 2560  # WordPress's default `big_image_size_threshold`


def php_round(value: float) -> int:
    """PHP's round($value): pre-round to 15 significant digits, then half away from zero."""
    if value == 0 or not math.isfinite(value):
        return int(value) if math.isfinite(value) else 0
    pre = Decimal(repr(value))
    digits = 15 - (pre.adjusted() + 1)
    pre = pre.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP) if digits > 0 else pre
    return int(pre.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def constrain_dimensions(width: int, height: int, max_width: int = 0, max_height: int = 0) -> tuple[int, int]:
    """wp_constrain_dimensions: fit (width, height) inside the box, keeping the aspect ratio."""
    if not max_width and not max_height:
        return width, height
    width_ratio = height_ratio = 1.0
    did_width = did_height = False
    if max_width > 0 and width > 0 and width > max_width:
        width_ratio = max_width / width
        did_width = True
    if max_height > 0 and height > 0 and height > max_height:
        height_ratio = max_height / height
        did_height = True
    smaller, larger = min(width_ratio, height_ratio), max(width_ratio, height_ratio)
    overflows = php_round(width * larger) > max_width or php_round(height * larger) > max_height
    ratio = smaller if overflows else larger  # the larger ratio is the snug fit unless it overflows
    w = max(1, php_round(width * ratio))
    h = max(1, php_round(height * ratio))
    # WordPress rounds a side that came out one pixel short of its limit up to the limit.
    if did_width and w == max_width - 1:
        w = max_width
    if did_height and h == max_height - 1:
        h = max_height
    return w, h


@dataclass(frozen=True, slots=True)
class Resize:
    """image_resize_dimensions' answer: the source rectangle and the output size."""

    src_x: int
    src_y: int
    src_w: int
    src_h: int
    width: int
    height: int


def resize_dimensions(orig_w: int, orig_h: int, dest_w: int, dest_h: int, crop: bool) -> Resize | None:
    """image_resize_dimensions (centre crop): None where WordPress makes no file for this size
    (it would upscale, or the result is within 1 px of the original on both sides)."""
    if orig_w <= 0 or orig_h <= 0 or (dest_w <= 0 and dest_h <= 0):
        return None
    if not dest_h:
        if orig_w < dest_w:
            return None
    elif not dest_w:
        if orig_h < dest_h:
            return None
    elif orig_w < dest_w and orig_h < dest_h:
        return None
    if crop:
        aspect = orig_w / orig_h
        new_w: float = min(dest_w, orig_w)
        new_h: float = min(dest_h, orig_h)
        if not new_w:
            new_w = php_round(new_h * aspect)
        if not new_h:
            new_h = php_round(new_w / aspect)
        size_ratio = max(new_w / orig_w, new_h / orig_h)
        crop_w = php_round(new_w / size_ratio)
        crop_h = php_round(new_h / size_ratio)
        src_x = math.floor((orig_w - crop_w) / 2)
        src_y = math.floor((orig_h - crop_h) / 2)
    else:
        crop_w, crop_h, src_x, src_y = orig_w, orig_h, 0, 0
        new_w, new_h = constrain_dimensions(orig_w, orig_h, dest_w, dest_h)
    if abs(new_w - orig_w) <= 1 and abs(new_h - orig_h) <= 1:
        return None
    return Resize(int(src_x), int(src_y), int(crop_w), int(crop_h), int(new_w), int(new_h))


@dataclass(frozen=True, slots=True)
class SizeSpec:
    """A registered image size, as `thumbnail_sizes` lists them (WordPress's add_image_size); 0 is
    unbounded on that side."""

    name: str
    width: int
    height: int
    crop: bool = False


# WordPress 6.x's registered sizes, used when `thumbnail_sizes` is blank.
WORDPRESS_SIZES = (
    "thumbnail:150x150:crop, medium:300x300, medium_large:768x0, large:1024x1024, "
    "1536x1536:1536x1536, 2048x2048:2048x2048"
)
_SIZE = re.compile(r"^\s*([^:\s]+)\s*:\s*(\d+)x(\d+)\s*(?::\s*(crop)\s*)?$")


def parse_sizes(text: str) -> tuple[SizeSpec, ...]:
    """`name:WIDTHxHEIGHT[:crop], ...` -> sizes (the setting `thumbnail_sizes`); a ConfigError that
    names the item when one is not of that form, is unbounded on both sides, or repeats a name."""
    sizes: list[SizeSpec] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _SIZE.match(item)
        if not match:
            raise ConfigError(f"thumbnail_sizes: {item!r} is not name:WIDTHxHEIGHT[:crop]")
        name, width, height, crop = match.groups()
        if not int(width) and not int(height):
            raise ConfigError(f"thumbnail_sizes: {item!r} is unbounded on both sides; give a width or a height")
        if any(size.name == name for size in sizes):
            raise ConfigError(f"thumbnail_sizes: the name {name!r} is given twice")
        sizes.append(SizeSpec(name, int(width), int(height), bool(crop)))
    return tuple(sizes)


def configured_sizes(thumbnail_sizes: str) -> tuple[SizeSpec, ...]:
    """The sizes to make: the setting's, or WordPress's defaults when it is blank."""
    return parse_sizes(thumbnail_sizes or WORDPRESS_SIZES)


@dataclass(frozen=True, slots=True)
class DerivedImage:
    """One file WordPress makes for an upload, beside the original."""

    suffix: str  # what follows the stem: "-150x150", "-scaled" or "-rotated"
    width: int  # of the file, after EXIF orientation is applied
    height: int
    resize: Resize | None  # the crop/resize applied to the oriented original; None: full frame
    sizes: tuple[str, ...]  # the registered sizes this file serves (two sizes may share one file)


ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


def derived_images(
    width: int, height: int, *, orientation: int, mime: str, sizes: Sequence[SizeSpec]
) -> list[DerivedImage]:
    """Every file WordPress 6.x (wp_create_image_subsizes) makes for an upload of this image, in the
    order it makes them: the big-image `-scaled` copy (not for PNG) or else the `-rotated` copy when the
    EXIF orientation is not 1, then one file per distinct sub-size, sized from the oriented original.
    `width`/`height` are as stored, before the EXIF orientation is applied."""
    turned = orientation in ROTATED_ORIENTATIONS
    oriented_w, oriented_h = (height, width) if turned else (width, height)
    files: list[DerivedImage] = []
    over = width > BIG_IMAGE_THRESHOLD or height > BIG_IMAGE_THRESHOLD
    if mime != "image/png" and over:
        scaled = resize_dimensions(width, height, BIG_IMAGE_THRESHOLD, BIG_IMAGE_THRESHOLD, False)
        if scaled is not None:  # WordPress resizes first, then applies the orientation
            w, h = (scaled.height, scaled.width) if turned else (scaled.width, scaled.height)
            files.append(DerivedImage("-scaled", w, h, None, ()))
    elif orientation not in (0, 1):
        files.append(DerivedImage("-rotated", oriented_w, oriented_h, None, ()))
    by_suffix: dict[str, DerivedImage] = {}
    for size in sizes:
        resize = resize_dimensions(oriented_w, oriented_h, size.width, size.height, size.crop)
        if resize is None:
            continue
        suffix = f"-{resize.width}x{resize.height}"
        known = by_suffix.get(suffix)
        if known is None:
            by_suffix[suffix] = DerivedImage(suffix, resize.width, resize.height, resize, (size.name,))
        else:  # same file name: WordPress writes it once and points both sizes at it
            by_suffix[suffix] = DerivedImage(suffix, known.width, known.height, known.resize,
                                             (*known.sizes, size.name))
    return files + list(by_suffix.values())
