"""The one error tree of gcs2s3: every error it raises on purpose is defined here.

Store adapters (S3, GCS, the WordPress REST client) translate their libraries' exceptions into these at
the boundary, so the planner, deliverer, stages and CLI never see botocore, google-api-core or requests
types. Each class says what the caller should do, by its place in the tree, never by a flag: retry
(TransientError, and WordPressUnreachableError among them), give up on one object (StoreError,
IntegrityError, VerificationError, ImageError, ...), stop asking a peer that will refuse every request
alike (WordPressRefusedError), or stop before writing anything (ConfigError, exit code 2).

    Gcs2s3Error (exit 1)
    ├── ConfigError (exit 2) ── CollisionError, ThumbnailCollisionError
    ├── StoreError ── TransientError, NotFoundError, AccessDeniedError, PreconditionFailedError
    │   ├── UnreachableError (a TransientError: the service could not be reached at all)
    │   └── WordPressError ── WordPressUnreachableError (also a TransientError), WordPressRefusedError
    ├── IntegrityError, VerificationError
    ├── StoppedError
    └── ImageError, NotSized
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class Gcs2s3Error(Exception):
    """Base of every error gcs2s3 raises on purpose. `exit_code` is what the CLI exits with."""

    exit_code = 1


class ConfigError(Gcs2s3Error):
    """Bad settings, credentials, bucket or permissions found before any write: exit 2."""

    exit_code = 2


class StoreError(Gcs2s3Error):
    """A storage request failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(StoreError):
    """Worth retrying: 5xx, throttling, connection reset, timeout (after the SDK's own retries)."""


class UnreachableError(TransientError):
    """GCS or S3 could not be reached at all: refused, a name that does not resolve, an untrusted TLS
    certificate, no answer in time, a proxy's refusal. Retried like any transient error within a run;
    before anything is written it is an environment problem: `as_config_error` makes it exit 2 with
    what to check (`hint`)."""

    def __init__(self, service: str, endpoint: str, why: str, hint: str, lasting: bool = False) -> None:
        super().__init__(f"cannot reach {service} at {endpoint}: {why}")
        self.service, self.endpoint, self.why, self.hint = service, endpoint, why, hint
        self.lasting = lasting  # a retry cannot mend it (a name, a certificate, a proxy's policy)

    def advice(self) -> str:
        return f"{self}. Check {self.hint}. Nothing was written"


class NotFoundError(StoreError):
    """The bucket or object does not exist."""


class AccessDeniedError(StoreError):
    """Credentials were refused (401/403)."""


class PreconditionFailedError(StoreError):
    """A conditional write lost: the key already exists (archive entries are never overwritten)."""


class IntegrityError(Gcs2s3Error):
    """Bytes read do not match the hashes the source listing announced."""


class VerificationError(Gcs2s3Error):
    """What the target reports after a write does not match the source's hashes."""


class CollisionError(ConfigError):
    """Two source names map to one destination key (exit 2, nothing written)."""

    def __init__(self, collisions: dict[str, list[str]]) -> None:
        super().__init__(
            f"{len(collisions)} destination key(s) claimed by more than one source name: "
            + _shown(f"{' and '.join(repr(n) for n in names)} -> {key!r}" for key, names in collisions.items())
            + ". Rename one of each, or turn flattening off. Nothing was written."
        )
        self.collisions = collisions


class ThumbnailCollisionError(ConfigError):
    """A source name is the name of another image's thumbnail (exit 2, nothing written)."""

    def __init__(self, claims: dict[str, tuple[str, str]]) -> None:
        super().__init__(
            f"{len(claims)} source name(s) would be overwritten by another image's thumbnails: "
            + _shown(f"{name!r} -> {key!r} is a thumbnail name of {owner!r}" for key, (name, owner) in claims.items())
            + ". Rename them, or turn thumbnails off. Nothing was written."
        )
        self.claims = claims


def _shown(items: Iterable[str], limit: int = 10) -> str:
    listed = list(items)
    more = f" (and {len(listed) - limit} more)" if len(listed) > limit else ""
    return "; ".join(listed[:limit]) + more


class WordPressError(StoreError):
    """A request to WordPress failed; this one request (an upload) may be tried again next run."""


class WordPressUnreachableError(WordPressError, TransientError):
    """WordPress did not answer, or answered 408/429/5xx: trying again later may help."""


class WordPressRefusedError(WordPressError):
    """Every further request would fail alike (wrong password, no upload rights, not a WordPress site)."""


class StoppedError(Gcs2s3Error):
    """The run was asked to stop; this object was left for the next run."""


class ImageError(Gcs2s3Error):
    """The image cannot be sized (corrupt, truncated, over the pixel limit): the original is still
    delivered and archived, the report lists it with this reason."""


class DrawingDied(ImageError):
    """The process drawing an image died (out of memory, a crash in libvips): the image may well draw
    next time, so nothing lasting is recorded for it."""


class NotSized(Gcs2s3Error):
    """Not a type that WordPress sizes (it is delivered and counted as not sized)."""


@contextmanager
def as_config_error(what: str, setting: str) -> Iterator[None]:
    """Re-raise not-found / access-denied inside the block as a ConfigError naming the setting to fix,
    and a service that cannot be reached as one saying what to check."""
    try:
        yield
    except UnreachableError as exc:
        raise ConfigError(exc.advice()) from None
    except NotFoundError:
        raise ConfigError(f"{what} not found: check {setting} in the settings file") from None
    except AccessDeniedError as exc:
        raise ConfigError(f"{what}: access denied ({exc}); check the credentials and their permissions") from None


def guarded(items: Iterable[T], what: str, setting: str) -> Iterator[T]:
    """Pass a listing through `as_config_error`."""
    with as_config_error(what, setting):
        yield from items
