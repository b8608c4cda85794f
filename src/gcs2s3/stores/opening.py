"""Both stores of a run, made from its settings: what the CLI and every Dask worker open alike."""

from __future__ import annotations

from gcs2s3.config import Settings
from gcs2s3.stores.gcs import GcsSource
from gcs2s3.stores.s3 import S3Target


def open_stores(settings: Settings) -> tuple[GcsSource, S3Target]:
    """The GCS source and the S3 target, with HTTP pools sized for `workers` objects in flight."""
    pool = settings.workers * 2 + 4
    return GcsSource(settings.gcs_bucket, settings.gcs_key_file, pool), S3Target(settings.aws_region, pool)
