"""Stopping a run early and cleanly: SIGTERM (what ECS sends before it stops a task), SIGINT, or the
run's own time limit (`max_run_s`).

A stop only sets a flag. The deliverer stops starting objects, a multipart upload in progress stops
between parts and is aborted, single PUTs and server-side copies in flight finish, and the run ends
with its report and exit code 1. Should that take longer than the grace period (ECS kills the task
30 s after SIGTERM), a watchdog exits with code 1 at once: whatever was cut short is only an open
multipart upload, which the next run aborts; no target ever holds a partial object.

Neither the flag nor the watchdog ever waits on logging: in ECS the log driver may block the
container's writes (CloudWatch Logs throttled or unreachable), and a stderr pipe nobody reads blocks
every writer. The signal handler sets the flag and starts the watchdog first, and leaves its log line
to a thread of its own; the watchdog's last words go out from another thread it does not wait for
long, so even a stderr that blocks or fails cannot keep the process alive.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

from gcs2s3.core.errors import StoppedError
from gcs2s3.run.logs import error_line

log = logging.getLogger(__name__)
GRACE_SECONDS = 25.0  # leaves a margin inside ECS's default stopTimeout of 30 s


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


def stop(flag: StopFlag, reason: str, grace_seconds: float, why: str) -> None:
    """Request the stop and arm the watchdog, then log (from a thread: a log write may block)."""
    if flag.requested:
        return
    flag.request(reason)
    watchdog = threading.Timer(grace_seconds, _give_up, args=(reason, grace_seconds))
    watchdog.daemon = True
    watchdog.start()
    threading.Thread(target=log.warning, args=("%s: finishing what is in flight, starting nothing new", why),
                     daemon=True, name="gcs2s3-stop-log").start()


@contextmanager
def stop_on_signals(
    flag: StopFlag, grace_seconds: float = GRACE_SECONDS, max_run_s: float | None = None
) -> Iterator[StopFlag]:
    """Turn SIGTERM and SIGINT (main thread only) and, with `max_run_s`, the end of the run's time into
    a stop for the block."""
    limit = None
    if max_run_s:
        limit = threading.Timer(max_run_s, stop, args=(flag, "max_run_s", grace_seconds,
                                                       f"the run reached max_run_s ({max_run_s:.0f} s)"))
        limit.daemon = True
        limit.start()
    if threading.current_thread() is not threading.main_thread():
        try:
            yield flag
        finally:
            if limit is not None:
                limit.cancel()
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        stop(flag, name, grace_seconds, f"{name} received")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        if limit is not None:
            limit.cancel()
        for sig, old in previous.items():
            signal.signal(sig, old)


def _give_up(reason: str, grace_seconds: float) -> None:
    message = (error_line(
        f"error: still busy {grace_seconds:.0f} s after {reason}; exiting now. Open multipart uploads "
        "are aborted by the next run; no target holds a partial object.", 1) + "\n").encode()
    # The message may never get out (stderr full, closed, or gone): say it from a thread, wait briefly.
    sayer = threading.Thread(target=_write_fd2, args=(message,), daemon=True)
    sayer.start()
    sayer.join(1.0)
    os._exit(1)


def _write_fd2(data: bytes) -> None:
    with suppress(OSError):
        os.write(2, data)
