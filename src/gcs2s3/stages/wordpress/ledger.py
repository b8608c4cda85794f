"""The posting ledger: which source version of each image WordPress already has, and as which item.

One gzipped document of JSON lines in key order, `<s3_prefix>.gcs2s3/wordpress.json.gz` in the primary
bucket, beside the state cache: dest key -> (the version's CRC32C, state, media id, URL), streamed
into a local file when read and looked up as the run walks its plan in key order, never held in
memory (run/entry_store.py). States:
- `posted`: WordPress has this version (media id, URL);
- `pending`: this version was delivered with posting on but is not posted yet (the post failed or the
  run stopped first): the next run posts it;
- `predates`: delivered before posting was turned on: never posted (posting is for what runs deliver).

Why a ledger object and not metadata on each delivered object: one read per run tells every image's
state, where metadata would cost a HEAD per unchanged image per run, and recording a media id on an
object would mean rewriting it. The ledger is written when a run ends, so a run killed before that
leaves no record of what it posted: every delivered object written while posting was on carries the
`wordpress-post` metadata flag, and an unchanged image with the flag and no ledger entry is looked up
in WordPress by its unique slug before anything is posted. So a lost ledger costs requests, never a
second post.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gcs2s3.core.shards import Shard, bookkeeping_key
from gcs2s3.run.documents import Found
from gcs2s3.run.entry_store import EntryDocument, EntryStore
from gcs2s3.stores.protocols import Target

LEDGER_FORMAT = 2  # 2: as 1, one line per entry
LEGACY_FORMAT = 1  # still read
POSTED, PENDING, PREDATES = "posted", "pending", "predates"


def ledger_key(s3_prefix: str, shard: Shard | None = None) -> str:
    """Where the ledger lives; each shard of a sharded sync has its own."""
    return bookkeeping_key(s3_prefix, "wordpress", shard, ".json.gz")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    crc32c: str  # the source version's
    state: str
    media_id: int | None = None
    url: str | None = None


class Ledger(EntryDocument[LedgerEntry]):
    entry = LedgerEntry
    format_version = LEDGER_FORMAT
    what = "WordPress ledger"
    not_read = "images are checked one by one"
    legacy = LEGACY_FORMAT

    def __init__(self, entries: Iterable[tuple[str, LedgerEntry]] = (), *, exists: bool = True,
                 store: EntryStore[LedgerEntry] | None = None) -> None:
        super().__init__(entries, store=store)
        self.exists = exists  # False: posting was never on for this target before this run
        self.changed = not exists

    @classmethod
    def load(cls, target: Target, key: str) -> Ledger:
        """The ledger as stored. Missing: `exists` is False. Unreadable: empty but `exists` (so every
        image is checked by its metadata and slug, never taken as new to posting)."""
        found, store = cls.read_from(target, key)
        if found is Found.MISSING:
            return cls(exists=False)
        ledger = cls(store=store)
        ledger.changed = found is Found.UNREADABLE
        return ledger


load_ledger = Ledger.load


def save_ledger(target: Target, key: str, ledger: Ledger) -> None:
    ledger.save(target, key)
