"""A run's settings and stores, opened from the outside world: what the CLI, the library and every Dask
worker open alike."""

from __future__ import annotations

from pathlib import Path

from gcs2s3.core.config import Settings, load_settings
from gcs2s3.stores.gcs import GcsSource
from gcs2s3.stores.s3 import S3Target, read_text_object


def open_settings(config: str | Path, dev_level: str | None = None) -> Settings:
    """`load_settings`, able to read the file from S3 (`s3://bucket/key`) with the task's own credentials."""
    return load_settings(config, dev_level, read_remote=read_text_object)


def open_stores(settings: Settings) -> tuple[GcsSource, S3Target]:
    """The GCS source and the S3 target, with HTTP pools sized for `workers` objects in flight."""
    pool, connect = settings.workers * 2 + 4, settings.network_timeout_s
    return (GcsSource(settings.gcs_bucket, settings.gcs_key_file, pool, connect_timeout_s=connect),
            S3Target(settings.aws_region, pool, connect_timeout_s=connect))
