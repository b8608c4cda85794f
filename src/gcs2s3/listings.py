"""The three listings a run reads (source, primary, archive), each turning "bucket not found" and
"access denied" into a ConfigError that names the setting to fix."""

from __future__ import annotations

from collections.abc import Iterator

from gcs2s3.config import Settings
from gcs2s3.errors import guarded
from gcs2s3.models import SourceObject, TargetObject
from gcs2s3.stores.base import SourceStore, TargetStore


def source_listing(settings: Settings, store: SourceStore) -> Iterator[SourceObject]:
    return guarded(store.list(settings.path), f"GCS bucket gs://{settings.gcs_bucket}", "gcs_bucket")


def primary_listing(settings: Settings, target: TargetStore) -> Iterator[TargetObject]:
    return guarded(
        target.list(settings.s3_bucket, settings.s3_prefix), f"S3 bucket s3://{settings.s3_bucket}", "s3_bucket"
    )


def archive_listing(settings: Settings, target: TargetStore) -> Iterator[TargetObject]:
    return guarded(
        target.list(settings.archive_bucket, settings.archive_prefix),
        f"archive bucket s3://{settings.archive_bucket}",
        "archive_bucket",
    )
