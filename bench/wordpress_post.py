"""Posting benchmark: gcs2s3 posting images to a real WordPress, 1 and 4 uploads in flight.

    python bench/wordpress_post.py [--photos 12]

The photographs are the JPEG wallpapers of Debian's `plasma-workspace-wallpapers` as they come
(2560 x 1600 to 5120 x 2880; bench/thumbnails.py installs them). Local emulators for GCS and S3, and a
throwaway WordPress (Debian's package, its own MariaDB) served by PHP's built-in server with
`PHP_CLI_SERVER_WORKERS=4`. For each setting of `wordpress_workers` a fresh sync delivers the photos
and posts them; the table shows the posting stage's time and rate, and the mean time of one upload
request (WordPress storing the file and making its sizes with GD), beside the time gcs2s3's own
thumbnailer takes for the same files on one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pyvips
from google.cloud import storage
from thumbnails import LIMIT, SIZES, wallpapers

from gcs2s3.core.config import load_settings
from gcs2s3.run.sync import run_sync
from gcs2s3.stages.thumbnails.render import render
from gcs2s3.stages.wordpress import WordPressStage
from gcs2s3.stores.opening import open_stores
from gcs2s3.testing.emulators import running_emulators
from gcs2s3.testing.wordpress_peer import running_wordpress

INI = """[DEFAULT]
aws_region = us-east-1
[Stage]
gcs_bucket = {bucket}
s3_bucket = {bucket}
archive_bucket = {bucket}-archive
wordpress_url = {url}
wordpress_user = {user}
wordpress_workers = {workers}
"""


def ours_per_image(paths: list[Path]) -> float:
    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    started = time.perf_counter()
    for path in paths:
        render(path, SIZES, LIMIT)
    return (time.perf_counter() - started) / len(paths)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=12)
    args = parser.parse_args()
    paths = wallpapers()[: args.photos]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gcs2s3-bench-wp-") as tmp, running_emulators(), \
            running_wordpress(Path(tmp) / "wp", serve=True, workers=4) as wp:
        os.environ["GCS2S3_WORDPRESS_APP_PASSWORD"] = wp.app_password
        for workers in (1, 4):
            bucket = f"post-{workers}"
            gcs = storage.Client(project="bench").create_bucket(bucket)
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=bucket)
            s3.create_bucket(Bucket=f"{bucket}-archive")
            for path in paths:  # names unique to the round, so WordPress renames nothing
                gcs.blob(f"{path.parts[-4]}-{workers}.jpg").upload_from_filename(str(path))
            config = Path(tmp) / f"{bucket}.ini"
            config.write_text(INI.format(bucket=bucket, url=wp.url, user=wp.user, workers=workers), encoding="utf-8")
            settings = load_settings(config, "Stage")
            stage = WordPressStage(settings)
            result = run_sync(settings, open_stores(settings), stages=[stage])
            posted = [p for p in stage.posts if p.ok]
            assert len(posted) == len(paths) and result.exit_code == 0, [p.error for p in stage.posts]
            rows.append((workers, len(posted), stage.seconds,
                         statistics.mean(p.upload_seconds for p in posted)))
    mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"{len(paths)} photographs, {mb:.1f} MB; WordPress served with PHP_CLI_SERVER_WORKERS=4 on 2 cores\n")
    print("| uploads in flight | images | posting s | images/s | mean upload request s |")
    print("|---:|---:|---:|---:|---:|")
    for workers, count, seconds, upload in rows:
        print(f"| {workers} | {count} | {seconds:.2f} | {count / seconds:.2f} | {upload:.2f} |")
    ours = ours_per_image(paths)
    print(f"\nWordPress, one upload request on its own (1 in flight; it stores the file and makes its sizes "
          f"with GD): {rows[0][3]:.2f} s per image; gcs2s3's thumbnailer on one core, same files: {ours:.3f} s "
          f"per image ({rows[0][3] / ours:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
