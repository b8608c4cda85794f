"""The posting ledger: which source version of each image WordPress already has, and as which item.

One gzipped JSON object, `<s3_prefix>.gcs2s3/wordpress.json.gz` in the primary bucket, beside the
state cache: dest key -> (the version's CRC32C, state, media id, URL). States:
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

from dataclasses import dataclass

from gcs2s3.core.shards import Shard, bookkeeping_key
from gcs2s3.run.documents import Found, decode_entries, encode_entries, load_document, put_document
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


class Ledger:
    def __init__(self, entries: dict[str, LedgerEntry] | None = None, *, exists: bool = True) -> None:
        self.entries = dict(entries or {})
        self.exists = exists  # False: posting was never on for this target before this run
        self.changed = not exists

    def get(self, key: str, crc32c: str) -> LedgerEntry | None:
        """The entry for this exact version of `key`, if any."""
        entry = self.entries.get(key)
        return entry if entry is not None and entry.crc32c == crc32c else None

    def record(self, key: str, entry: LedgerEntry) -> None:
        if self.entries.get(key) != entry:
            self.entries[key] = entry
            self.changed = True

    def to_bytes(self) -> bytes:
        return encode_entries(LEDGER_FORMAT, self.entries)

    @classmethod
    def from_bytes(cls, data: bytes) -> Ledger:
        return cls(decode_entries(data, LEDGER_FORMAT, LedgerEntry, "ledger", legacy=LEGACY_FORMAT))


def load_ledger(target: Target, bucket: str, key: str) -> Ledger:
    """The ledger as stored. Missing: `exists` is False. Unreadable: empty but `exists` (so every
    image is checked by its metadata and slug, never taken as new to posting)."""
    found, ledger = load_document(target, bucket, key, "WordPress ledger", Ledger.from_bytes,
                                  "images are checked one by one")
    if found is Found.MISSING:
        return Ledger(exists=False)
    if ledger is None:
        ledger = Ledger()
        ledger.changed = found is Found.UNREADABLE
    return ledger


def save_ledger(target: Target, bucket: str, key: str, ledger: Ledger) -> None:
    put_document(target, bucket, key, ledger.to_bytes())
    ledger.changed = False
