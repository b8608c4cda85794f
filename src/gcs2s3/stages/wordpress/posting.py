"""Posting delivered images to the WordPress media library, each source version at most once.

The stage's `finish` hook runs it after delivery, on the run's outcomes: every image version a run
delivered is uploaded (file name = the delivered key's base name, title = that name without its
extension), plus the versions an earlier run delivered but did not post (`pending` in the ledger, or
flagged on the object and missing from a ledger that a killed run never wrote). A version's media
item has a slug unique to it (`<name>-<12 hex of hash(bucket, key, CRC32C)>`): before posting a
version that an earlier run may have posted, and before retrying a failed upload, the item is looked
up by that slug, so a crash or a lost answer never posts twice. A changed image is a new version,
posted as a new item; the old item is left alone. WordPress failures never stop the sync: the failed
posts are reported (exit 1) and left `pending` for the next run.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import Gcs2s3Error, TransientError, VerificationError, WordPressError, WordPressRefusedError
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.headers import META_POSTING
from gcs2s3.core.models import Action, Kind, Outcome, Plan
from gcs2s3.core.retrying import retried
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stages.image_names import SIZED_MIME, extension, is_sized_image
from gcs2s3.stages.wordpress.ledger import PENDING, POSTED, PREDATES, Ledger, LedgerEntry
from gcs2s3.stages.wordpress.site import Media, WordPressSite
from gcs2s3.stores.protocols import Target

log = logging.getLogger(__name__)
UPLOAD_ATTEMPTS = 3
CHUNK = 1024 * 1024


def version_slug(bucket: str, dest_key: str, crc32c: str) -> str:
    """A slug for this version's media item, the same on every run, different for every version."""
    stem = dest_key.rpartition("/")[2].rpartition(".")[0] or dest_key.rpartition("/")[2]
    readable = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:60].strip("-") or "image"
    token = hashlib.sha256(f"{bucket}\0{dest_key}\0{crc32c}".encode()).hexdigest()[:12]
    return f"{readable}-{token}"


@dataclass(frozen=True, slots=True)
class PostJob:
    action: Action
    lookup: bool  # an earlier run may have posted it: look it up by slug first


@dataclass(slots=True)
class PostOutcome:
    job: PostJob
    media: Media | None = None
    found: bool = False  # already in WordPress (a crashed run posted it): recorded, not posted again
    error: str | None = None
    not_started: bool = False  # the run was stopped first
    upload_seconds: float = 0.0  # the upload request: WordPress stores the file and makes its sizes

    @property
    def ok(self) -> bool:
        return self.media is not None


def predating(plan: Plan) -> Iterator[tuple[str, LedgerEntry]]:
    """The first ledger of a target posting was never on for: every image already delivered (unchanged
    or header-updated in this plan) predates posting. In key order, from the plan's walk."""
    for action in plan.actions:
        if action.kind in (Kind.UNCHANGED, Kind.HEADERS) and is_sized_image(action.dest_key):
            yield action.dest_key, LedgerEntry(action.source.crc32c, PREDATES)


def posting_jobs(
    settings: Settings, plan: Plan, outcomes: Iterable[Outcome], ledger: Ledger, target: Target
) -> list[PostJob]:
    """What to post this run (the ledger is one that exists: `predating` makes the first). Costs a
    HEAD only for an unchanged image the ledger does not know (a killed run's)."""
    delivered = {o.action.dest_key: o for o in outcomes if o.ok and o.action.delivers}
    jobs: list[PostJob] = []
    unknown: list[Action] = []
    for action in plan.actions:
        if not is_sized_image(action.dest_key):
            continue
        outcome = delivered.get(action.dest_key)
        if outcome is not None:
            # This run wrote the archive entry: no earlier run got as far as posting this version.
            jobs.append(PostJob(action, lookup=not outcome.archive_written))
        elif action.kind in (Kind.UNCHANGED, Kind.HEADERS):  # the same version as before
            entry = ledger.get(action.dest_key, action.source.crc32c)
            if entry is not None:
                if entry.state == PENDING:
                    jobs.append(PostJob(action, lookup=True))
            else:
                unknown.append(action)
    if unknown:
        with ThreadPoolExecutor(max_workers=settings.workers) as pool:
            heads = pool.map(lambda a: target.head(a.dest_key), unknown)
            for action, head in zip(unknown, heads, strict=True):
                if head is not None and (head.metadata or {}).get(META_POSTING):
                    jobs.append(PostJob(action, lookup=True))
                else:
                    ledger.put(action.dest_key, LedgerEntry(action.source.crc32c, PREDATES))
    return jobs


class Poster:
    """Posts jobs, `wordpress_workers` at a time, and records each result in the ledger."""

    def __init__(self, settings: Settings, target: Target, site: WordPressSite, ledger: Ledger,
                 stop: StopFlag) -> None:
        self.settings = settings
        self.target = target
        self.site = site
        self.ledger = ledger
        self.stop = stop
        self._fatal: str | None = None

    def run(self, jobs: list[PostJob]) -> list[PostOutcome]:
        if not jobs:
            return []
        try:
            self.site.check()
        except WordPressError as exc:
            self._fatal = str(exc)
        with ThreadPoolExecutor(max_workers=self.settings.wordpress_workers, thread_name_prefix="gcs2s3-wp") as pool:
            outcomes = list(pool.map(self._post, jobs))
        for outcome in outcomes:
            action = outcome.job.action
            if outcome.media is not None:
                entry = LedgerEntry(action.source.crc32c, POSTED, outcome.media.id, outcome.media.url)
            else:
                entry = LedgerEntry(action.source.crc32c, PENDING)
            self.ledger.put(action.dest_key, entry)
        return outcomes

    def _post(self, job: PostJob) -> PostOutcome:
        if self.stop.requested:
            return PostOutcome(job, not_started=True, error="not started: the run was stopped")
        if self._fatal:
            return PostOutcome(job, error=self._fatal)
        key = job.action.dest_key
        slug = version_slug(self.settings.s3_bucket, key, job.action.source.crc32c)
        lookup = [job.lookup]

        def post() -> PostOutcome:
            found = self.site.find(slug) if lookup[0] else None
            if found is not None:
                log.info("already in WordPress: %s (media %d)", key, found.id, extra={"key": key})
                return PostOutcome(job, media=found, found=True)
            started = time.monotonic()
            media = self._upload(job, slug)
            seconds = time.monotonic() - started
            log.info("posted %s to WordPress: media %d %s", key, media.id, media.url, extra={"key": key})
            return PostOutcome(job, media=media, upload_seconds=seconds)

        def again(exc: BaseException) -> None:
            log.warning("retrying the post of %s after: %s", key, exc, extra={"key": key})
            lookup[0] = True  # the failed upload may have landed

        try:
            # A WordPress server's trouble passes slowly: 2 s, then 4 s between tries.
            return retried(post, attempts=UPLOAD_ATTEMPTS, retry_on=TransientError, on_retry=again, backoff_s=2.0,
                           give_up=lambda exc: self.stop.requested or not isinstance(exc, WordPressError))
        except Gcs2s3Error as exc:
            if isinstance(exc, WordPressRefusedError):  # every further request would fail alike
                self._fatal = str(exc)
            log.error("not posted %s: %s", key, exc, extra={"key": key, "reason": str(exc)})
            return PostOutcome(job, error=str(exc))

    def _upload(self, job: PostJob, slug: str) -> Media:
        """Fetch the delivered object (checking it is this version) into a temporary file and post it."""
        action = job.action
        name = action.dest_key.rpartition("/")[2]
        with tempfile.NamedTemporaryFile(prefix="gcs2s3-wp-", suffix="." + extension(name)) as spool:
            hasher = BodyHasher()
            for chunk in self.target.open(action.dest_key, CHUNK):
                hasher.update(chunk)
                spool.write(chunk)
            spool.flush()
            if hasher.crc32c != action.source.crc32c:
                raise VerificationError(f"{action.dest_key} no longer holds the version to post (CRC32C differs)")
            title = name.rpartition(".")[0] or name
            return self.site.upload(Path(spool.name), name, SIZED_MIME[extension(name)], slug=slug, title=title)
