"""Progress of a sync while it delivers: a rich display on a terminal, otherwise one JSON log line
every 30 s (objects and bytes done of planned, rate, ETA, failures so far). Never both."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from gcs2s3.core.models import TODO_KINDS, Kind, Outcome, Plan

if TYPE_CHECKING:  # rich is imported only for a terminal: a scheduled run does not need its import time
    from rich.progress import Progress, TaskID

log = logging.getLogger("gcs2s3.cli.progress")
INTERVAL_S = 30.0


class ProgressReporter:
    def __init__(self, interactive: bool, interval_s: float = INTERVAL_S) -> None:
        self.interactive = interactive
        self.interval_s = interval_s
        self.objects = self.bytes = self.done_objects = self.done_bytes = self.failures = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker: threading.Thread | None = None
        self._display: Progress | None = None
        self._task: TaskID | None = None

    def planned(self, plan: Plan) -> None:
        self.objects, self.bytes = plan.count(*TODO_KINDS), plan.size(Kind.NEW, Kind.CHANGED)
        self.started = time.monotonic()
        if not self.objects:
            return
        if self.interactive:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._display = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TimeRemainingColumn(), console=Console(stderr=True),
            )
            self._display.start()
            self._task = self._display.add_task(self._description(), total=max(self.bytes, 1))
        else:
            self._ticker = threading.Thread(target=self._tick, name="gcs2s3-progress", daemon=True)
            self._ticker.start()

    def done(self, outcome: Outcome) -> None:
        with self._lock:
            self.done_objects += 1
            self.done_bytes += outcome.action.source.size if outcome.action.delivers else 0
            self.failures += not outcome.ok
        if self._display is not None and self._task is not None:
            self._display.update(self._task, completed=self.done_bytes, description=self._description())

    def close(self) -> None:
        self._stopped.set()
        if self._display is not None:
            self._display.stop()
        if self._ticker is not None:
            self._ticker.join(5)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            rate = self.done_bytes / elapsed
            left = self.bytes - self.done_bytes
            eta = left / rate if rate > 0 else None
            return {"objects_done": self.done_objects, "objects_planned": self.objects,
                    "bytes_done": self.done_bytes, "bytes_planned": self.bytes,
                    "bytes_per_s": round(rate), "eta_s": round(eta, 1) if eta is not None else None,
                    "failures": self.failures, "elapsed_s": round(elapsed, 1)}

    def _description(self) -> str:
        failed = f", [red]{self.failures} failed[/red]" if self.failures else ""
        return f"objects {self.done_objects}/{self.objects}{failed}"

    def _tick(self) -> None:
        while not self._stopped.wait(self.interval_s):
            state = self.snapshot()
            log.info("progress: %d/%d objects, %d/%d bytes, %d failed", state["objects_done"],
                     state["objects_planned"], state["bytes_done"], state["bytes_planned"], state["failures"],
                     extra={"progress": state})
