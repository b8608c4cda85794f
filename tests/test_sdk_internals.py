"""The private SDK attributes gcs2s3 relies on, each checked against the installed packages with no
server: an upgrade that moves one fails here, by name (stores/botocore_internals.py and
stores/google_internals.py say why each is used)."""

from __future__ import annotations

import io
import socket

import botocore.session
import requests
import urllib3
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from gcs2s3.stores import botocore_internals, google_internals


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _s3_client(endpoint: str = "https://s3.us-east-1.amazonaws.com"):  # type: ignore[no-untyped-def]
    session = botocore.session.get_session()
    session.set_credentials("AKIDEXAMPLE", "not-a-secret")
    config = Config(s3={"payload_signing_enabled": False}, retries={"total_max_attempts": 1})
    return session.create_client("s3", region_name="us-east-1", endpoint_url=endpoint, config=config)


def test_botocore_credentials_pool_and_signed_send() -> None:
    client = _s3_client()
    found = botocore_internals.credentials(client)
    assert found is not None and found.get_frozen_credentials().access_key == "AKIDEXAMPLE"
    assert callable(botocore_internals.http_session(client).send)
    closed = _s3_client(f"http://127.0.0.1:{_closed_port()}")
    request = AWSRequest(method="PUT", url=f"{closed.meta.endpoint_url}/bucket/key", data=b"body", headers={})
    assert botocore_internals.send_signed(closed, request, "us-east-1") is None  # refused: botocore's turn
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert request.headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"  # the client's setting applied


def test_google_properties_session_media_url_and_raw_body() -> None:
    client = storage.Client(project="internals", credentials=AnonymousCredentials())
    bucket = client.bucket("a-bucket")
    blob = bucket.blob("a/b.txt")
    blob._set_properties({"name": "a/b.txt", "timeCreated": "2026-01-02T03:04:05.000Z"})
    assert google_internals.properties(blob)["timeCreated"] == "2026-01-02T03:04:05.000Z"
    session = google_internals.session(client)
    assert isinstance(session, requests.Session) and google_internals.auth_request(session) is not None
    url = google_internals.media_url(bucket, "a/b.txt", 42, client)
    assert "alt=media" in url and "generation=42" in url and "a%2Fb.txt" in url
    raw = io.BytesIO(b"body")
    assert google_internals.raw_body(urllib3.HTTPResponse(body=raw, preload_content=False)) is raw
