"""`gcs2s3 demo`: the whole job on local emulators with sample data, printed as a person sees it.

Starts fake-gcs-server and moto, and a throwaway WordPress when this machine has its packages
(`make system`), uploads a small sample set (nested folders, images, a CSV), then: sync (all new, with
WordPress's thumbnails beside each image, the images posted to WordPress), change one object and sync
(one changed), sync again (nothing to do), verify.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import time
import zlib
from pathlib import Path

import boto3
from google.cloud import storage
from rich.console import Console

from gcs2s3 import load_settings, open_stores, run_sync, run_verify, stages_for, sync_report, verify_report
from gcs2s3.cli.report_output import render
from gcs2s3.testing.emulators import running_emulators
from gcs2s3.testing.wordpress_peer import WordPress, missing, running_wordpress

DEMO_INI = """\
[DEFAULT]
aws_region = us-east-1
gcs_key_file =

[Stage]
gcs_bucket = incoming-demo
path = exports/
s3_bucket = media-demo
s3_prefix = uploads/
archive_bucket = media-demo
archive_prefix = archive/
wordpress_modification_for_s3_upload_plugin = true
thumbnails = true
; blank: WordPress's six default sizes
thumbnail_sizes =
"""


def png(width: int, height: int, seed: int) -> bytes:
    """A small RGB gradient PNG, made without an imaging library."""
    raw = b"".join(
        b"\x00" + b"".join(
            bytes(((x * 255 // width + seed) % 256, (y * 255 // height) % 256, (seed * 40) % 256)) for x in range(width)
        )
        for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


SAMPLES: dict[str, bytes] = {
    "exports/reports/2026/q1.csv": b"region,revenue\nnorth,120\nsouth,95\n",
    "exports/reports/2026/q2.csv": b"region,revenue\nnorth,131\nsouth,99\n",
    "exports/images/products/mug.png": png(400, 300, 1),
    "exports/images/products/tee shirt.png": png(160, 160, 2),
    "exports/images/banner.png": png(1200, 300, 3),
    "exports/readme.txt": b"Weekly drop from the data team.\n",
    "exports/images/": b"",  # a console "folder": skipped and counted
    "other/not-synced.txt": b"outside `path`\n",
}


def _upload_samples(bucket: storage.Bucket) -> None:
    for name, body in SAMPLES.items():
        bucket.blob(name).upload_from_string(body)


def _wordpress(stack: contextlib.ExitStack, console: Console) -> WordPress | None:
    lacks = missing()
    if lacks:
        console.print(f"[yellow]no WordPress here (missing {', '.join(lacks)}; `make system` installs them): "
                      "the demo runs without posting[/yellow]")
        return None
    console.print("starting a throwaway WordPress (Debian's package, its own MariaDB) on 127.0.0.1 ...")
    return stack.enter_context(running_wordpress(serve=True))


def run_demo() -> int:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="gcs2s3-demo-") as tmp, running_emulators(), \
            contextlib.ExitStack() as stack:
        wordpress = _wordpress(stack, console)
        text = DEMO_INI
        if wordpress is not None:
            text += f"wordpress_url = {wordpress.url}\nwordpress_user = {wordpress.user}\n"
            os.environ["GCS2S3_WORDPRESS_APP_PASSWORD"] = wordpress.app_password
        config = Path(tmp) / "primary.ini"
        config.write_text(text, encoding="utf-8")
        settings = load_settings(config, "Stage")
        gcs = storage.Client(project="gcs2s3-demo")
        bucket = gcs.create_bucket(settings.gcs_bucket)
        boto3.client("s3").create_bucket(Bucket=settings.s3_bucket)
        _upload_samples(bucket)
        console.rule("settings used ([Stage] of a demo primary.ini)")
        console.print(text + ("; the application password comes from GCS2S3_WORDPRESS_APP_PASSWORD\n"
                              if wordpress else ""))
        stores = open_stores(settings)
        worst = 0
        for title, change in (
            ("1. first sync: everything is new", None),
            ("2. one object changed in GCS: one changed, the rest unchanged", "exports/reports/2026/q1.csv"),
            ("3. nothing changed: nothing to do, no download", None),
        ):
            if change:
                time.sleep(1.1)  # a new second, so the new version's archive key shows a new timestamp
                bucket.blob(change).upload_from_string(SAMPLES[change] + b"west,77\n")
            console.rule(title)
            report = sync_report("sync", settings, run_sync(settings, stores, stages=stages_for(settings)))
            render(report, console)
            for item in report.member("media") or ():
                console.print(f"  posted to WordPress: {item['key']} -> media {item['media_id']}  {item['url']}")
            worst = max(worst, report.exit_code)
        console.rule("4. verify: every delivered key and archive entry against the source")
        started = time.monotonic()
        result = run_verify(settings, stores, stages=stages_for(settings))
        report = verify_report(settings, result, time.monotonic() - started)
        render(report, console)
        worst = max(worst, report.exit_code)
        console.rule("what S3 holds now")
        for item in boto3.client("s3").list_objects_v2(Bucket=settings.s3_bucket)["Contents"]:
            console.print(f"  s3://{settings.s3_bucket}/{item['Key']}  ({item['Size']} bytes)")
    return worst
