"""The command line: one optional layer over the library. app (the Typer commands and how a run ends:
exit code, error line, metrics, notification), report_output (table, JSON line, kept copy), progress,
metrics (CloudWatch EMF), notify (SNS, webhook)."""
