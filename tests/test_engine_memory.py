"""The engine against the in-memory stores, in milliseconds: a whole sync, then its crash ordering with
faults injected: archive before primary, nothing partial left, an upload that fails is aborted, a run
that dies at any write is repaired by the next."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import StoreError, TransientError
from gcs2s3.core.hashes import md5_hex_to_b64
from gcs2s3.core.models import Headers, PutOptions
from gcs2s3.run.hooks import Stage
from gcs2s3.run.sync import SyncResult, run_sync
from gcs2s3.stores.memory import MemorySource, MemoryTarget
from gcs2s3.stores.protocols import MultipartTarget, Stores, Target

BIG = bytes(range(256)) * (11 * 4096)  # 11 MiB: three 5 MiB parts
BODIES = {"r/q1.csv": b"north,1\n", "img/a.png": b"\x89PNG fake", "big.bin": BIG}
# Each write the run makes (2 single PUTs, one multipart upload of 3 parts, 3 copies), by its ordinal.
WRITES = [("put", 1), ("put", 2), ("create_multipart", 1), ("upload_part", 1), ("upload_part", 3),
          ("complete_multipart", 1), ("copy", 1), ("copy", 2), ("copy", 3)]


def settings(**more: Any) -> Settings:
    return Settings.model_validate({
        "dev_level": "Stage", "gcs_bucket": "src-b", "s3_bucket": "dst-b", "archive_bucket": "arc-b",
        "archive_prefix": "archive/", "multipart_threshold_mb": 5, "part_size_mb": 5, "workers": 2, **more,
    })


def sync(source: MemorySource, primary: Any, archive: Any = None, *, stages: Sequence[Stage] = (),
         **more: Any) -> SyncResult:
    return run_sync(settings(**more), Stores(source, primary, archive or primary.at("arc-b")), stages=stages)


def stores() -> tuple[MemorySource, MemoryTarget]:
    """The source, and the primary target (whose store also holds the archive bucket, `arc-b`)."""
    source, primary = MemorySource("src-b"), MemoryTarget("dst-b").create_bucket()
    primary.at("arc-b").create_bucket()
    for name, body in BODIES.items():
        source.put(name, body, Headers(cache_control="max-age=60") if name.endswith(".csv") else None)
    return source, primary


def contents(target: MemoryTarget, bucket: str, prefix: str = "") -> dict[str, bytes]:
    bound = target.at(bucket)
    return {t.key: bound.get(t.key).body for t in bound.list(prefix) if ".gcs2s3/" not in t.key}


class Killed(BaseException):
    """What a SIGKILL is to the run: nothing after it happens (not an error the engine handles)."""


class Faults:
    """Counts the calls of one operation across the targets it wraps; fails (or "dies") at the n-th
    (`nth` 0: every call)."""

    def __init__(self, op: str, nth: int, fault: BaseException) -> None:
        self.op, self.nth, self.fault = op, nth, fault
        self.calls = 0
        self.lock = threading.Lock()


class Faulty:
    """A memory target whose `faults.op` fails as `faults` says; it shares the base's buckets and
    uploads, so the next run sees what this one left."""

    def __init__(self, base: MemoryTarget, faults: Faults) -> None:
        self._base, self._faults = base, faults

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._base, name)
        if name != self._faults.op:
            return attribute

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            faults = self._faults
            with faults.lock:
                faults.calls += 1
                fail = faults.nth in (0, faults.calls)
            if fail:
                raise faults.fault
            return attribute(*args, **kwargs)

        return wrapped


def faulty(base: MemoryTarget, op: str, nth: int, fault: BaseException) -> tuple[Faulty, Faulty]:
    """The primary and archive targets of `base`'s store, failing together as `Faults` says."""
    faults = Faults(op, nth, fault)
    return Faulty(base, faults), Faulty(base.at("arc-b"), faults)


def test_a_whole_sync_on_memory_stores() -> None:
    source, target = stores()
    result = sync(source, target)
    assert result.exit_code == 0 and len(result.outcomes) == 3
    assert contents(target, "dst-b") == BODIES
    assert sorted(contents(target, "arc-b").values()) == sorted(BODIES.values())
    assert target.headers_of("r/q1.csv").cache_control == "max-age=60"
    assert target.headers_of("r/q1.csv").content_type == "text/csv"  # guessed
    again = sync(source, target)
    assert again.exit_code == 0 and again.outcomes == []


def test_the_archive_is_written_before_the_primary() -> None:
    source, base = stores()
    result = sync(source, *faulty(base, "copy", 0, TransientError("copy refused")))
    assert result.exit_code == 1 and len(result.failed) == 3
    assert contents(base, "dst-b") == {}  # no primary object without its archive entry
    assert sorted(contents(base, "arc-b").values()) == sorted(BODIES.values())


@pytest.mark.parametrize(("op", "nth"), WRITES)
def test_a_run_killed_at_any_write_is_repaired_by_the_next(op: str, nth: int) -> None:
    source, base = stores()
    with pytest.raises(Killed):
        sync(source, *faulty(base, op, nth, Killed()), workers=1)
    for key, body in contents(base, "dst-b").items():
        assert body == BODIES[key], "the primary holds only whole versions"
    again = sync(source, base)
    assert again.exit_code == 0
    assert contents(base, "dst-b") == BODIES
    archived = Counter(contents(base, "arc-b").values())
    assert archived == Counter(BODIES.values()), "exactly one archive entry per version"
    assert base.open_uploads("") == [] and base.at("arc-b").open_uploads("") == []


def test_a_failed_part_aborts_its_upload_and_a_transient_one_is_retried_whole() -> None:
    source, base = stores()
    result = sync(source, *faulty(base, "upload_part", 2, StoreError("part refused")))
    assert result.exit_code == 1 and [o.action.dest_key for o in result.failed] == ["big.bin"]
    assert base.at("arc-b").open_uploads("") == [] and "big.bin" not in contents(base, "dst-b")
    assert not [k for k in contents(base, "arc-b") if "big" in k]
    source, base = stores()
    result = sync(source, *faulty(base, "upload_part", 2, TransientError("part lost")))
    assert result.exit_code == 0 and contents(base, "dst-b") == BODIES and base.at("arc-b").open_uploads("") == []


class PlainTarget:
    """A Target without the multipart capability (only the Target protocol's methods of a memory target)."""

    def __init__(self, base: MemoryTarget) -> None:
        self.bucket, self._server = base.bucket, base._server
        for name in ("list", "probe", "head", "get", "open", "put", "copy", "delete"):
            setattr(self, name, getattr(base, name))


def test_a_target_without_multipart_takes_small_objects_and_refuses_big_ones_by_name() -> None:
    source, base = stores()
    plain = PlainTarget(base)
    assert isinstance(plain, Target) and not isinstance(plain, MultipartTarget)
    result = sync(source, plain, PlainTarget(base.at("arc-b")))
    assert [o.action.dest_key for o in result.failed] == ["big.bin"]
    assert "needs a target that takes multipart uploads" in (result.failed[0].error or "")
    assert {k: v for k, v in contents(base, "dst-b").items()} == {k: v for k, v in BODIES.items() if k != "big.bin"}


class Recording:
    """A memory target that records the Content-MD5 each single PUT carried."""

    def __init__(self, base: MemoryTarget) -> None:
        self._base = base
        self.content_md5: dict[str, str | None] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def put(self, key: str, body: bytes, options: PutOptions) -> Any:
        self.content_md5[key] = options.md5_b64
        return self._base.put(key, body, options)


def test_a_single_put_carries_the_listings_md5_and_a_composite_object_its_crc32c_alone() -> None:
    """No MD5 is computed on the data path: S3 checks the bytes against the listing's MD5."""
    source, base = stores()
    source.put("composite.bin", b"made of parts", composite=True)
    recording = Recording(base.at("arc-b"))
    assert sync(source, base, recording).exit_code == 0
    listed = {o.name: o for o in source.list("")}
    archived = {k.split(".")[0].split("/")[-1]: v for k, v in recording.content_md5.items() if k.startswith("archive/")}
    assert archived["q1"] == md5_hex_to_b64(listed["r/q1.csv"].md5)  # type: ignore[arg-type]
    assert archived["composite"] is None
    assert contents(base, "dst-b")["composite.bin"] == b"made of parts"


def test_bytes_that_differ_from_the_listings_md5_are_refused_by_the_server() -> None:
    source, base = stores()
    listed = source.put("x.txt", b"right")
    source._objects["x.txt"] = (replace(listed, md5="0" * 32), b"right")  # a listing whose MD5 alone is wrong
    result = sync(source, base)
    assert [o.action.dest_key for o in result.failed] == ["x.txt"] and "BadDigest" in (result.failed[0].error or "")
    assert "x.txt" not in contents(base, "dst-b")
