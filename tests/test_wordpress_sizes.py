"""Our thumbnails against a real WordPress: the same images uploaded to Debian's WordPress (GD editor,
`wp_create_image_subsizes`) must give the same file names, the same dimensions and the same picture."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import WORDPRESS_DEFAULT_SIZES, gradient

from gcs2s3.stages.image_names import thumbnail_key
from gcs2s3.stages.thumbnails.render import render
from gcs2s3.testing.wordpress_peer import missing, running_wordpress

pyvips = pytest.importorskip("pyvips")
pytestmark = pytest.mark.servers  # a real WordPress of its own

# name -> (width, height, EXIF orientation); what WordPress's rules single out
CASES = {
    "landscape.jpg": (1200, 900, 1), "portrait.jpg": (900, 1200, 1), "square.png": (1000, 1000, 1),
    "tiny.jpg": (100, 80, 1), "big.jpg": (3000, 2000, 1), "at-threshold.jpg": (2560, 1707, 1),
    "over-by-one.jpg": (2561, 1700, 1), "big.png": (3000, 2000, 1), "turned.jpg": (1200, 900, 6),
    "big-turned.jpg": (3000, 2000, 8), "flipped.jpg": (800, 600, 3), "photo.webp": (1000, 700, 1),
    "anim.gif": (640, 480, 1), "Upper.JPG": (1024, 768, 1), "one-short.jpg": (1339, 1333, 1),
}


@pytest.fixture(scope="module")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Any:
    lacks = missing()
    if lacks:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have a WordPress peer; missing {lacks} (scripts/install_system_packages.sh)")
        pytest.skip(f"no WordPress peer here: missing {lacks}")
    with running_wordpress(tmp_path_factory.mktemp("wp")) as wp:
        yield wp


def make(folder: Path, name: str, width: int, height: int, orientation: int) -> Path:
    image = gradient(width, height).copy()
    if orientation != 1:
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    path = folder / name
    image.write_to_file(str(path), **({"keep": 31} if orientation != 1 else {}))
    return path


def wordpress_files(meta: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """File name -> (width, height) of every file WordPress made beside the upload."""
    files = {s["file"]: (s["width"], s["height"]) for s in (meta.get("sizes") or {}).values()}
    if meta.get("original_image"):  # the upload was replaced by a -scaled or -rotated copy
        files[Path(meta["file"]).name] = (meta["width"], meta["height"])
    return files


def test_same_names_sizes_and_pictures_as_wordpress(wordpress: Any, tmp_path: Path) -> None:
    paths = [make(tmp_path, name, *spec) for name, spec in CASES.items()]
    metas = wordpress.create_subsizes(paths)
    for path, meta in zip(paths, metas, strict=True):
        # nothing renamed (WordPress lower-cases an upload's extension, as our derived names do)
        assert meta["upload_name"] == thumbnail_key(path.name, "")
        ours = {thumbnail_key(path.name, f.suffix): f for f in render(path, WORDPRESS_DEFAULT_SIZES, 10**9).files}
        theirs = wordpress_files(meta)
        assert {name: (f.width, f.height) for name, f in ours.items()} == theirs, path.name
        folder = wordpress.uploads / Path(meta["file"]).parent
        for name, file in ours.items():
            mine = pyvips.Image.new_from_buffer(file.data, "").colourspace("srgb")[0:3]
            wp = pyvips.Image.new_from_file(str(folder / name)).colourspace("srgb")[0:3]
            difference = (mine.cast("float") - wp.cast("float")).abs().avg()
            # Same crop, orientation and scale: the two resamplers differ by a few levels on average;
            # a wrong crop, turn or flip differs by tens.
            assert difference < 6, (name, difference)
