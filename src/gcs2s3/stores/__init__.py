"""Stores: the only modules that talk to the GCS and S3 SDKs.

`protocols` holds the small interfaces the engine codes against (Source, Target, and the
MultipartTarget and RangeLister capabilities; Stores, a run's three); `gcs` and `s3` adapt the
official SDKs to them and translate SDK exceptions into `gcs2s3.core.errors` at the boundary, reaching
private SDK attributes only through `google_internals` and `botocore_internals`; `memory` implements
them in-process for fast tests; `opening` makes a run's settings and stores from the outside world.
"""
