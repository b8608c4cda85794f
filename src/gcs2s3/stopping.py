"""Stopping a run early and cleanly: SIGTERM (what ECS sends before it stops a task) or SIGINT.

A signal only sets a flag. The executor stops starting objects, a multipart upload in progress stops
between parts and is aborted, single PUTs and server-side copies in flight finish, and the run ends
with its report and exit code 1. Should that take longer than the grace period (ECS kills the task
30 s after SIGTERM), a watchdog exits with code 1 at once: whatever was cut short is only an open
multipart upload, which the next run aborts; no target ever holds a partial object.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from gcs2s3.errors import Gcs2s3Error

log = logging.getLogger(__name__)
GRACE_SECONDS = 25.0  # leaves a margin inside ECS's default stopTimeout of 30 s


class StoppedError(Gcs2s3Error):
    """The run was asked to stop; this object was left for the next run."""


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def request(self, reason: str) -> None:
        self.reason = reason
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise StoppedError when a stop was requested."""
        if self._event.is_set():
            raise StoppedError(f"stopped by {self.reason} before completion; the next run delivers it")


@contextmanager
def stop_on_signals(flag: StopFlag, grace_seconds: float = GRACE_SECONDS) -> Iterator[StopFlag]:
    """Turn SIGTERM and SIGINT into `flag.request` for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if flag.requested:
            return
        log.warning("%s received: finishing what is in flight, starting nothing new", name)
        flag.request(name)
        watchdog = threading.Timer(grace_seconds, _give_up, args=(name, grace_seconds))
        watchdog.daemon = True
        watchdog.start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _give_up(name: str, grace_seconds: float) -> None:
    sys.stderr.write(
        f"gcs2s3: error: still busy {grace_seconds:.0f} s after {name}; exiting now. Open multipart uploads "
        "are aborted by the next run; no target holds a partial object.\n"
    )
    sys.stderr.flush()
    os._exit(1)
