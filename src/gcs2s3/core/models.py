"""Value types shared by every layer: what a listing says, what the plan decides, what happened.

Hashes are kept in the form the servers report them: MD5 as lowercase hex (S3's ETag form), CRC32C as
base64 of the big-endian 4 bytes (the form both GCS and S3 use).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol


def is_md5_etag(etag: str) -> bool:
    """A single-part upload's ETag is the hex MD5 of the body; multipart ones carry a '-N'."""
    return len(etag) == 32 and "-" not in etag


@dataclass(frozen=True, slots=True)
class Headers:
    """The HTTP headers and custom metadata an object carries (GCS's object metadata, S3's headers and
    `x-amz-meta-*`). `metadata` holds the custom pairs, sorted by name."""

    content_type: str | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    content_encoding: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One GCS object version as listed."""

    name: str
    size: int
    md5: str | None  # hex; None for composite objects
    crc32c: str  # base64
    generation: int
    created: datetime  # timeCreated, UTC
    headers: Headers = Headers()  # as the source holds them (no guessing here)
    metageneration: int = 1  # grows when only the headers change


@dataclass(frozen=True, slots=True)
class DestObject:
    """One S3 object as listed (or, with `metadata`/`crc32c`, as a HEAD reported it)."""

    key: str
    size: int
    etag: str  # without quotes
    metadata: dict[str, str] | None = None
    crc32c: str | None = None  # base64, full-object checksum when the server reports one
    checksum_type: str | None = None

    @property
    def etag_is_md5(self) -> bool:
        return is_md5_etag(self.etag)


class Kind(enum.StrEnum):
    """What the plan decided for one source object."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    HEADERS = "headers"  # same bytes, other headers: rewritten in place, server-side, no new archive entry
    CHECK = "check"  # the listings cannot tell: the state cache or the target's metadata decides


class _NoAttachments(Mapping[str, str]):
    """The attachments of an action that has none: one shared, immutable empty mapping (most actions
    have none, and a plan of millions makes as many actions)."""

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0


NO_ATTACHMENTS: Mapping[str, str] = _NoAttachments()


@dataclass(frozen=True, slots=True)
class Action:
    """The plan's decision for one source object, with the keys it will write."""

    kind: Kind
    source: SourceObject
    dest_key: str
    archive_key: str
    reason: str
    existing: DestObject | None = None  # what the primary target holds at dest_key (listed, or HEAD)
    # {key: its ETag as listed} of the keys in the primary target a stage claimed for this object (its
    # files of an earlier version: replaced or removed when this one is delivered), in key order
    attached: Mapping[str, str] = NO_ATTACHMENTS
    headers: Headers = Headers()  # what the delivered objects carry (headers.delivered_headers)

    @property
    def delivers(self) -> bool:
        """A new version to archive and copy (not a header update, not unchanged)."""
        return self.kind in (Kind.NEW, Kind.CHANGED)


@dataclass(frozen=True, slots=True)
class Failure:
    """One key that failed (or was refused, or did not verify), and why: what reports and
    notifications list."""

    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """A source object that will not be delivered, and why (the run exits 1 for it)."""

    name: str
    reason: str


class ActionStore(Protocol):
    """A plan's actions, read in key order: on disk (run/plan_file.PlanFile, what a run plans) or in
    memory (ActionList: tests and the in-memory reference planner)."""

    def __iter__(self) -> Iterator[Action]: ...

    def __len__(self) -> int: ...

    def count(self, *kinds: Kind) -> int: ...

    def size(self, *kinds: Kind) -> int: ...

    def close(self) -> None: ...


class ActionList:
    """A plan's actions in memory, in order."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self.items = list(actions)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def append(self, action: Action) -> None:
        self.items.append(action)

    def count(self, *kinds: Kind) -> int:
        return sum(a.kind in kinds for a in self.items)

    def size(self, *kinds: Kind) -> int:
        return sum(a.source.size for a in self.items if a.kind in kinds)

    def close(self) -> None:
        self.items = []


TODO_KINDS = (Kind.NEW, Kind.CHANGED, Kind.HEADERS)  # what a sync writes


@dataclass(slots=True)
class Plan:
    """Everything a sync would do, decided from listings alone. Walk `actions` (read in key order, from
    disk for a run's plan) and ask `count`/`size` rather than filtering it; `close` (or `with`) removes
    the file the actions are kept in."""

    actions: ActionStore = field(default_factory=ActionList)
    refused: list[Refusal] = field(default_factory=list)
    placeholders: int = 0  # GCS "folder" markers (name ending in "/", size 0), skipped
    target_only: int = 0  # keys under the primary prefix with no source object (left alone)
    attached_in_target: int = 0  # keys in the primary target that stages claimed for source objects

    def of_kind(self, *kinds: Kind) -> Iterator[Action]:
        return (a for a in self.actions if a.kind in kinds)

    def count(self, *kinds: Kind) -> int:
        return self.actions.count(*kinds)

    def size(self, *kinds: Kind) -> int:
        """Bytes of the source objects of these kinds."""
        return self.actions.size(*kinds)

    def close(self) -> None:
        self.actions.close()

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What S3 reported about an object just written (the evidence that verification reads)."""

    etag: str
    crc32c: str | None = None


@dataclass(frozen=True, slots=True)
class PutMode:
    """When a write may take effect (object_store's PutMode): `overwrite` always; `create` only while the
    key does not exist (S3's If-None-Match: *); `update` only while the key's ETag is `etag` (If-Match).
    A write whose condition fails raises PreconditionFailedError."""

    kind: Literal["overwrite", "create", "update"] = "overwrite"
    etag: str | None = None

    @classmethod
    def overwrite(cls) -> PutMode:
        return cls("overwrite")

    @classmethod
    def create(cls) -> PutMode:
        return cls("create")

    @classmethod
    def update(cls, etag: str) -> PutMode:
        return cls("update", etag)

    def allowed(self, call: str, *kinds: str) -> PutMode:
        """This mode, or a ValueError when `call` does not take it (a delete cannot `create`; a
        server-side copy only overwrites)."""
        if self.kind not in kinds:
            raise ValueError(f"{call} takes mode {' or '.join(kinds)}, not {self.kind}")
        return self


OVERWRITE = PutMode()  # the default mode of every write

@dataclass(frozen=True, slots=True)
class PutOptions:
    """How an object is written (put, the start of a multipart upload, a server-side copy): the user
    metadata and standard headers it carries and when the write may take effect. `crc32c` (base64) and
    `md5_b64` are the body's checksums a single PUT sends for the server to check on receipt (`crc32c`
    is computed from the body when not given); a multipart upload sends them per part and at completion,
    and a server-side copy is checksummed by the server."""

    metadata: Mapping[str, str] = field(default_factory=dict)
    headers: Headers = Headers()
    mode: PutMode = OVERWRITE
    crc32c: str | None = None
    md5_b64: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A small object read whole: its body, its ETag and how long ago it was written (server clock)."""

    body: bytes
    etag: str
    age_s: float | None


@dataclass(slots=True)
class Outcome:
    """What happened to one action when it was carried out."""

    action: Action
    ok: bool
    error: str | None = None
    bytes_copied: int = 0
    archive_written: bool = False  # False when a crash rerun found the archive entry in place
    archive_key: str | None = None
    dest_etag: str | None = None  # the primary object's ETag after delivery
    verified_by: str | None = None  # "etag-md5", "crc32c", "deep"
    stages: dict[str, Any] = field(default_factory=dict)  # each stage's result for this version, by its name
