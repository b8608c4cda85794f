"""Making the files WordPress would make for one image, from the image's bytes, with libvips.

The header is read first (type, dimensions, EXIF orientation) and the pixel limit is checked before
anything is decoded; the decode fails on corrupt or truncated data. JPEG, PNG, WebP and GIF (first
frame) are sized; any other type is reported as not sized. The EXIF orientation is applied, and every
output keeps only the colour profile: EXIF (GPS included), XMP and IPTC are dropped. JPEG quality 82
and WebP 86, as WordPress. Which files and what sizes comes from `wp_sizes`; this module only draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gcs2s3.errors import Gcs2s3Error
from gcs2s3.stages.wp_sizes import DerivedImage, SizeSpec, derived_images

# libvips loader -> (MIME type, save options). Only these types are sized, as WordPress's editors do.
SIZED = {
    "jpegload_buffer": "image/jpeg",
    "pngload_buffer": "image/png",
    "webpload_buffer": "image/webp",
    "gifload_buffer": "image/gif",
}
JPEG_QUALITY = 82  # WordPress's default (wp_editor_set_quality)
WEBP_QUALITY = 86  # WordPress's default for image/webp
KEEP_ICC = 8  # libvips ForeignKeep.ICC: keep the colour profile, drop EXIF, XMP, IPTC and the rest


class ImageError(Gcs2s3Error):
    """The image cannot be sized (corrupt, truncated, over the pixel limit): the original is still
    delivered and archived, the report lists it with this reason."""


class NotSized(Gcs2s3Error):
    """Not a type that WordPress sizes (it is delivered and counted as not sized)."""


@dataclass(frozen=True, slots=True)
class Header:
    mime: str
    width: int  # as stored, before the EXIF orientation
    height: int
    orientation: int


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


def read_header(data: bytes) -> Header:
    """Type, size and orientation from the header only; no pixel is decoded."""
    vips = _vips()
    try:
        image = vips.Image.new_from_buffer(data, "", access="sequential")
    except vips.Error as exc:
        raise NotSized(f"not an image libvips can read ({_first_line(exc)})") from None
    loader = image.get("vips-loader")
    mime = SIZED.get(loader)
    if mime is None:
        raise NotSized(f"{loader.removesuffix('load_buffer')} images are not sized (WordPress sizes JPEG, PNG, "
                       "WebP and GIF)")
    fields = image.get_fields()
    orientation = int(image.get("orientation")) if "orientation" in fields else 1
    return Header(mime, image.width, image.height, orientation)


def render(data: bytes, sizes: Sequence[SizeSpec], max_pixels: int) -> list[Rendered]:
    """Every file WordPress would make for this image, encoded. Raises NotSized or ImageError."""
    header = read_header(data)
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise ImageError(f"{header.width}x{header.height} is {pixels / 1e6:.1f} MP, over the limit of "
                         f"{max_pixels / 1e6:.1f} MP (thumbnail_max_pixels); not decoded")
    plan = derived_images(header.width, header.height, orientation=header.orientation, mime=header.mime,
                          sizes=sizes)
    if not plan:
        return []
    vips = _vips()
    try:
        # One full decode, held once in memory, from which every file is drawn. The orientation is
        # applied first, as WordPress does before it makes its sub-sizes.
        oriented = vips.Image.new_from_buffer(data, "", fail=True).autorot().copy_memory()
        return [_draw(oriented, item, header.mime) for item in plan]
    except vips.Error as exc:
        raise ImageError(f"corrupt or truncated {header.mime} ({_first_line(exc)})") from None


def _draw(oriented, item: DerivedImage, mime: str) -> Rendered:  # type: ignore[no-untyped-def]
    image = oriented
    if item.resize is not None:
        r = item.resize
        if (r.src_x, r.src_y, r.src_w, r.src_h) != (0, 0, image.width, image.height):
            image = image.crop(r.src_x, r.src_y, r.src_w, r.src_h)
    if (image.width, image.height) != (item.width, item.height):
        image = image.resize(item.width / image.width, vscale=item.height / image.height, kernel="lanczos3")
        if (image.width, image.height) != (item.width, item.height):  # a rounding pixel: trim or pad
            image = image.gravity("centre", item.width, item.height, extend="copy")
    return Rendered(item.suffix, item.width, item.height, _encode(image, mime), item.sizes)


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
