"""A third stage plugs in without a change to the engine, the planner, the models or the report: this
file's Recorder uses every hook, on the in-memory stores, and shows up in the outcome, on the objects
written, in the plan, in the JSON report and in the exit code."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console
from test_engine_memory import BODIES, contents, stores, sync

from gcs2s3 import (
    CollisionError,
    Delivery,
    NotFoundError,
    Outcome,
    PutOptions,
    RunContext,
    StageBase,
    StageReport,
    Stores,
    VerifyContext,
)
from gcs2s3.cli.metrics import run_metrics
from gcs2s3.cli.report_output import render
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.models import Action, Failure, Kind
from gcs2s3.core.plan import ONE_GROUP

SIDECAR = ".sha256"


@dataclass(frozen=True, slots=True)
class RecorderCounts:
    seen: int = 0
    bytes_seen: int = 0


class Recorder(StageBase):
    """Writes `<key>.sha256` beside each delivered .csv (from the spooled bytes), tags every object it
    delivers, refuses a source name that is another name's sidecar, and fails a version named *bad*."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.claims = self  # it claims, and sees every key at once

    def scope(self, key: str) -> tuple[bytes, ...]:
        return ONE_GROUP

    def _called(self, hook: str) -> None:
        with self.lock:
            self.calls.append(hook)

    def claim(self, names: Mapping[str, str], listed: Sequence[str]) -> dict[str, list[str]]:
        self._called("claim")
        taken = [key for key in names if key.endswith(SIDECAR) and key.removesuffix(SIDECAR) in names]
        if taken:
            raise CollisionError({key: [names[key], names[key.removesuffix(SIDECAR)]] for key in taken})
        return {key: [key + SIDECAR] for key in names if key + SIDECAR in listed}

    def start(self, run: RunContext) -> None:
        self._called("start")

    def spool_suffix(self, action: Action) -> str | None:
        return ".csv" if action.dest_key.endswith(".csv") else None

    def metadata(self, action: Action) -> dict[str, str]:
        return {"recorded-by": "recorder"}

    def on_delivered(self, delivery: Delivery) -> int | None:
        self._called("on_delivered")
        if delivery.spool is None:
            return None
        data = delivery.spool.read_bytes()
        digest = hashlib.sha256(data).hexdigest().encode()
        hasher = BodyHasher()
        hasher.update(digest)
        delivery.primary.put(delivery.action.dest_key + SIDECAR, digest,
                             PutOptions(crc32c=hasher.crc32c, md5_b64=hasher.md5_b64))
        return len(data)

    def finish(self, run: RunContext, outcomes: Sequence[Outcome]) -> StageReport:
        self._called("finish")
        seen = [o.stages[self.name] for o in outcomes if self.name in o.stages]
        failures = tuple(Failure(o.action.dest_key, "recorder says no") for o in outcomes
                         if "bad" in o.action.dest_key)
        return StageReport(self.name, RecorderCounts(len(seen), sum(seen)), failures,
                           members=(("recorder_note", "hello"),), metrics=(("Recorded", len(seen), "Count"),))

    def verify(self, check: VerifyContext) -> StageReport:
        """Each delivered .csv has its sidecar, holding the SHA-256 of what the primary object holds now."""
        self._called("verify")
        failures = []
        for action in check.plan.actions:
            if not action.dest_key.endswith(".csv") or action.kind is Kind.NEW:
                continue
            body = check.primary.get(action.dest_key).body
            try:
                sidecar = check.primary.get(action.dest_key + SIDECAR).body
            except NotFoundError:
                sidecar = None
            if sidecar != hashlib.sha256(body).hexdigest().encode():
                failures.append(Failure(action.dest_key + SIDECAR, "sidecar missing or wrong"))
        return StageReport(self.name, RecorderCounts(seen=len(check.plan.actions)), tuple(failures))

    def close(self) -> None:
        self._called("close")


def test_a_third_stage_uses_every_hook_and_reaches_the_report() -> None:
    from gcs2s3 import Settings, sync_report

    source, target = stores()
    recorder = Recorder()
    result = sync(source, target, stages=[recorder])
    assert result.exit_code == 0
    assert recorder.calls[0:2] == ["claim", "start"] and recorder.calls[-2:] == ["finish", "close"]
    assert recorder.calls.count("on_delivered") == len(BODIES)
    by_key = {o.action.dest_key: o.stages for o in result.outcomes}
    assert by_key == {"r/q1.csv": {"recorder": len(BODIES["r/q1.csv"])}, "img/a.png": {}, "big.bin": {}}
    primary = contents(target, "dst-b")
    assert primary["r/q1.csv" + SIDECAR] == hashlib.sha256(BODIES["r/q1.csv"]).hexdigest().encode()
    assert all(target.head(key).metadata["recorded-by"] == "recorder" for key in BODIES)  # type: ignore[union-attr]

    settings = Settings.model_validate({"dev_level": "Stage", "gcs_bucket": "src-b", "s3_bucket": "dst-b",
                                        "archive_bucket": "arc-b", "archive_prefix": "archive/"})
    report = sync_report("sync", settings, result)
    document = report.to_json()
    assert document["recorder"] == {"seen": 1, "bytes_seen": len(BODIES["r/q1.csv"])}
    assert document["recorder_note"] == "hello"
    # The CLI's table and metrics take it too, by reading the stage report's fields.
    console = Console(record=True, width=200)
    render(report, console)
    assert "recorder: bytes seen" in console.export_text()
    assert run_metrics(report)["Recorded"] == (1.0, "Count")

    # Its sidecar is attached to its object in the next plan (not counted as target-only) ...
    source.put("r/q1.csv", b"north,2\n")
    again = sync(source, target, stages=[Recorder()])
    (changed,) = [o.action for o in again.outcomes]
    assert changed.kind is Kind.CHANGED and tuple(changed.attached) == ("r/q1.csv" + SIDECAR,)
    assert again.plan.target_only == 0 and again.plan.attached_in_target == 1
    # ... a name it claims is refused before anything is written ...
    source.put("r/q1.csv" + SIDECAR, b"not ours")
    try:
        sync(source, target, stages=[Recorder()])
        raise AssertionError("the sidecar name was not refused")
    except CollisionError as exc:
        assert "r/q1.csv.sha256" in str(exc)
    # ... `verify` asks it to check its output, and counts its problems ...
    from gcs2s3 import run_verify, verify_report

    source, target = stores()
    assert sync(source, target, stages=[Recorder()]).exit_code == 0
    checker = Recorder()
    verified = run_verify(settings, Stores(source, target, target.at("arc-b")), stages=[checker])
    assert verified.ok and checker.calls[-2:] == ["verify", "close"]
    target.delete("r/q1.csv" + SIDECAR)
    verified = run_verify(settings, Stores(source, target, target.at("arc-b")), stages=[Recorder()])
    assert [(p.key, p.reason) for p in verified.problems] == [("r/q1.csv.sha256", "sidecar missing or wrong")]
    assert verify_report(settings, verified, 0.0).to_json()["recorder"] == {"seen": 3, "bytes_seen": 0}
    # ... and its failures make the run exit 1.
    source, target = stores()
    source.put("bad.csv", b"x")
    failing = sync(source, target, stages=[Recorder()])
    assert failing.exit_code == 1 and failing.stage_reports[0].failures[0].key == "bad.csv"
