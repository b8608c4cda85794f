"""The one small error tree of gcs2s3.

Store adapters translate SDK exceptions into these at the boundary, so the planner, executor and CLI
never see botocore or google-api-core types. Each class says what the caller should do: retry
(TransientError), give up on one object (ObjectError and subclasses) or stop before writing anything
(ConfigError, exit code 2).
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


@contextmanager
def as_config_error(what: str, setting: str) -> Iterator[None]:
    """Re-raise not-found / access-denied inside the block as a ConfigError naming the setting to fix."""
    try:
        yield
    except NotFoundError:
        raise ConfigError(f"{what} not found: check {setting} in the settings file") from None
    except AccessDeniedError as exc:
        raise ConfigError(f"{what}: access denied ({exc}); check the credentials and their permissions") from None


def guarded(items: Iterable[T], what: str, setting: str) -> Iterator[T]:
    """Pass a listing through `as_config_error`."""
    with as_config_error(what, setting):
        yield from items
