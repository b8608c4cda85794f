"""Store adapters: the only modules that talk to GCS and S3 SDKs.

`base` holds the small interfaces the rest of gcs2s3 codes against; `gcs` and `s3` adapt the official
SDKs to them and translate SDK exceptions into `gcs2s3.errors` at the boundary.
"""
