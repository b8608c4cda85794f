"""Thumbnail benchmark: gcs2s3's renderer against WordPress's own GD path, on real photographs.

    python bench/thumbnails.py [--photos 12] [--rounds 2] [--megapixels 24]

Photos: the JPEG wallpapers of Debian's `plasma-workspace-wallpapers` (installed with apt-get when
missing, as root), each scaled to ~24 MP and saved as JPEG q90 under bench/results/photos (not
committed). Every photo is made into WordPress's six default sizes plus the `-scaled` copy:
- gcs2s3 on one core: one drawing process (as `thumbnail_workers = 1`), images one after another;
- gcs2s3 on all cores: one drawing process per core, as a sync runs them;
- WordPress: a real WordPress (Debian's package, its own MariaDB) running `wp_create_image_subsizes`
  with the GD editor, one PHP process, then one per core.
Prints a table (images/s, per core, peak RSS per worker) and writes a contact sheet of a few of our
thumbnails beside WordPress's (bench/results/contact_sheet.png) to look at.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pyvips

from gcs2s3.stages.image_names import thumbnail_key
from gcs2s3.stages.thumbnails.render import render
from gcs2s3.stages.thumbnails.sizes import configured_sizes
from gcs2s3.stages.thumbnails.thumbnailer import _start_worker
from gcs2s3.testing.wordpress_peer import running_wordpress

RESULTS = Path(__file__).parent / "results"
WALLPAPERS = Path("/usr/share/wallpapers")
SIZES = configured_sizes("")  # WordPress's defaults
LIMIT = 100_000_000


def wallpapers() -> list[Path]:
    """The largest JPEG of each wallpaper theme (the JPEG ones are photographs; PNG ones are drawings)."""
    if not WALLPAPERS.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing plasma-workspace-wallpapers (apt-get) ...", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "plasma-workspace-wallpapers"],
                       check=False, stdout=subprocess.DEVNULL, env=env)
    best: dict[str, Path] = {}
    for path in sorted(WALLPAPERS.glob("*/contents/images*/*.jpg")):
        if path.is_symlink():
            continue
        theme = path.parts[len(WALLPAPERS.parts)]
        w, h = (int(v) for v in path.stem.split("x"))
        if theme not in best or w * h > math.prod(int(v) for v in best[theme].stem.split("x")):
            best[theme] = path
    if not best:
        sys.exit("no wallpaper photographs found: apt-get install plasma-workspace-wallpapers (as root)")
    return list(best.values())


def photos(count: int, megapixels: float) -> list[Path]:
    folder = RESULTS / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for source in wallpapers()[:count]:
        theme = source.parts[len(WALLPAPERS.parts)]
        target = folder / f"{theme}-{megapixels:g}mp.jpg"
        if not target.exists():
            image = pyvips.Image.new_from_file(str(source))
            scale = math.sqrt(megapixels * 1e6 / (image.width * image.height))
            image.resize(scale, kernel="lanczos3").jpegsave(str(target), Q=90)
        out.append(target)
    return out


def measured_draw(path: str) -> tuple[int, int]:
    """In a drawing process: draw one photo; (files made, this process's peak RSS in KiB)."""
    files = render(path, SIZES, LIMIT).files
    return len(files), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def ours(paths: list[Path], processes: int, rounds: int) -> tuple[float, int, int]:
    """(seconds, images, peak RSS of the largest worker in KiB) for `rounds` passes over the photos."""
    jobs = [str(p) for p in paths] * rounds
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker) as pool:
        list(pool.map(measured_draw, [str(paths[0])] * processes))  # start the processes first
        start = time.perf_counter()
        results = list(pool.map(measured_draw, jobs))
        seconds = time.perf_counter() - start
    return seconds, len(jobs), max(rss for _, rss in results)


def wordpress(wp, paths: list[Path], processes: int) -> tuple[float, int, int, list[dict]]:  # type: ignore[no-untyped-def]
    """(wall seconds, images, peak RSS of one PHP process in KiB, metadata) with `processes` PHP processes."""
    shares = [paths[i::processes] for i in range(processes)]
    wp.peak_rss_kib = 0
    start = time.perf_counter()
    with ThreadPoolExecutor(processes) as pool:
        metas = [m for share in pool.map(wp.create_subsizes, shares) for m in share]
    seconds = time.perf_counter() - start
    return seconds, len(paths), wp.peak_rss_kib, metas


def _files_of(path: Path) -> dict[str, tuple[int, int]]:
    return {thumbnail_key(path.name, f.suffix): (f.width, f.height) for f in render(str(path), SIZES, LIMIT).files}


def _wordpress_files(meta: dict) -> dict[str, tuple[int, int]]:
    files = {s["file"]: (s["width"], s["height"]) for s in (meta.get("sizes") or {}).values()}
    if meta.get("original_image"):
        files[Path(meta["file"]).name] = (meta["width"], meta["height"])
    return files


def contact_sheet(wp, paths: list[Path], metas: list[dict], out: Path) -> None:  # type: ignore[no-untyped-def]
    """Rows: one photo's medium and thumbnail, ours then WordPress's, side by side."""
    tiles = []
    for path, meta in list(zip(paths, metas, strict=True))[:3]:
        files = render(str(path), SIZES, LIMIT).files
        folder = wp.uploads / Path(meta["file"]).parent
        stem = meta["upload_name"]
        for file in files:
            if file.suffix not in ("-150x150",) and not file.suffix.startswith("-300x"):
                continue
            theirs = folder / thumbnail_key(stem, file.suffix)
            for image in (pyvips.Image.new_from_buffer(file.data, ""), pyvips.Image.new_from_file(str(theirs))):
                tiles.append(image.gravity("centre", 310, 310, extend="white"))
    pyvips.Image.arrayjoin(tiles, across=4, shim=6, background=[255, 255, 255]).pngsave(str(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the photos for gcs2s3 (WordPress: 1)")
    parser.add_argument("--megapixels", type=float, default=24)
    args = parser.parse_args()
    paths = photos(args.photos, args.megapixels)
    cores = os.cpu_count() or 1
    print(f"{len(paths)} photographs at ~{args.megapixels:g} MP -> {len(SIZES)} sizes + -scaled; {cores} cores",
          file=sys.stderr)
    rows = []
    for processes in (1, cores):
        seconds, images, rss = ours(paths, processes, args.rounds)
        rows.append(("gcs2s3 (libvips)", processes, images, seconds, rss))
    with tempfile.TemporaryDirectory(prefix="gcs2s3-bench-wp-") as tmp, running_wordpress(Path(tmp)) as wp:
        first: list[dict] = []
        for processes in (1, cores):
            seconds, images, rss, metas = wordpress(wp, paths, processes)
            rows.append(("WordPress 6 GD", processes, images, seconds, rss))
            first = first or metas  # later passes upload under new names (photo-1.jpg ...)
        same = all(_files_of(p) == _wordpress_files(m) for p, m in zip(paths, first, strict=True))
        RESULTS.mkdir(exist_ok=True)
        sheet = RESULTS / "contact_sheet.png"
        contact_sheet(wp, paths, first, sheet)
    print("| engine | processes | images | seconds | images/s | images/s per process | peak RSS per process MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for engine, processes, images, seconds, rss in rows:
        rate = images / seconds
        print(f"| {engine} | {processes} | {images} | {seconds:.2f} | {rate:.2f} | {rate / processes:.2f} | "
              f"{rss / 1024:.0f} |")
    ours_one, wp_one = rows[0][2] / rows[0][3], rows[2][2] / rows[2][3]
    ours_all, wp_all = rows[1][2] / rows[1][3], rows[3][2] / rows[3][3]
    print(f"\nspeed-up over WordPress GD: {ours_one / wp_one:.1f}x on one core, {ours_all / wp_all:.1f}x on all cores")
    print(f"file names and dimensions identical to WordPress's: {same}")
    print(f"contact sheet (ours | WordPress, per size): {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
