"""A bookkeeping document of entries (the WordPress ledger, the thumbnail record) used without holding
it in memory: read once from S3 as a stream into a local file, looked up by a cursor that moves
forward in key order (the order in which a run walks its plan), and written back line by line as the
merge of what was read with this run's changes.

Lookups in ascending key order cost one pass over the file; a key below the cursor starts the pass
again, so callers walk in key order (plan.actions) and record their changes (`put`) in any order:
changes are held in memory until written, so they are bounded by the work of one run. Entries are
flat dataclasses of plain values, kept in the file as marshal tuples.
"""

from __future__ import annotations

import heapq
import logging
import marshal
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from typing import ClassVar, Generic, TypeVar

from gcs2s3.core.errors import Gcs2s3Error, NotFoundError
from gcs2s3.core.merge_join import Cursor
from gcs2s3.run.documents import PARSE_ERRORS, EntryWriter, Found, decode_entries, iter_entries, put_file
from gcs2s3.run.framing import BUFFER, FrameFile
from gcs2s3.stores.protocols import Target

log = logging.getLogger(__name__)
T = TypeVar("T")


class EntryStore(Generic[T]):
    """Entries by key: the stored ones (in a local file, in key order; a key may have several when
    documents were merged) and this run's changes (in memory)."""

    def __init__(self, entry: type[T], stored: Iterable[tuple[str, T]] = ()) -> None:
        """`stored`: (key, entry) pairs in key order, copied to the local file now."""
        self.entry = entry
        self._names = [f.name for f in fields(entry)]  # type: ignore[arg-type]
        self._file = FrameFile("gcs2s3-entries-")
        for key, value in stored:
            self._file.append(marshal.dumps((key, tuple(getattr(value, name) for name in self._names))))
        self.changes: dict[str, T] = {}
        self._cursor: Cursor[str, T] = Cursor(())
        self._last: str | None = None
        self._group: tuple[str, list[T]] | None = None
        self._rewind()

    def _read(self) -> Iterator[tuple[str, T]]:
        for record in self._file.records():
            key, values = marshal.loads(record)
            yield key, self.entry(*values)

    def _rewind(self) -> None:
        self._cursor = Cursor(self._read())
        self._last = None
        self._group = None

    def stored(self, key: str) -> list[T]:
        """The stored entries of `key` (ascending keys from call to call are one pass)."""
        if self._group is not None and self._group[0] == key:
            return self._group[1]
        if self._last is not None and key < self._last:
            self._rewind()
        self._last = key
        self._group = (key, self._cursor.take(key))
        return self._group[1]

    def get(self, key: str) -> list[T]:
        """This run's change of `key`, else its stored entries."""
        change = self.changes.get(key)
        return [change] if change is not None else self.stored(key)

    def of_version(self, key: str, crc32c: str) -> T | None:
        """The entry of `key` for the source version of this CRC32C (entries carry a `crc32c` field)."""
        return next((entry for entry in self.get(key) if entry.crc32c == crc32c), None)  # type: ignore[attr-defined]

    def put(self, key: str, entry: T) -> None:
        self.changes[key] = entry

    def items(self) -> Iterator[tuple[str, T]]:
        """One entry per key, in key order: the change, else the first stored entry."""
        changed = sorted(self.changes.items())
        both = heapq.merge(((key, 0, entry) for key, entry in changed),
                           ((key, 1, entry) for key, entry in self._read()), key=lambda item: item[:2])
        last: str | None = None
        for key, _, entry in both:
            if key != last:
                last = key
                yield key, entry

    def write(self, target: Target, key: str, format_version: int) -> None:
        """Store the merged entries at `key` (the entries format, written line by line)."""
        writer = EntryWriter(format_version, self._names)
        try:
            for name, entry in self.items():
                writer.add(name, (getattr(entry, field) for field in self._names))
            put_file(target, key, writer.file, writer.finish())
        finally:
            writer.close()

    def close(self) -> None:
        self._file.close()


def load_entries(target: Target, key: str, format_version: int, entry: type[T], what: str,
                 not_read: str, legacy: int | None = None) -> tuple[Found, EntryStore[T]]:
    """The document at `key` streamed into a store, and how the reading went (a failed or unparsable
    read is a warning and an empty store, never an error). With `legacy`,
    the earlier one-object layout of that format is read whole, once."""
    try:
        try:
            body = target.open(key, BUFFER)
            rows = iter_entries(body, format_version, what)
            return Found.READ, EntryStore(entry, ((name, entry(**values)) for name, values in rows))
        except ValueError:
            if legacy is None:
                raise
            data = target.get(key).body
            legacy_entries = decode_entries(data, format_version, entry, what, legacy=legacy)
            return Found.READ, EntryStore(entry, sorted(legacy_entries.items()))
    except NotFoundError:
        return Found.MISSING, EntryStore(entry)
    except Gcs2s3Error as exc:
        log.warning("%s s3://%s/%s not read (%s); %s", what, target.bucket, key, exc, not_read)
        return Found.NOT_READ, EntryStore(entry)
    except PARSE_ERRORS as exc:
        log.warning("%s s3://%s/%s is unreadable (%s); it will be rewritten", what, target.bucket, key, exc)
        return Found.UNREADABLE, EntryStore(entry)


def merged(entry: type[T], stores: Sequence[EntryStore[T]]) -> EntryStore[T]:
    """Several stores as one: every entry of each, in key order (of one key: in the order of `stores`)."""
    return EntryStore(entry, heapq.merge(*(store._read() for store in stores), key=lambda pair: pair[0]))


class EntryDocument(Generic[T]):
    """A bookkeeping document of entries by key (the thumbnail record, the WordPress ledger): read from
    the target into an EntryStore, looked up version by version as a run walks its plan, changed, and
    written back merged. A subclass names its entry type, format, what it is called in warnings, what
    a failed read costs (`not_read`) and the earlier one-object layout it still reads (`legacy`)."""

    entry: ClassVar[type]
    format_version: ClassVar[int]
    what: ClassVar[str]
    not_read: ClassVar[str]
    legacy: ClassVar[int | None] = None

    def __init__(self, entries: Iterable[tuple[str, T]] = (), *, store: EntryStore[T] | None = None) -> None:
        """`entries` in key order (or a `store` already read)."""
        self.store: EntryStore[T] = store if store is not None else EntryStore(self.entry, entries)
        self.changed = False

    @classmethod
    def read_from(cls, target: Target, key: str) -> tuple[Found, EntryStore[T]]:
        """The stored document streamed into a store, and how the reading went (`load_entries`)."""
        return load_entries(target, key, cls.format_version, cls.entry, cls.what, cls.not_read, cls.legacy)

    def save(self, target: Target, key: str) -> None:
        self.store.write(target, key, self.format_version)
        self.changed = False

    def get(self, key: str, crc32c: str) -> T | None:
        """The entry for this exact version of `key`, if any (walk keys in ascending order: one pass;
        a merged document may hold entries of several versions of a key)."""
        return self.store.of_version(key, crc32c)

    def put(self, key: str, entry: T) -> None:
        self.store.put(key, entry)
        self.changed = True

    def items(self) -> Iterator[tuple[str, T]]:
        return self.store.items()
