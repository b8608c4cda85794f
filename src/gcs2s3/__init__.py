"""gcs2s3: keep an S3 bucket in step with a GCS bucket, archive every delivered version, verify it.

The public surface is small: `load_settings` reads a settings file, `run_sync` / `run_verify` do the
work and return a report. The CLI (`gcs2s3.cli`) is one optional layer over them.
"""

from gcs2s3.config import Settings, load_settings
from gcs2s3.errors import ConfigError, Gcs2s3Error
from gcs2s3.sync import run_sync
from gcs2s3.verify import run_verify
from gcs2s3.version import VERSION

__all__ = ["ConfigError", "Gcs2s3Error", "Settings", "load_settings", "run_sync", "run_verify"]
__version__ = VERSION
