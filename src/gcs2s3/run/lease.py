"""One run at a time per primary target (per shard with `--shard`): a lease object in the primary bucket.

The lease is `<s3_prefix>.gcs2s3/lease` (`lease.i-of-N` for a shard), a small JSON document naming its
holder (run id, host, start, gcs2s3 version, TTL). A run takes it before it writes anything:
- with a conditional create (`If-None-Match: *`): of two runs that start together exactly one wins;
- if it is there, its age is read by the server's clock (the response's Date minus the lease's
  Last-Modified, so no two tasks' clocks are compared). Younger than its TTL: the run skips, writing
  nothing and aborting nothing. Older (its holder died: kill -9, task stopped, host lost): the run takes
  it over conditionally on the lease's ETag (`If-Match`), so of two takers only one can win;
- after taking it, the run reads it back and checks its own run id is there: on a server that ignored
  the conditions, the later of two writers wins and the other backs off (see the README for the window
  that leaves on such a server; S3, moto and SeaweedFS honour both conditions).
The holder renews it every TTL / 5 (`If-Match` on its own last ETag) while it works. A renewal that
finds the lease taken by another run means this run lost it (it was stalled past the TTL): the run
stops as on SIGTERM. Released at the end with a conditional delete.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from gcs2s3.core.errors import Gcs2s3Error, IntegrityError, NotFoundError, PreconditionFailedError, TransientError
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.models import Fetched, Headers, PutMode, PutOptions
from gcs2s3.core.retrying import retried
from gcs2s3.core.shards import Shard, bookkeeping_key
from gcs2s3.stores.protocols import Target

log = logging.getLogger(__name__)
LEASE_FORMAT = 1
RENEWALS_PER_TTL = 5
PUT_ATTEMPTS = 3


def lease_key(s3_prefix: str, shard: Shard | None = None) -> str:
    """Where the lease lives; each shard has its own, so shards never block each other."""
    return bookkeeping_key(s3_prefix, "lease", shard)


@dataclass(frozen=True, slots=True)
class Holder:
    """What a lease says of the run that holds it."""

    run_id: str
    host: str
    started: str  # ISO 8601, UTC, the holder's clock
    version: str
    ttl_s: int
    format: int = LEASE_FORMAT

    def held_for_s(self, now: datetime | None = None) -> float | None:
        """Seconds since the holder started (None when its start cannot be read)."""
        try:
            started = datetime.fromisoformat(self.started)
        except ValueError:
            return None
        return ((now or datetime.now(UTC)) - started).total_seconds()


@dataclass(frozen=True, slots=True)
class Busy:
    """The lease is held by a live run: this run skips."""

    holder: Holder | None  # None: the lease could not be read (unparsable)
    age_s: float | None  # since its last renewal, by the server's clock

    @classmethod
    def of(cls, current: Fetched | None) -> Busy:
        """Whoever the lease read back names (nobody readable when it is gone or unparsable)."""
        return cls(_parse(current.body) if current else None, current.age_s if current else None)

    def describe(self) -> str:
        if self.holder is None:
            return "an unreadable lease (it expires by itself)"
        return f"run {self.holder.run_id} on {self.holder.host}, started {self.holder.started}"


class Lease:
    """Taking, renewing and releasing the lease of one primary target (thread-safe)."""

    def __init__(self, target: Target, key: str, *, ttl_s: int, run_id: str, version: str,
                 on_lost: Callable[[], None]) -> None:
        self.target = target
        self.key = key
        self.where = f"s3://{target.bucket}/{key}"
        self.ttl_s = ttl_s
        self.holder = Holder(run_id, socket.gethostname(), datetime.now(UTC).isoformat(timespec="seconds"),
                             version, ttl_s)
        self.on_lost = on_lost
        self.etag: str | None = None
        self._stopped = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.Lock()

    def acquire(self) -> Busy | None:
        """Take the lease: None when this run holds it now, else who holds it."""
        try:
            self.etag = self._put(PutMode.create())
        except PreconditionFailedError:
            current = self._current()
            if current is None:  # released between the two requests: try once more
                return self._retake(None)
            if self._ours(current):  # a retried create that had landed
                return None
            busy = self._busy(current)
            if busy is not None:
                return busy
            return self._retake(current)
        return self._confirmed()

    def _retake(self, current: Fetched | None) -> Busy | None:
        """Take over an expired lease (or create a released one), conditionally: one taker wins."""
        try:
            self.etag = self._put(PutMode.create() if current is None else PutMode.update(current.etag))
        except PreconditionFailedError:
            again = self._current()
            if again is not None and self._ours(again):  # a retried takeover that had landed
                return None
            return Busy.of(again)
        if current is not None:
            previous = _parse(current.body)
            log.warning("took over the lease of %s: it had not been renewed for %.0f s (TTL %d s)",
                        previous.run_id if previous else "an unreadable holder", current.age_s or 0, self.ttl_s,
                        extra={"lease": asdict(previous) if previous else None})
        return self._confirmed()

    def _ours(self, current: Fetched) -> bool:
        """Whether `current` is this run's lease (then its ETag is ours to renew with)."""
        holder = _parse(current.body)
        if holder is None or holder.run_id != self.holder.run_id:
            return False
        self.etag = current.etag
        return True

    def _still_ours(self) -> bool:
        """After a renewal lost its condition: is the lease ours all the same? (A failed read leaves the
        question to the next renewal.)"""
        try:
            current = self._current()
        except Gcs2s3Error:
            return True
        return current is not None and self._ours(current)

    def _busy(self, current: Fetched) -> Busy | None:
        """Busy when the lease is alive; None when it has expired (older than its TTL)."""
        busy = Busy.of(current)
        ttl = busy.holder.ttl_s if busy.holder else self.ttl_s
        if current.age_s is not None and current.age_s > ttl:
            return None
        return busy

    def _confirmed(self) -> Busy | None:
        """Read the lease back: on a server that ignores conditional writes, the last writer wins."""
        current = self._current()
        if current is not None and self._ours(current):
            return None
        self.etag = None
        return Busy.of(current)

    def _current(self) -> Fetched | None:
        """The lease as stored now; None when there is none."""
        try:
            return self.target.get(self.key)
        except NotFoundError:
            return None

    def _put(self, mode: PutMode) -> str:
        """One conditional PUT of our lease, tried up to PUT_ATTEMPTS times on transient failures and on
        a body the server refused as corrupted in transit (a retried create that had landed then meets
        its own lease: `acquire` recognises it by the run id)."""
        body = json.dumps(asdict(self.holder), separators=(",", ":")).encode()
        hasher = BodyHasher()
        hasher.update(body)
        options = PutOptions(headers=Headers(content_type="application/json"), mode=mode, crc32c=hasher.crc32c,
                             md5_b64=hasher.md5_b64)
        return retried(lambda: self.target.put(self.key, body, options).etag, attempts=PUT_ATTEMPTS,
                       retry_on=(TransientError, IntegrityError),
                       on_retry=lambda exc: log.warning("lease %s: retrying after %s", self.where, exc))

    def start_renewing(self) -> None:
        self._renewer = threading.Thread(target=self._renew_loop, name="gcs2s3-lease", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        interval = max(1.0, self.ttl_s / RENEWALS_PER_TTL)
        while not self._stopped.wait(interval):
            with self._lock:
                if self.etag is None:
                    return
                try:
                    self.etag = self._put(PutMode.update(self.etag))
                except PreconditionFailedError:
                    if self._still_ours():  # a retried renewal that had landed, or undecided for now
                        continue
                    self.etag = None
                    log.error("lost the lease %s to another run (this run was stalled past the %d s TTL): "
                              "stopping", self.where, self.ttl_s)
                    self.on_lost()
                    return
                except Gcs2s3Error as exc:  # tried again at the next interval, well inside the TTL
                    log.warning("lease %s not renewed this time: %s", self.where, exc)

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours; never raises."""
        self._stopped.set()
        if self._renewer is not None:
            self._renewer.join(10)
        with self._lock:
            if self.etag is None:
                return
            try:
                self.target.delete(self.key, PutMode.update(self.etag))
            except Gcs2s3Error as exc:
                log.warning("lease %s not released (%s); it expires after %d s", self.where,
                            exc, self.ttl_s)
            self.etag = None


def _parse(body: bytes) -> Holder | None:
    try:
        fields = json.loads(body)
        return Holder(**{name: fields[name] for name in Holder.__dataclass_fields__ if name in fields})
    except (ValueError, TypeError, KeyError):
        return None
