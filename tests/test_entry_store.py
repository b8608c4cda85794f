"""The entry store behind the WordPress ledger and the thumbnail record (run/entry_store.py): lookups by
a cursor, in any order, equal a dict's; merged documents keep every entry of a key; changes merge with
what was read; the documents (and the ledger's earlier one-object layout) read from S3 as a stream."""

from __future__ import annotations

import gzip
import json

from hypothesis import given
from hypothesis import strategies as st

from gcs2s3.run.documents import Found, put_document
from gcs2s3.run.entry_store import EntryStore, load_entries, merged
from gcs2s3.stages.wordpress.ledger import LEDGER_FORMAT, Ledger, LedgerEntry, load_ledger, save_ledger
from gcs2s3.stores.memory import MemoryTarget

keys = st.sampled_from(["a", "a/b", "a_b", "b", "é", "z" * 40, "line\nbreak"])
entries = st.dictionaries(keys, st.builds(LedgerEntry, st.sampled_from(["c1", "c2"]), st.just("posted")))


@given(entries, entries, st.lists(st.tuples(st.booleans(), keys, st.sampled_from(["c1", "c3"]))))
def test_lookups_in_any_order_and_changes_behave_as_a_dict(first: dict, second: dict, steps: list) -> None:
    store = merged(LedgerEntry, [EntryStore(LedgerEntry, sorted(first.items())),
                                 EntryStore(LedgerEntry, sorted(second.items()))])
    model = {key: [e for e in (first.get(key), second.get(key)) if e is not None] for key in {*first, *second}}
    changes: dict[str, LedgerEntry] = {}
    for put, key, crc in steps:
        if put:
            store.put(key, LedgerEntry(crc, "pending"))
            changes[key] = LedgerEntry(crc, "pending")
        else:
            assert store.get(key) == ([changes[key]] if key in changes else model.get(key, []))
    expected = {key: found[0] for key, found in model.items()} | changes
    assert list(store.items()) == sorted(expected.items())


def test_the_ledger_streams_from_s3_and_the_earlier_layout_still_reads() -> None:
    target = MemoryTarget("b").create_bucket()
    assert not load_ledger(target, "w.json.gz").exists
    ledger = Ledger([("a.jpg", LedgerEntry("c", "posted", 7, "u")), ("b.png", LedgerEntry("d", "predates"))])
    save_ledger(target, "w.json.gz", ledger)
    again = load_ledger(target, "w.json.gz")
    assert again.exists and not again.changed and list(again.items()) == list(ledger.items())
    assert again.get("b.png", "d") == LedgerEntry("d", "predates") and again.get("a.jpg", "x") is None
    old = {"format": 1, "entries": {"a.jpg": {"crc32c": "c", "state": "posted", "media_id": 7, "url": "u"}}}
    put_document(target, "old.json.gz", gzip.compress(json.dumps(old).encode()))
    found, store = load_entries(target, "old.json.gz", LEDGER_FORMAT, LedgerEntry, "ledger", "", legacy=1)
    assert found is Found.READ and store.get("a.jpg") == [LedgerEntry("c", "posted", 7, "u")]
    put_document(target, "bad.json.gz", b"not gzip")
    broken = load_ledger(target, "bad.json.gz")
    assert broken.exists and broken.changed and list(broken.items()) == []  # rewritten, images checked one by one
