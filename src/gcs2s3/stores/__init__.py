"""Stores: the only modules that talk to the GCS and S3 SDKs.

`protocols` holds the small interfaces the engine codes against (Source, Target, MultipartTarget);
`gcs` and `s3` adapt the official SDKs to them and translate SDK exceptions into `gcs2s3.core.errors`
at the boundary; `memory` implements them in-process for fast tests; `opening` makes a run's settings
and stores from the outside world.
"""
