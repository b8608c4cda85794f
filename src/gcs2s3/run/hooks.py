"""The socket stages plug into: the Stage protocol the engine calls, and what it hands a stage.

The engine (plan, deliver, sync) knows stages only through these hooks, never by name; a stage
(thumbnails, WordPress, or the next one) implements them in `gcs2s3.stages`. The protocol lives here,
beside its caller, so that imports only point down (stages -> run, never run -> stages). Hooks, in the
order a run calls them:

1. `claims` (while planning, pure): None, or a Claimant (core/plan.py) whose `claim` refuses names
   the stage's output would overwrite (raise a CollisionError) and names the keys in the primary
   target that belong to a source object (files a stage wrote for an earlier version); they are
   attached to its action and not counted as target-only. Its `scope(key)` says which groups a key
   belongs to (thumbnails: an image and the names of its derived files): the planner asks `claim`
   once per group, holding one group at a time (`ONE_GROUP`: every key at once).
2. `start` (after planning, before the first write; not on a dry run).
3. Per delivered version, in the delivering worker: `spool_suffix` (ask for the version's bytes in a
   local file), `metadata` (extra user metadata on the objects written), `on_delivered` (after the
   archive entry is written and verified, before the primary copy; its result is kept on the
   outcome under the stage's name). A stage error here is the object's failure: it is retried whole.
4. `finish` (after delivery, also on a dry run): the stage's own work on what the run did not deliver
   (thumbnails back-fill images delivered earlier), and its part of the report.
5. `close`: always, last.

`verify` (the `verify` command, after claims): check the stage's output for every delivered object;
its failures are verification problems.

Every hook is declared here with a neutral default in StageBase: a stage overrides what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gcs2s3.core.config import Settings
from gcs2s3.core.models import Action, Outcome, Plan
from gcs2s3.core.plan import Claimant
from gcs2s3.core.report import StageReport
from gcs2s3.run.budget import ByteBudget
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stores.protocols import Target


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a stage may use for the whole run."""

    settings: Settings
    primary: Target  # the primary target's bucket, where a stage keeps its files and its bookkeeping
    plan: Plan
    stop: StopFlag
    dry_run: bool


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """What a stage's `verify` hook checks against."""

    settings: Settings
    primary: Target
    plan: Plan  # the plan against the current listings: each action's `attached` keys are the stage's files
    deep: bool  # --deep-verify: read what is needed to check content, not just names


@dataclass(frozen=True, slots=True)
class Delivery:
    """One version just archived (and verified), before its primary copy is written."""

    action: Action
    spool: Path | None  # the version's bytes, hash-checked, when `spool_suffix` asked for them
    primary: Target  # the primary target (the version's primary key, dest_key, is not written yet)
    budget: ByteBudget  # the run's one memory bound: hold what the stage keeps in memory against it


class Stage(Protocol):
    name: str  # the key of its results on each outcome and of its section in the report

    claims: Claimant | None  # what it claims while planning; None: nothing

    def start(self, run: RunContext) -> None: ...

    def spool_suffix(self, action: Action) -> str | None: ...

    def metadata(self, action: Action) -> Mapping[str, str]: ...

    def on_delivered(self, delivery: Delivery) -> Any: ...

    def finish(self, run: RunContext, outcomes: Sequence[Outcome]) -> StageReport | None: ...

    def verify(self, check: VerifyContext) -> StageReport | None: ...

    def close(self) -> None: ...


class StageBase:
    """Every hook as a no-op: a stage overrides the ones it needs."""

    name = "stage"
    claims: Claimant | None = None

    def start(self, run: RunContext) -> None:
        return None

    def spool_suffix(self, action: Action) -> str | None:
        return None

    def metadata(self, action: Action) -> Mapping[str, str]:
        return {}

    def on_delivered(self, delivery: Delivery) -> Any:
        return None

    def finish(self, run: RunContext, outcomes: Sequence[Outcome]) -> StageReport | None:
        return None

    def verify(self, check: VerifyContext) -> StageReport | None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> StageBase:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def claims_of(stages: Sequence[Stage]) -> list[Claimant]:
    """The claimants of the stages that claim keys, in their order."""
    return [stage.claims for stage in stages if stage.claims is not None]
