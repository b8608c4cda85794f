"""The WordPress stage: the images a run delivers are posted to the media library, once per version.

Hooks (run/hooks.py): `start` opens the posting ledger (written before anything is delivered on the
first run with posting on, so that later runs can tell a killed run's images from older ones);
`metadata` flags each image delivered while posting is on (`wordpress-post`), so that a run killed
before it recorded its posts is found out; `finish` posts (posting.py) and writes the ledger
(ledger.py), and reports. WordPress failures never stop the sync: they are the run's failures (exit
1) and stay `pending` for the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import Gcs2s3Error
from gcs2s3.core.headers import META_POSTING
from gcs2s3.core.models import Action, Failure, Outcome
from gcs2s3.core.report import StageReport
from gcs2s3.run.hooks import RunContext, StageBase
from gcs2s3.stages.image_names import is_sized_image
from gcs2s3.stages.wordpress.ledger import Ledger, ledger_key, load_ledger, save_ledger
from gcs2s3.stages.wordpress.posting import Poster, PostOutcome, posting_jobs, predating
from gcs2s3.stages.wordpress.site import WordPressSite

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WordPressCounts:
    posted: int = 0
    found_already_posted: int = 0
    failed: int = 0
    not_started: int = 0


class WordPressStage(StageBase):
    name = "wordpress"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger: Ledger | None = None
        self.posts: list[PostOutcome] = []  # this run's uploads and look-ups
        self.seconds = 0.0  # time spent posting

    def metadata(self, action: Action) -> dict[str, str]:
        """The posting flag, on an image this run delivers and kept on one whose headers it rewrites."""
        flagged = action.existing is not None and (action.existing.metadata or {}).get(META_POSTING)
        if is_sized_image(action.dest_key) and (action.delivers or flagged):
            return {META_POSTING: "1"}
        return {}

    def start(self, run: RunContext) -> None:
        """Open the ledger. On the first run with posting on, the images already delivered are recorded
        as predating it, and the ledger is written before anything is delivered."""
        settings, target = self.settings, run.primary
        ledger = load_ledger(target, ledger_key(settings.s3_prefix, settings.shard))
        if not ledger.exists:
            ledger = Ledger(predating(run.plan), exists=False)  # streamed from the plan's walk
            self._save_ledger(run, ledger)
            ledger.exists = True
        self.ledger = ledger

    def finish(self, run: RunContext, outcomes: Sequence[Outcome]) -> StageReport:
        if self.ledger is not None:
            started = time.monotonic()
            self.posts = self._post(run, outcomes, self.ledger)
            self.seconds = time.monotonic() - started
        posts = self.posts
        counts = WordPressCounts(
            posted=sum(p.ok and not p.found for p in posts), found_already_posted=sum(p.found for p in posts),
            failed=sum(not p.ok and not p.not_started for p in posts), not_started=sum(p.not_started for p in posts),
        )
        failures = tuple(Failure(p.job.action.dest_key, f"delivered, but not posted to WordPress: {p.error}")
                         for p in posts if not p.ok)
        members: tuple[tuple[str, object], ...] = (("wordpress_seconds", round(self.seconds, 3)),)
        if posts:
            members += (("media", [{"key": p.job.action.dest_key, "media_id": p.media.id, "url": p.media.url}
                                   for p in posts if p.media is not None]),)
        return StageReport(self.name, counts, failures, members, metrics=(("PostsMade", counts.posted, "Count"),))

    def _post(self, run: RunContext, outcomes: Sequence[Outcome], ledger: Ledger) -> list[PostOutcome]:
        settings = self.settings
        jobs = posting_jobs(settings, run.plan, outcomes, ledger, run.primary)
        site = WordPressSite(settings.wordpress_url, settings.wordpress_user,
                             settings.wordpress_app_password.get_secret_value(), timeout_s=settings.wordpress_timeout_s,
                             connections=settings.wordpress_workers)
        try:
            return Poster(settings, run.primary, site, ledger, run.stop).run(jobs)
        finally:
            site.close()
            self._save_ledger(run, ledger)

    def _save_ledger(self, run: RunContext, ledger: Ledger) -> None:
        if not ledger.changed:
            return
        settings = self.settings
        key = ledger_key(settings.s3_prefix, settings.shard)
        try:
            save_ledger(run.primary, key, ledger)
        except Gcs2s3Error as exc:
            log.warning("WordPress ledger s3://%s/%s not written (%s); the next run looks posted images up again",
                        settings.s3_bucket, key, exc)
