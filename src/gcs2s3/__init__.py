"""gcs2s3: keep an S3 bucket in step with a GCS bucket, archive every delivered version, verify it.

The library surface (the CLI, `gcs2s3.cli`, is one optional layer over it):

    settings = open_settings("primary.ini", "Stage")   # or s3://bucket/key
    source, target = open_stores(settings)
    result = run_sync(settings, source, target, stages=stages_for(settings))
    report = sync_report("sync", settings, result)      # a RunReport: fields, or .to_json()

A stage of your own implements `Stage` (subclass `StageBase`, override the hooks it needs) and is
passed in `stages`. Every error the library raises is a `Gcs2s3Error`. The packages below are the
layers (core, stores, run, stages, cli); their modules are private unless exported here.
"""

from gcs2s3.core.config import Settings, load_settings
from gcs2s3.core.errors import CollisionError, ConfigError, Gcs2s3Error, StoreError, TransientError
from gcs2s3.core.models import Outcome, Plan
from gcs2s3.core.report import RunReport, StageReport
from gcs2s3.core.version import VERSION
from gcs2s3.run.hooks import Delivery, RunContext, Stage, StageBase
from gcs2s3.run.summary import sync_report, verify_report
from gcs2s3.run.sync import SyncResult, make_plan, run_sync
from gcs2s3.run.verify import VerifyResult, run_verify
from gcs2s3.stages import stages_for
from gcs2s3.stores.opening import open_settings, open_stores
from gcs2s3.stores.protocols import MultipartTarget, Source, Target

__all__ = [
    "CollisionError", "ConfigError", "Delivery", "Gcs2s3Error", "MultipartTarget", "Outcome", "Plan", "RunContext",
    "RunReport", "Settings", "Source", "Stage", "StageBase", "StageReport", "StoreError", "SyncResult", "Target",
    "TransientError", "VerifyResult", "load_settings", "make_plan", "open_settings", "open_stores", "run_sync",
    "run_verify", "stages_for", "sync_report", "verify_report",
]
__version__ = VERSION
