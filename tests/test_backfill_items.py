"""Back-fill planning (pure) and the thumbnail record: which delivered images need which files drawn or
removed, from the record and the primary listing alone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gcs2s3.core.errors import TransientError
from gcs2s3.core.models import Action, DestObject, Kind, SourceObject
from gcs2s3.stages.thumbnails.backfill import BackfillItem
from gcs2s3.stages.thumbnails.backfill import backfill_items as items_due
from gcs2s3.stages.thumbnails.record import (
    ImageEntry,
    ThumbnailRecord,
    files_field,
    load_all_records,
    load_record,
    save_record,
)
from gcs2s3.stages.thumbnails.sizes import SizeSpec, parse_sizes
from gcs2s3.stores.memory import MemoryTarget

SIZES = parse_sizes("thumbnail:150x150:crop, medium:300x300")
CRC = "AAAAAA=="


def action(key: str, kind: Kind = Kind.UNCHANGED, attached: tuple[str, ...] = (), crc: str = CRC,
           etags: Mapping[str, str] | None = None) -> Action:
    """`etags`: the attached keys' ETags as listed."""
    source = SourceObject(key, 10, None, crc, 1, datetime(2026, 1, 1, tzinfo=UTC))
    return Action(kind, source, key, f"arc/{key}", "", DestObject(key, 10, "e"),
                  {k: (etags or {}).get(k, "") for k in attached})


def backfill_items(actions: list[Action], record: ThumbnailRecord, sizes: tuple[SizeSpec, ...]) -> list[BackfillItem]:
    return list(items_due(actions, record, sizes))


def entry(**files: str) -> ImageEntry:
    return ImageEntry(CRC, "image/jpeg", 1200, 900, 1, files=files_field({f"-{k}": v for k, v in files.items()}))


def record(**entries: ImageEntry) -> ThumbnailRecord:
    return ThumbnailRecord(sorted((key.replace("_", "."), value) for key, value in entries.items()))


def test_an_image_without_an_entry_for_its_version_is_drawn_whole() -> None:
    stale_version = ImageEntry("other==", "image/jpeg", 1200, 900, 1)
    items = backfill_items([action("a.jpg"), action("b.jpg")], record(b_jpg=stale_version), SIZES)
    assert [(i.action.dest_key, i.draw) for i in items] == [("a.jpg", None), ("b.jpg", None)]


def test_only_the_missing_files_are_drawn_and_stale_ones_removed_without_a_read() -> None:
    full = entry(**{"150x150": "e1", "300x225": "e2"})
    attached = ("a-150x150.jpg", "a-300x225.jpg")
    etags = {"a-150x150.jpg": "e1", "a-300x225.jpg": "e2", "a-99x99.jpg": "e9"}
    assert backfill_items([action("a.jpg", attached=attached, etags=etags)], record(a_jpg=full), SIZES) == []
    (item,) = backfill_items([action("a.jpg", attached=attached[:1], etags=etags)], record(a_jpg=full), SIZES)
    assert item.draw == {"-300x225"} and item.stale == () and item.keep == (("-150x150", "e1"),)
    (item,) = backfill_items([action("a.jpg", attached=(*attached, "a-99x99.jpg"), etags=etags)], record(a_jpg=full),
                             SIZES)
    assert item.draw == frozenset() and not item.reads and item.stale == ("a-99x99.jpg",)


def test_a_file_whose_etag_is_not_the_one_written_is_drawn_again() -> None:
    full = entry(**{"150x150": "e1", "300x225": "e2"})
    attached = ("a-150x150.jpg", "a-300x225.jpg")
    listed = {"a-150x150.jpg": "replaced", "a-300x225.jpg": "e2"}
    (item,) = backfill_items([action("a.jpg", attached=attached, etags=listed)], record(a_jpg=full), SIZES)
    assert item.draw == {"-150x150"} and item.keep == (("-300x225", "e2"),)


def test_delivered_by_this_run_not_images_and_unsizable_images_are_left_alone() -> None:
    unsizable = ImageEntry(CRC, problem="corrupt or truncated image/jpeg")
    actions = [action("new.jpg", Kind.NEW), action("changed.jpg", Kind.CHANGED), action("notes.txt"),
               action("scan.tif"), action("broken.jpg")]
    assert backfill_items(actions, record(broken_jpg=unsizable), SIZES) == []
    # header-only updates keep their bytes: they are candidates like unchanged images
    assert len(backfill_items([action("h.png", Kind.HEADERS)], record(), SIZES)) == 1


@given(st.lists(st.sampled_from(["-150x150", "-300x225", "-768x576", "-99x99"]), unique=True),
       st.booleans())
def test_after_back_fill_an_image_has_exactly_the_expected_files(present: list[str], known: bool) -> None:
    """Whatever files an image has, the item makes it hold exactly what WordPress makes under the sizes."""
    full = entry(**{"150x150": "e1", "300x225": "e2"})
    attached = tuple(f"a{s}.jpg" for s in present)
    etags = {key: "e1" if "150x150" in key else "e2" for key in attached}
    items = backfill_items([action("a.jpg", attached=attached, etags=etags)], record(a_jpg=full) if known else record(),
                           SIZES)
    expected = set(full.expected("a.jpg", SIZES))
    if not items:
        assert known and set(attached) == expected
        return
    (item,) = items
    if item.draw is None:  # drawn whole: every expected file is written, the rest removed afterwards
        assert not known
        return
    after = (set(attached) - set(item.stale)) | {f"a{s}.jpg" for s in item.draw}
    assert after == expected


class FailingReads(MemoryTarget):
    def open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        raise TransientError("injected: read timed out")


def test_the_record_round_trips_and_one_that_cannot_be_read_is_neither_trusted_nor_overwritten() -> None:
    target = MemoryTarget("b").create_bucket()
    missing = load_record(target, "r.json.gz")
    assert list(missing.items()) == [] and missing.read  # missing: empty, usable
    kept = record(a_jpg=entry(**{"150x150": "e1"}), b_jpg=ImageEntry(CRC, problem="not sized"))
    save_record(target, "r.json.gz", kept)
    again = load_record(target, "r.json.gz")
    assert list(again.items()) == list(kept.items()) and again.read
    assert again.get("a.jpg", CRC) == dict(kept.items())["a.jpg"] and again.get("a.jpg", "other==") is None
    again.put("0.jpg", entry())  # changes merge with what was read, in key order
    again.put("b.jpg", entry())
    assert [(k, e.problem) for k, e in again.items()] == [("0.jpg", None), ("a.jpg", None), ("b.jpg", None)]
    assert not load_record(FailingReads("b").create_bucket(), "r.json.gz").read


def test_verify_reads_every_shards_record_and_finds_the_entry_of_the_current_version() -> None:
    target = MemoryTarget("b").create_bucket()
    old, new = ImageEntry("old=====", "image/jpeg", 10, 10), ImageEntry(CRC, "image/png", 20, 20)
    save_record(target, "m/.gcs2s3/thumbnails.0-of-2.json.gz", record(a_jpg=old, b_jpg=new))
    save_record(target, "m/.gcs2s3/thumbnails.json.gz", record(a_jpg=new))  # an earlier, unsharded layout
    save_record(target, "m/.gcs2s3/state.json.gz", record(c_jpg=new))  # not a thumbnail record
    merged = load_all_records(target, "m/")
    assert merged.get("a.jpg", CRC) == new and merged.get("a.jpg", "old=====") == old
    assert merged.get("b.jpg", CRC) == new and merged.get("c.jpg", CRC) is None and merged.read
