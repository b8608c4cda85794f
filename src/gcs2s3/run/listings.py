"""The three listings a run reads (source, primary, archive), each turning "bucket not found" and
"access denied" into a ConfigError that names the setting to fix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import as_config_error, guarded
from gcs2s3.core.models import DestObject, SourceObject
from gcs2s3.stores.protocols import Source, Target

T = TypeVar("T")


def source_listing(settings: Settings, store: Source) -> Iterator[SourceObject]:
    return guarded(store.list(settings.path), f"GCS bucket gs://{settings.gcs_bucket}", "gcs_bucket")


def primary_listing(settings: Settings, target: Target) -> Iterator[DestObject]:
    return guarded(
        target.list(settings.s3_bucket, settings.s3_prefix), f"S3 bucket s3://{settings.s3_bucket}", "s3_bucket"
    )


def probe_archive(settings: Settings, target: Target) -> None:
    """Fail with a ConfigError before any write when the archive bucket cannot be listed."""
    with as_config_error(f"archive bucket s3://{settings.archive_bucket}", "archive_bucket"):
        target.probe(settings.archive_bucket, settings.archive_prefix)


def archive_listing(settings: Settings, target: Target) -> Iterator[DestObject]:
    return guarded(
        target.list(settings.archive_bucket, settings.archive_prefix),
        f"archive bucket s3://{settings.archive_bucket}",
        "archive_bucket",
    )
