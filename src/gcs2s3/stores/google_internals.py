"""The one place that reaches into private attributes of google-cloud-storage, google-auth and urllib3,
each use saying why; the GCS adapter (gcs.py) goes through it. Checked by tests/test_sdk_internals.py
against the installed packages, so an upgrade that moves one fails there, by name, not mid-run."""

from __future__ import annotations

from typing import Any

from google.cloud import storage


def properties(blob: storage.Blob) -> dict[str, Any]:
    """The object's resource as listed. The SDK's accessors parse timeCreated with strptime (a large
    share of a no-change run's CPU) and give no public view of the raw fields."""
    return blob._properties


def session(client: storage.Client) -> Any:
    """The client's authorized requests session (its credentials, TLS settings and connection pool).
    Media GETs and the pool size need it; the client has no public accessor."""
    return client._http


def auth_request(authorized: Any) -> Any:
    """The transport google-auth refreshes and signs with, for headers added to a request sent on the
    session's own pool (not through `session.request`)."""
    return authorized._auth_request


def media_url(bucket: storage.Bucket, name: str, generation: int, client: storage.Client) -> str:
    """The SDK's own media URL of one exact generation (its endpoint or the emulator, the user project),
    without its download machinery, which reads in small chunks."""
    return bucket.blob(name, generation=generation)._get_download_url(client)


def raw_body(response: Any) -> Any:
    """http.client's response under a urllib3 response: read straight into a buffer (urllib3's
    `readinto` reads into a temporary bytes first), and closed or not by its own state."""
    return getattr(response, "_fp", None)
