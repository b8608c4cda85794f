"""The one place that reaches into botocore's private attributes, each use saying why; the direct S3
transport (s3_direct.py) goes through it. Checked by tests/test_sdk_internals.py against the installed
botocore, so an upgrade that moves them fails there, by name, not in the middle of a run."""

from __future__ import annotations

from typing import Any

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError


def credentials(client: Any) -> Any | None:
    """The client's resolved credentials (refreshed by botocore as they expire). botocore keeps them on
    its request signer only; the public `Session.get_credentials` would resolve them a second time,
    apart from the client's (a task role's are fetched once per client)."""
    return getattr(getattr(client, "_request_signer", None), "_credentials", None)


def http_session(client: Any) -> Any:
    """The client's own connection pool (its TLS settings, proxies and pool size). botocore exposes no
    public way to send a prepared request on it."""
    return client._endpoint.http_session


def send_signed(client: Any, request: AWSRequest, region: str) -> Any | None:
    """Sign `request` with botocore's S3 SigV4 signer under the client's configuration (so its payload
    signing setting applies: no SHA-256 of the body) and send it on the client's pool; the response, or
    None when there are no credentials or the connection failed (the caller then asks botocore)."""
    found = credentials(client)
    if found is None:
        return None
    request.context["client_config"] = client.meta.config
    try:
        botocore.auth.S3SigV4Auth(found.get_frozen_credentials(), "s3", region).add_auth(request)
        return http_session(client).send(request.prepare())
    except BotoCoreError:
        return None
