"""The core: pure values and rules, no network. Models (what a listing says, what the plan decides,
what happened), name rules (keys), headers, the planner (a merge-join of two listings), shards, the
settings model, the one error tree, the typed run report. Everything else imports from here; this
package imports nothing of gcs2s3 outside it."""
