"""gcs2s3: keep an S3 bucket in step with a GCS bucket, archive every delivered version, verify it.

The library surface (the CLI, `gcs2s3.cli`, is one optional layer over it):

    settings = open_settings("primary.ini", "Stage")   # or s3://bucket/key
    stores = open_stores(settings)                      # Stores(source, primary, archive)
    result = run_sync(settings, stores, stages=stages_for(settings))
    report = sync_report("sync", settings, result)      # a RunReport: fields, or .to_json()

A stage of your own implements `Stage` (subclass `StageBase`, override the hooks it needs) and is
passed in `stages`. A store of your own implements `Source` or `Target` (and, when it can,
`MultipartTarget` / `RangeLister`) from the value types exported here, and proves it with the contract
suite in `gcs2s3.testing.contract`. Every error the library raises is a `Gcs2s3Error`. The packages below are the
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
    "AccessDeniedError": "core.errors", "CollisionError": "core.errors", "ConfigError": "core.errors",
    "Gcs2s3Error": "core.errors", "IntegrityError": "core.errors", "NotFoundError": "core.errors",
    "PreconditionFailedError": "core.errors", "StoreError": "core.errors", "TransientError": "core.errors",
    "UnreachableError": "core.errors", "VerificationError": "core.errors",
    "Action": "core.models", "DestObject": "core.models", "Fetched": "core.models", "Headers": "core.models",
    "Kind": "core.models", "Outcome": "core.models", "Plan": "core.models", "PutMode": "core.models",
    "PutOptions": "core.models", "SourceObject": "core.models", "WriteResult": "core.models",
    "RunReport": "core.report", "StageReport": "core.report",
    "Delivery": "run.hooks", "RunContext": "run.hooks", "Stage": "run.hooks", "StageBase": "run.hooks",
    "VerifyContext": "run.hooks",
    "sync_report": "run.summary", "verify_report": "run.summary",
    "SyncResult": "run.sync", "make_plan": "run.sync", "run_sync": "run.sync",
    "VerifyResult": "run.verify", "run_verify": "run.verify",
    "stages_for": "stages",
    "open_settings": "stores.opening", "open_stores": "stores.opening",
    "MultipartTarget": "stores.protocols", "RangeLister": "stores.protocols", "Source": "stores.protocols",
    "Stores": "stores.protocols", "Target": "stores.protocols",
}
__all__ = [
    "AccessDeniedError", "Action", "CollisionError", "ConfigError", "Delivery", "DestObject", "Fetched",
    "Gcs2s3Error", "Headers", "IntegrityError", "Kind", "MultipartTarget", "NotFoundError", "Outcome", "Plan",
    "PreconditionFailedError", "PutMode", "PutOptions", "RangeLister", "RunContext", "RunReport", "Settings",
    "Source", "SourceObject", "Stage", "StageBase", "StageReport", "StoreError", "Stores", "SyncResult", "Target",
    "TransientError", "UnreachableError", "VerificationError", "VerifyContext", "VerifyResult", "WriteResult",
    "load_settings", "make_plan", "open_settings", "open_stores", "run_sync", "run_verify", "stages_for",
    "sync_report", "verify_report",
]
__version__ = VERSION

if TYPE_CHECKING:  # the names, for type checkers; at run time they load on first use
    from gcs2s3.core.config import Settings, load_settings  # noqa: I001 (a line a few names: no long lists)
    from gcs2s3.core.errors import AccessDeniedError, CollisionError, ConfigError, Gcs2s3Error, IntegrityError
    from gcs2s3.core.errors import NotFoundError, PreconditionFailedError, StoreError, TransientError
    from gcs2s3.core.errors import UnreachableError, VerificationError
    from gcs2s3.core.models import Action, DestObject, Fetched, Headers, Kind, Outcome, Plan, PutMode, PutOptions
    from gcs2s3.core.models import SourceObject, WriteResult
    from gcs2s3.core.report import RunReport, StageReport
    from gcs2s3.run.hooks import Delivery, RunContext, Stage, StageBase, VerifyContext
    from gcs2s3.run.summary import sync_report, verify_report
    from gcs2s3.run.sync import SyncResult, make_plan, run_sync
    from gcs2s3.run.verify import VerifyResult, run_verify
    from gcs2s3.stages import stages_for
    from gcs2s3.stores.opening import open_settings, open_stores
    from gcs2s3.stores.protocols import MultipartTarget, RangeLister, Source, Stores, Target


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gcs2s3' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gcs2s3.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
