"""Making the files WordPress would make for one image, with libvips, quickly and in bounded memory.

The header is read first (type, dimensions, EXIF orientation) and the pixel limit is checked before
anything is decoded; the decode fails on corrupt or truncated data. JPEG, PNG, WebP and GIF (first
frame) are sized; any other type is reported as not sized. As WordPress does, only a JPEG's EXIF
orientation is applied. Every output keeps only the colour profile: EXIF (GPS included), XMP and
IPTC are dropped. JPEG quality 82 and WebP 86, as WordPress. Which files and what sizes comes from
`sizes`; this module only draws them.

Speed: a JPEG is decoded at a reduced scale when even the largest file needs fewer pixels (libjpeg's
shrink-on-load, 1/2 to 1/8; WebP likewise), and each file is drawn from the smallest full-frame file
already made that still has its resolution (a cascade: 2048 from 2560, 1536 from 2048, ...), not from
the decoded original each time. On 24 MP photographs the JPEG decode (even at 1/2) is then about
half of the time (bench/thumbnails.py). Memory: the decode streams into a resize to the largest file's
scale, so a worker holds that image (at most about 2560 x 2560 with WordPress's sizes), never the
decoded original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gcs2s3.core.errors import ImageError, NotSized
from gcs2s3.stages.thumbnails.sizes import DerivedImage, SizeSpec, derived_images

# libvips loader -> MIME type. Only these types are sized, as WordPress's editors do.
SIZED = {"jpegload": "image/jpeg", "pngload": "image/png", "webpload": "image/webp", "gifload": "image/gif"}
JPEG_QUALITY = 82  # WordPress's default (wp_editor_set_quality)
WEBP_QUALITY = 86  # WordPress's default for image/webp
KEEP_ICC = 8  # libvips ForeignKeep.ICC: keep the colour profile, drop EXIF, XMP, IPTC and the rest
HEADROOM = 1.0  # a file is drawn from an image with at least this many times its resolution
JPEG_SHRINKS = (8, 4, 2)  # what libjpeg can decode at
# Triangle (linear), the filter WordPress's Imagick editor uses (GD's imagecopyresampled is an area
# average): 7% less CPU per photograph than Catmull-Rom ("cubic", a little crisper) and 20% less than
# lanczos3 (bench/thumbnails.py); libvips box-shrinks by the integer part of a large reduction first.
KERNEL = "linear"

Source = Path | str | bytes  # a file, or the image's bytes


@dataclass(frozen=True, slots=True)
class Header:
    mime: str
    width: int  # as stored, before the EXIF orientation
    height: int
    orientation: int  # 1 unless a JPEG says otherwise (WordPress reads it from JPEGs only)


@dataclass(frozen=True, slots=True)
class Drawing:
    """What `render` made of one image: its header (kept so that its derived files can later be
    checked, and back-filled, without reading it again) and the files asked for."""

    header: Header
    files: list[Rendered]


@dataclass(frozen=True, slots=True)
class Rendered:
    suffix: str  # "-150x150", "-scaled", "-rotated"
    width: int
    height: int
    data: bytes
    sizes: tuple[str, ...]


def _vips():  # type: ignore[no-untyped-def]
    import pyvips  # imported on first use: a sync without thumbnails never loads libvips

    return pyvips


def _open(source: Source, **options: object):  # type: ignore[no-untyped-def]
    vips = _vips()
    if isinstance(source, bytes):
        return vips.Image.new_from_buffer(source, "", **options)
    return vips.Image.new_from_file(str(source), **options)


def read_header(source: Source) -> Header:
    """Type, size and orientation from the header only; no pixel is decoded."""
    vips = _vips()
    try:
        image = _open(source, access="sequential")
    except vips.Error as exc:
        raise NotSized(f"not an image libvips can read ({_first_line(exc)})") from None
    loader = image.get("vips-loader").removesuffix("_buffer").removesuffix("_source")
    mime = SIZED.get(loader)
    if mime is None:
        raise NotSized(f"{loader.removesuffix('load')} images are not sized (WordPress sizes JPEG, PNG, WebP and GIF)")
    orientation = 1
    if mime == "image/jpeg" and "orientation" in image.get_fields():
        orientation = int(image.get("orientation"))
    return Header(mime, image.width, image.height, orientation)


def render(
    source: Source, sizes: Sequence[SizeSpec], max_pixels: int, only: frozenset[str] | None = None
) -> Drawing:
    """Every file WordPress would make for this image, encoded (with `only`: just the files with these
    suffixes, decoded at the scale the largest of them needs). Raises NotSized or ImageError."""
    header = read_header(source)
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise ImageError(f"{header.width}x{header.height} is {pixels / 1e6:.1f} MP, over the limit of "
                         f"{max_pixels / 1e6:.1f} MP (thumbnail_max_pixels); not decoded")
    plan = derived_images(header.width, header.height, orientation=header.orientation, mime=header.mime,
                          sizes=sizes)
    if only is not None:
        plan = [item for item in plan if item.suffix in only]
    if not plan:
        return Drawing(header, [])
    vips = _vips()
    try:
        return Drawing(header, _draw_all(source, header, plan))
    except vips.Error as exc:
        raise ImageError(f"corrupt or truncated {header.mime} ({_first_line(exc)})") from None


@dataclass(frozen=True, slots=True)
class _Frame:
    """A decoded full-frame image and its scale relative to the oriented original."""

    image: object
    scale: float


def _needed_scale(item: DerivedImage, width: int, height: int) -> float:
    """How many of the file's pixels per pixel of the oriented original it needs (<= 1 for a downsize)."""
    r = item.resize
    src_w, src_h = (r.src_w, r.src_h) if r is not None else (width, height)
    return max(item.width / src_w, item.height / src_h)


def _draw_all(source: Source, header: Header, plan: list[DerivedImage]) -> list[Rendered]:
    turned = header.orientation in (5, 6, 7, 8)
    width, height = (header.height, header.width) if turned else (header.width, header.height)
    largest = max(_needed_scale(item, width, height) for item in plan)
    image = _decode(source, header, largest)
    frames = [_Frame(image, image.width / width)]
    drawn: dict[str, Rendered] = {}
    # Largest first, so each smaller file can be drawn from a larger one already made.
    for item in sorted(plan, key=lambda i: i.width * i.height, reverse=True):
        need = _needed_scale(item, width, height)
        base = min((f for f in frames if f.scale >= need * HEADROOM), key=lambda f: f.scale, default=frames[0])
        out = _draw(base, item, width, height)
        if item.resize is None or (item.resize.src_w, item.resize.src_h) == (width, height):
            if out is not base.image:  # a full frame: kept in memory to draw smaller files from
                out = out.copy_memory()
            frames.append(_Frame(out, out.width / width))
        drawn[item.suffix] = Rendered(item.suffix, item.width, item.height, _encode(out, header.mime), item.sizes)
    return [drawn[item.suffix] for item in plan]


def _decode(source: Source, header: Header, largest: float):  # type: ignore[no-untyped-def]
    """The image, oriented, in memory at `largest` x the original's scale (or at full scale when a
    file needs it). The decode streams: a JPEG shrinks on load by a power of two, a WebP by any
    factor, and what is still larger than needed is resized as the rows arrive, so only the result is
    ever held (a 100 MP PNG never is, whole)."""
    options: dict[str, object] = {"fail": True, "access": "sequential"}
    if header.mime == "image/jpeg":
        shrink = next((s for s in JPEG_SHRINKS if largest * s <= 1.0), 1)
        if shrink > 1:
            options["shrink"] = shrink
    elif header.mime == "image/webp" and largest < 1.0:
        options["scale"] = largest
    image = _open(source, **options)
    if largest < 1.0 and image.width > header.width * largest + 1:
        image = image.resize(header.width * largest / image.width, kernel=KERNEL)
    image = image.copy_memory()
    # Turned once small and in memory (a turn reads the image out of order, which a stream cannot).
    return image.autorot() if header.orientation != 1 else image


def _draw(base: _Frame, item: DerivedImage, width: int, height: int):  # type: ignore[no-untyped-def]
    """The file's pixels from `base`, as a libvips pipeline (`base.image` itself when it already is the file)."""
    image = base.image
    r = item.resize
    if r is not None and (r.src_x, r.src_y, r.src_w, r.src_h) != (0, 0, width, height):
        s = base.scale
        left, top = min(round(r.src_x * s), image.width - 1), min(round(r.src_y * s), image.height - 1)
        image = image.crop(left, top, max(1, min(round(r.src_w * s), image.width - left)),
                           max(1, min(round(r.src_h * s), image.height - top)))
    if (image.width, image.height) != (item.width, item.height):
        image = image.resize(item.width / image.width, vscale=item.height / image.height, kernel=KERNEL)
        if (image.width, image.height) != (item.width, item.height):  # a rounding pixel: trim or pad
            image = image.gravity("centre", item.width, item.height, extend="copy")
    return image  # computed once, when encoded (or copied to memory, for a frame to draw from)


def _encode(image, mime: str) -> bytes:  # type: ignore[no-untyped-def]
    if mime == "image/jpeg":
        return bytes(image.jpegsave_buffer(Q=JPEG_QUALITY, keep=KEEP_ICC))
    if mime == "image/webp":
        return bytes(image.webpsave_buffer(Q=WEBP_QUALITY, keep=KEEP_ICC))
    if mime == "image/png":
        return bytes(image.pngsave_buffer(keep=KEEP_ICC))
    return bytes(image.gifsave_buffer(keep=KEEP_ICC))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__

