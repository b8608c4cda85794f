"""gcs2s3: keep an S3 bucket in step with a GCS bucket, archive every delivered version, verify it.

The library surface (the CLI, `gcs2s3.cli`, is one optional layer over it):

    settings = open_settings("primary.ini", "Stage")   # or s3://bucket/key
    source, target = open_stores(settings)
    result = run_sync(settings, source, target, stages=stages_for(settings))
    report = sync_report("sync", settings, result)      # a RunReport: fields, or .to_json()

A stage of your own implements `Stage` (subclass `StageBase`, override the hooks it needs) and is
passed in `stages`. Every error the library raises is a `Gcs2s3Error`. The packages below are the
layers (core, stores, run, stages, cli); their modules are private unless exported here.

The names load on first use (PEP 562): importing any module of the package (a thumbnail drawing
process imports one) must not pull in boto3 and the GCS client with this file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gcs2s3.core.version import VERSION

# name -> the module that defines it
_EXPORTS = {
    "Settings": "core.config", "load_settings": "core.config",
    "CollisionError": "core.errors", "ConfigError": "core.errors", "Gcs2s3Error": "core.errors",
    "StoreError": "core.errors", "TransientError": "core.errors",
    "Outcome": "core.models", "Plan": "core.models",
    "RunReport": "core.report", "StageReport": "core.report",
    "Delivery": "run.hooks", "RunContext": "run.hooks", "Stage": "run.hooks", "StageBase": "run.hooks",
    "VerifyContext": "run.hooks",
    "sync_report": "run.summary", "verify_report": "run.summary",
    "SyncResult": "run.sync", "make_plan": "run.sync", "run_sync": "run.sync",
    "VerifyResult": "run.verify", "run_verify": "run.verify",
    "stages_for": "stages",
    "open_settings": "stores.opening", "open_stores": "stores.opening",
    "MultipartTarget": "stores.protocols", "Source": "stores.protocols", "Target": "stores.protocols",
}
__all__ = [
    "CollisionError", "ConfigError", "Delivery", "Gcs2s3Error", "MultipartTarget", "Outcome", "Plan", "RunContext",
    "RunReport", "Settings", "Source", "Stage", "StageBase", "StageReport", "StoreError", "SyncResult", "Target",
    "TransientError", "VerifyContext", "VerifyResult", "load_settings", "make_plan", "open_settings", "open_stores",
    "run_sync", "run_verify", "stages_for", "sync_report", "verify_report",
]
__version__ = VERSION

if TYPE_CHECKING:
    from gcs2s3.core.config import Settings, load_settings
    from gcs2s3.core.errors import CollisionError, ConfigError, Gcs2s3Error, StoreError, TransientError
    from gcs2s3.core.models import Outcome, Plan
    from gcs2s3.core.report import RunReport, StageReport
    from gcs2s3.run.hooks import Delivery, RunContext, Stage, StageBase, VerifyContext
    from gcs2s3.run.summary import sync_report, verify_report
    from gcs2s3.run.sync import SyncResult, make_plan, run_sync
    from gcs2s3.run.verify import VerifyResult, run_verify
    from gcs2s3.stages import stages_for
    from gcs2s3.stores.opening import open_settings, open_stores
    from gcs2s3.stores.protocols import MultipartTarget, Source, Target


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gcs2s3' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gcs2s3.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
