"""A run's settings and stores, opened from the outside world: what the CLI, the library and every Dask
worker open alike. The SDKs are imported only when a store is opened (or the settings come from S3)."""

from __future__ import annotations

from pathlib import Path

from gcs2s3.core.config import Settings, load_settings, with_shard
from gcs2s3.stores.protocols import Stores


def _read_remote(url: str) -> str:
    from gcs2s3.stores.s3 import read_text_object

    return read_text_object(url)


def open_settings(config: str | Path, dev_level: str | None = None, shard: str | None = None) -> Settings:
    """`load_settings`, able to read the file from S3 (`s3://bucket/key`) with the task's own credentials;
    `shard` (`i/N`) in place of the file's, as `--shard` gives it."""
    return with_shard(load_settings(config, dev_level, read_remote=_read_remote), shard)


def open_stores(settings: Settings) -> Stores:
    """The GCS source, and the primary and archive S3 targets on one client, with HTTP pools sized for
    `workers` objects in flight."""
    from gcs2s3.stores.gcs import GcsSource
    from gcs2s3.stores.s3 import S3Target

    pool, connect = settings.workers * 2 + 4, settings.network_timeout_s
    primary = S3Target(settings.s3_bucket, settings.aws_region, pool, connect_timeout_s=connect)
    return Stores(GcsSource(settings.gcs_bucket, settings.gcs_key_file, pool, connect_timeout_s=connect),
                  primary, primary.at(settings.archive_bucket))
