"""The thumbnail record: for each delivered image, which version its derived files were made for, the
image's header (type, dimensions, EXIF orientation) and the ETag of each file written.

One gzipped document of JSON lines (run/documents.py), `<s3_prefix>.gcs2s3/thumbnails.json.gz` in the
primary bucket, beside the state cache (each shard has its own), streamed into a local file when read
and looked up as the run walks its plan in key order, never held in memory (run/entry_store.py).
With the header kept, the files an image must have under the configured sizes are known without
reading it: `verify` checks them by name and ETag, and a changed `thumbnail_sizes` tells which files
to make or remove. An image that could not be sized (not a type WordPress sizes, corrupt, over the
pixel limit) is recorded with the reason and is not tried again until its version changes.

The record is a cache of work done, never the truth about the bucket: an image with no entry for its
current version (delivered before thumbnails were on, or the record was lost) is read and drawn again
(back-fill), so a lost record costs work, never a wrong file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gcs2s3.core.shards import Shard, bookkeeping_key
from gcs2s3.run.documents import Found
from gcs2s3.run.entry_store import EntryDocument, EntryStore, merged
from gcs2s3.stages.image_names import thumbnail_key
from gcs2s3.stages.thumbnails.sizes import DerivedImage, SizeSpec, derived_images
from gcs2s3.stores.protocols import Target

RECORD_FORMAT = 1


def record_key(s3_prefix: str, shard: Shard | None = None) -> str:
    return bookkeeping_key(s3_prefix, "thumbnails", shard, ".json.gz")


@dataclass(frozen=True, slots=True)
class ImageEntry:
    crc32c: str  # the source version's
    mime: str = ""
    width: int = 0  # as stored, before the EXIF orientation
    height: int = 0
    orientation: int = 1
    files: str = ""  # "suffix=ETag suffix=ETag ...": the files written (one string: ~4x less memory than a dict)
    problem: str | None = None  # why this version has no files (not sized, corrupt, over the limit)

    @property
    def etags(self) -> dict[str, str]:
        """{suffix: ETag} of the files written."""
        return dict(item.split("=", 1) for item in self.files.split())

    def expected(self, dest_key: str, sizes: Sequence[SizeSpec]) -> dict[str, DerivedImage]:
        """{key: file} of every file WordPress makes for this image under `sizes` (none when it could
        not be sized)."""
        if self.problem is not None or not self.mime:
            return {}
        files = derived_images(self.width, self.height, orientation=self.orientation, mime=self.mime, sizes=sizes)
        return {thumbnail_key(dest_key, item.suffix): item for item in files}


def files_field(etags: dict[str, str]) -> str:
    """The `files` string of {suffix: ETag} (suffixes and ETags never hold spaces or '=')."""
    return " ".join(f"{suffix}={etag}" for suffix, etag in sorted(etags.items()))


class ThumbnailRecord(EntryDocument[ImageEntry]):
    entry = ImageEntry
    format_version = RECORD_FORMAT
    what = "thumbnail record"
    not_read = "no back-fill this run"

    def __init__(self, entries: Iterable[tuple[str, ImageEntry]] = (), *, read: bool = True,
                 store: EntryStore[ImageEntry] | None = None) -> None:
        super().__init__(entries, store=store)
        self.read = read  # False: the stored record could not be read (a failed request): it must not be
        # overwritten by this run, and nothing is back-filled from it

    @classmethod
    def load(cls, target: Target, key: str) -> ThumbnailRecord:
        """The record as stored; empty when missing or unparsable (its images are then drawn again), and
        not `read` when the request failed (this run then neither back-fills nor writes it)."""
        found, store = cls.read_from(target, key)
        return cls(store=store, read=found is not Found.NOT_READ)


load_record = ThumbnailRecord.load


def load_all_records(target: Target, s3_prefix: str) -> ThumbnailRecord:
    """Every record under the primary prefix (the unsharded one and each shard's), as one: for `verify`,
    which runs unsharded over what shards wrote. Where two records know a key, `get` finds the entry of
    the image's current version."""
    folder = record_key(s3_prefix).rsplit("/", 1)[0] + "/"
    records = []
    for listed in target.list(folder):
        name = listed.key[len(folder):]
        if name.startswith("thumbnails") and name.endswith(".json.gz") and "/" not in name:
            records.append(load_record(target, listed.key))
    return ThumbnailRecord(store=merged(ImageEntry, [r.store for r in records]), read=all(r.read for r in records))


def save_record(target: Target, key: str, record: ThumbnailRecord) -> None:
    record.save(target, key)
