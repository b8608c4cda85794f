"""`python -m gcs2s3` runs the command line."""

from gcs2s3.cli.app import main

main()
