"""Telling "the service could not be reached" apart from every other failure, for both adapters.

botocore, requests, urllib3 and google-auth each wrap the socket's or the TLS layer's error in their
own exception, several levels deep; none of them says in one place which of the operator's mistakes
it was. `unreachable` walks that chain and names the cause (refused, a name that does not resolve, an
untrusted certificate, no answer in time, a proxy's refusal) with what to check for that service. The
adapters' exception mappers call it first, so every connection failure becomes an UnreachableError.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

from gcs2s3.core.errors import UnreachableError

S3_ENDPOINT_VARIABLES = "AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 and aws_region"
GCS_ENDPOINT_VARIABLES = "STORAGE_EMULATOR_HOST (unset for real GCS)"
CA_VARIABLES = {"S3": "AWS_CA_BUNDLE", "GCS": "REQUESTS_CA_BUNDLE"}
ROUTE = {
    "S3": "the task's route to S3 (a NAT gateway, or an S3 gateway VPC endpoint on the subnet's route table)",
    "GCS": "the task's route to the internet (a NAT gateway, or a public IP in a public subnet), and that "
           "the security group allows outbound 443",
}

# The causes, as the error line says them.
UNTRUSTED = "its TLS certificate is not trusted"
PROXY_REFUSED = "the proxy refused the connection"
NO_SUCH_HOST = "the host name does not resolve"
REFUSED = "connection refused"
HANDSHAKE = "the TLS handshake failed"
NO_ANSWER = "no answer in time"
FAILED = "the connection failed"
# what a retry cannot mend: a name, a certificate, a proxy's policy
LASTING = frozenset({UNTRUSTED, PROXY_REFUSED, NO_SUCH_HOST})

_DNS_WORDS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
              "failed to resolve", "no address associated", "getaddrinfo failed", "name resolution")
_TIMEOUT_WORDS = ("timed out", "timeout")
_PROXY_WORDS = ("proxy", "tunnel connection failed")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps (cause, context, urllib3's reason, botocore's error, args)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        wrapped = [item.__cause__, item.__context__, getattr(item, "reason", None), getattr(item, "cause", None)]
        kwargs = getattr(item, "kwargs", None)
        if isinstance(kwargs, dict):
            wrapped.append(kwargs.get("error"))
        wrapped.extend(arg for arg in getattr(item, "args", ()) if isinstance(arg, BaseException))
        todo.extend(w for w in wrapped if isinstance(w, BaseException))


def _cause(exc: BaseException) -> str | None:
    """What went wrong on the way to the server, or None when the server was reached."""
    chain = list(_chain(exc))
    names = " ".join(type(e).__name__.lower() for e in chain)
    text = " ".join(str(e).lower() for e in chain)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "certificate verify failed" in text:
        return UNTRUSTED
    if "proxy" in names or any(word in text for word in _PROXY_WORDS):
        return PROXY_REFUSED
    if any(isinstance(e, socket.gaierror) for e in chain) or "nameresolution" in names or \
            any(word in text for word in _DNS_WORDS):
        return NO_SUCH_HOST
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return REFUSED
    if any(isinstance(e, ssl.SSLError) for e in chain) or "sslerror" in names:
        return HANDSHAKE
    if any(isinstance(e, TimeoutError | socket.timeout) for e in chain) or "timeout" in names or \
            any(word in text for word in _TIMEOUT_WORDS):
        return NO_ANSWER
    if any(isinstance(e, ConnectionError) for e in chain) or "connectionerror" in names or \
            "endpointconnectionerror" in names:
        return FAILED
    return None


def hint(service: str, why: str) -> str:
    """What the operator should check, for `service` ("S3" or "GCS") and the cause."""
    endpoint = S3_ENDPOINT_VARIABLES if service == "S3" else GCS_ENDPOINT_VARIABLES
    if why == UNTRUSTED:
        return (f"the CA bundle: set {CA_VARIABLES[service]} (or SSL_CERT_FILE) to a bundle that trusts the "
                f"server's certificate (a TLS-inspecting proxy's CA), or {endpoint}")
    if why == PROXY_REFUSED:
        return "the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) and that the proxy allows this host"
    if why == NO_SUCH_HOST:
        return f"{endpoint}, and DNS in the task's network (the VPC's DNS resolution)"
    return f"{ROUTE[service]}, a proxy (HTTPS_PROXY), and {endpoint}"


def origin(url: str) -> str:
    """scheme://host[:port] of a URL (never its path or query, which may carry a signature)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.scheme and parts.netloc else url


def _url_in(exc: BaseException) -> str | None:
    """The URL the failed request went to, where the exception keeps one (botocore, requests)."""
    for item in _chain(exc):
        kwargs = getattr(item, "kwargs", None)
        if isinstance(kwargs, dict) and isinstance(kwargs.get("endpoint_url"), str):
            return str(kwargs["endpoint_url"])
        request = getattr(item, "request", None)
        if isinstance(getattr(request, "url", None), str):
            return str(request.url)
    return None


def unreachable(service: str, default_endpoint: str, exc: BaseException) -> UnreachableError | None:
    """An UnreachableError for `exc` when it says the server was never reached (or never answered),
    naming the host the request went to (`default_endpoint` when the exception does not say)."""
    why = _cause(exc)
    if why is None:
        return None
    return UnreachableError(service, origin(_url_in(exc) or default_endpoint), why, hint(service, why),
                            lasting=why in LASTING)
