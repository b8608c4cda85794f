"""Settings: one typed, validated `Settings`, loaded once from the INI file, DevLevel and environment.

Everything that can be wrong with the settings is found here, before any request is made: unknown
keys, bad booleans, a `path` with a leading slash, an archive target overlapping the primary target.
"""

from __future__ import annotations

import configparser
import difflib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from gcs2s3.core.errors import ConfigError
from gcs2s3.core.keys import RESERVED_SEGMENT, KeyRules
from gcs2s3.core.shards import Shard

DEV_LEVEL_ENV = "DevLevel"
SECRET_ENV = {
    "wordpress_app_password": "GCS2S3_WORDPRESS_APP_PASSWORD",
    "notify_webhook_url": "GCS2S3_NOTIFY_WEBHOOK_URL",  # a webhook URL carries its token
}
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")


def _to_bool(value: object) -> object:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"{value!r} is not a boolean; use true/false/yes/no/1/0")
    return value


Flag = Annotated[bool, BeforeValidator(_to_bool)]


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


BlankIsNone = Annotated[int | None, BeforeValidator(_blank_to_none)]


def _shard(value: object) -> Shard | None:
    if value is None or isinstance(value, Shard):
        return value
    if isinstance(value, dict):  # as model_dump gives it
        return Shard(**value)
    text = str(value).strip()
    try:
        return Shard.parse(text) if text else None
    except ValueError as exc:  # reported under the key's name: "shard: '3/3': need ..."
        raise ValueError(str(exc).removeprefix("shard ")) from None


ShardField = Annotated[Shard | None, BeforeValidator(_shard)]  # "i/N" in the file; blank: all of it


class Settings(BaseModel):
    """One level's settings (a `[Stage]` or `[Prod]` section merged over `[DEFAULT]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dev_level: str
    aws_region: str = "us-east-1"
    gcs_key_file: Path | None = None
    gcs_bucket: str
    path: str = ""
    s3_bucket: str
    s3_prefix: str = ""
    archive_bucket: str
    archive_prefix: str = ""
    wordpress_modification_for_s3_upload_plugin: Flag = False
    thumbnails: Flag = False
    thumbnail_sizes: str = ""
    wordpress_url: str = ""
    wordpress_user: str = ""
    wordpress_app_password: SecretStr = SecretStr("")
    notify_sns_topic_arn: str = ""
    notify_webhook_url: SecretStr = SecretStr("")
    notify_on: Literal["failure", "always"] = "failure"
    # Where the run report goes in the archive bucket (<report_prefix><run start UTC>.json); blank = not kept.
    report_prefix: str = ""
    # This task's part of the work, "i/N" (usually from --shard or GCS2S3_SHARD); blank = all of it.
    shard: ShardField = None
    # Tuning (optional, documented in the template as comments). Object data held in memory at once
    # never exceeds max_buffer_mb, whatever the number of workers or the object sizes.
    workers: int = Field(default=8, ge=1, le=64)
    max_buffer_mb: int = Field(default=24, ge=5, le=65536)
    part_size_mb: int = Field(default=8, ge=5, le=512)
    multipart_threshold_mb: int = Field(default=8, ge=1, le=5120)
    # Archive -> primary copies above this use UploadPartCopy (CopyObject stops at 5 GiB).
    multipart_copy_threshold_mb: int = Field(default=5120, ge=1, le=5120)
    # Thumbnails: an image with more pixels than this (read from its header) is not decoded; the
    # processes that draw them (0 = one per core).
    thumbnail_max_pixels: int = Field(default=100_000_000, ge=1, le=2_000_000_000)
    thumbnail_workers: int = Field(default=0, ge=0, le=64)
    # Images delivered earlier whose thumbnails are missing or of other sizes: at most this many are
    # brought up to date per run (0 = no back-fill), so one tick cannot run for days.
    thumbnail_backfill_per_run: int = Field(default=1000, ge=0, le=10_000_000)
    # WordPress: uploads in flight at once, and how long one request may take (WordPress makes its
    # sizes while it answers an upload).
    wordpress_workers: int = Field(default=4, ge=1, le=32)
    wordpress_timeout_s: int = Field(default=300, ge=1, le=3600)
    # One run at a time: the lease expires this long after its holder's last renewal (renewed every
    # fifth of it), so a killed run blocks the targets at most this long.
    lease_ttl_s: int = Field(default=300, ge=2, le=86_400)
    # A run stops itself (as on SIGTERM) after this long; blank = no limit. A run that finds the lease
    # held for longer than this also notifies: the holder is stuck, or the schedule too tight.
    max_run_s: BlankIsNone = Field(default=None, ge=1)
    # After SIGTERM (or max_run_s), how long in-flight work may take before the process exits at once;
    # keep it under the task's stopTimeout (30 s in deploy/task-definition.json).
    stop_grace_s: int = Field(default=25, ge=1, le=115)
    # The network: seconds to connect to GCS or S3 (and for each to answer the run's first request), and
    # how often that first request is tried again: a network that cannot reach either fails the run
    # within about (1 + retries) x timeout, with what to check.
    network_timeout_s: int = Field(default=5, ge=1, le=300)
    network_retries: int = Field(default=2, ge=0, le=10)

    @property
    def flatten(self) -> bool:
        return self.wordpress_modification_for_s3_upload_plugin

    @property
    def key_rules(self) -> KeyRules:
        return KeyRules(self.path, self.s3_prefix, self.archive_prefix, self.flatten)

    @property
    def part_size(self) -> int:
        return self.part_size_mb * 1024 * 1024

    @property
    def max_buffer(self) -> int:
        return self.max_buffer_mb * 1024 * 1024

    @property
    def multipart_threshold(self) -> int:
        return self.multipart_threshold_mb * 1024 * 1024

    @property
    def multipart_copy_threshold(self) -> int:
        return self.multipart_copy_threshold_mb * 1024 * 1024

    @property
    def thumbnail_processes(self) -> int:
        return self.thumbnail_workers or os.cpu_count() or 1

    @model_validator(mode="after")
    def _check(self) -> Settings:
        for name in ("gcs_bucket", "s3_bucket", "archive_bucket"):
            value = getattr(self, name)
            if not _BUCKET.match(value):
                raise ValueError(f"{name} = {value!r} is not a valid bucket name (3-63 chars: a-z 0-9 . - _)")
        for name in ("path", "s3_prefix", "archive_prefix"):
            value = getattr(self, name)
            if value.startswith("/"):
                raise ValueError(f"{name} = {value!r} must not start with '/'; write {value.lstrip('/')!r}")
            if RESERVED_SEGMENT in value.split("/"):
                raise ValueError(f"{name} must not contain the reserved segment '{RESERVED_SEGMENT}/'")
        if self.archive_bucket == self.s3_bucket and (
            self.archive_prefix.startswith(self.s3_prefix) or self.s3_prefix.startswith(self.archive_prefix)
        ):
            raise ValueError(
                f"archive target s3://{self.archive_bucket}/{self.archive_prefix} overlaps the primary target "
                f"s3://{self.s3_bucket}/{self.s3_prefix}: use another archive_bucket, or sibling prefixes "
                "such as s3_prefix = media/ and archive_prefix = archive/"
            )
        if self.report_prefix:
            _check_report_prefix(self)
        if self.notify_sns_topic_arn and not re.match(r"^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}$",
                                                       self.notify_sns_topic_arn):
            raise ValueError(f"notify_sns_topic_arn = {self.notify_sns_topic_arn!r} is not an SNS topic ARN "
                             "(arn:aws:sns:REGION:ACCOUNT:NAME)")
        webhook = self.notify_webhook_url.get_secret_value()
        if webhook and urlsplit(webhook).scheme not in ("https", "http"):
            raise ValueError("notify_webhook_url is not an http(s) URL")
        if self.wordpress_url:
            _check_wordpress(self.wordpress_url, self.wordpress_user, self.wordpress_app_password)
        return self

    @property
    def posts_to_wordpress(self) -> bool:
        return bool(self.wordpress_url)


def _check_report_prefix(settings: Settings) -> None:
    """Reports go to the archive bucket, never inside the primary target."""
    prefix = settings.report_prefix
    if prefix.startswith("/"):
        raise ValueError(f"report_prefix = {prefix!r} must not start with '/'")
    primary = settings.s3_prefix
    if settings.archive_bucket == settings.s3_bucket and (prefix.startswith(primary) or primary.startswith(prefix)):
        raise ValueError(
            f"report_prefix = {prefix!r} overlaps the primary target s3://{settings.s3_bucket}/{primary}; use a "
            "sibling prefix such as reports/"
        )


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_wordpress(url: str, user: str, password: SecretStr) -> None:
    """The application password goes only over HTTPS (plain HTTP only to this machine)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"wordpress_url = {url!r} is not a URL; write it as https://example.com (the site's address)")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"wordpress_url = {url!r} would send the application password unencrypted; use https:// "
            "(plain http:// is accepted only for 127.0.0.1 / localhost)"
        )
    if not user:
        raise ValueError("wordpress_url is set but wordpress_user is blank: the user the application password is for")
    if not password.get_secret_value():
        raise ValueError(
            "wordpress_url is set but there is no application password: set GCS2S3_WORDPRESS_APP_PASSWORD "
            "(or wordpress_app_password); make one under Users > Profile > Application Passwords"
        )


S3_SCHEME = "s3://"


def _read_ini(config: str, read_remote: Callable[[str], str] | None) -> configparser.ConfigParser:
    """The settings file, from disk or (`s3://bucket/key`) through `read_remote`."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        if config.startswith(S3_SCHEME):
            if read_remote is None:
                raise ConfigError(f"settings file {config}: read settings from S3 with stores.opening.open_settings")
            parser.read_string(read_remote(config), source=config)
            return parser
        path = Path(config)
        if not path.is_file():
            raise ConfigError(
                f"settings file {config} not found: copy template_primary.ini to {path.name} and fill it in"
            )
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"settings file {config} cannot be read: {first_line}") from None
    return parser


def _pick_section(parser: configparser.ConfigParser, dev_level: str | None, config_path: str) -> str:
    level = dev_level or os.environ.get(DEV_LEVEL_ENV, "")
    if not level:
        raise ConfigError(
            f"no level chosen: pass --dev-level Stage|Prod or set the {DEV_LEVEL_ENV} environment variable"
        )
    for section in parser.sections():
        if section.lower() == level.lower():
            return section
    found = ", ".join(parser.sections()) or "none"
    raise ConfigError(f"settings file {config_path} has no [{level}] section (sections found: {found})")


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown key ({_nearest_key(where)})"
        elif error["type"] == "missing":
            message = "missing; it has no default"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _nearest_key(key: str) -> str:
    """"did you mean X?" for the valid key closest to a typo, or a pointer to the template."""
    keys = [name for name in Settings.model_fields if name != "dev_level"]
    close = difflib.get_close_matches(key.lower(), keys, n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else "a typo? template_primary.ini lists every key"


def with_shard(settings: Settings, shard: str | None) -> Settings:
    """The settings with `shard` (from the command line) in place of the file's."""
    if not shard:
        return settings
    try:
        return settings.model_validate({**settings.model_dump(), "shard": Shard.parse(shard)})
    except ValueError as exc:  # ValidationError is one too
        raise ConfigError(f"--shard: {_format_validation(exc) if isinstance(exc, ValidationError) else exc}") \
            from None


def load_settings(
    config: str | Path, dev_level: str | None = None, read_remote: Callable[[str], str] | None = None
) -> Settings:
    """Read one level of the settings file (a path, or `s3://bucket/key` read by `read_remote`); raise
    ConfigError saying what is wrong and how to fix it. A relative `gcs_key_file` is taken relative to
    the settings file on disk, and to the working directory when the settings come from S3."""
    config_path = str(config)
    parser = _read_ini(config_path, read_remote)
    section = _pick_section(parser, dev_level, config_path)
    values: dict[str, object] = dict(parser.items(section))
    if "dev_level" in values:
        raise ConfigError(f"{config_path} [{section}]: dev_level: unknown key (the level is the section name)")
    for key, env_name in SECRET_ENV.items():
        if os.environ.get(env_name):
            values[key] = os.environ[env_name]
    key_file = values.get("gcs_key_file")
    if isinstance(key_file, str):
        folder = Path() if config_path.startswith(S3_SCHEME) else Path(config_path).parent
        values["gcs_key_file"] = (folder / key_file) if key_file.strip() else None
    values["dev_level"] = section
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"{config_path} [{section}]: {_format_validation(exc)}") from None
