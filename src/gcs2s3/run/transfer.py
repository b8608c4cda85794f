"""Moving the bytes of one source version into one S3 key, streaming, with end-to-end checks; and
copying one S3 object to another key server-side, in parts when it is large.

Small objects go in one PUT, with the listing's MD5 as Content-MD5 and the CRC32C computed as they
pass (no local MD5: S3 checks the bytes against the listing's). Larger ones are read from GCS part by
part (ranged reads of the listed generation, in order, so the whole-object CRC32C is computed as the
bytes pass) and each part is handed to a shared pool of uploaders, so several parts of one object are
in flight at once. Every part takes its room in the shared ByteBudget before it is read (and a
part-size buffer from the BufferPool) and gives both back once S3 has it: memory is bounded by the
budget, never by the object's size. The object's hashes are compared with
the listing before the upload is completed, and S3 is given per-part CRC32Cs and the full-object
CRC32C to validate on receipt, so neither a corrupted read nor a corrupted upload can land. A failed
multipart upload is aborted: nothing partial is left behind.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from dataclasses import dataclass, replace
from typing import BinaryIO

from gcs2s3.core.errors import Gcs2s3Error, IntegrityError
from gcs2s3.core.hashes import BodyHasher, crc32c_b64, md5_hex_to_b64
from gcs2s3.core.models import PutOptions, SourceObject, WriteResult
from gcs2s3.run.budget import BufferPool, ByteBudget
from gcs2s3.run.stopping import StopFlag
from gcs2s3.stores.protocols import MultipartTarget, Part, Source, Target, multipart

MAX_PARTS = 10_000  # S3's limit on parts per upload


def part_size_for(size: int, part_size: int) -> int:
    """The configured part size, grown when needed so no object takes more than MAX_PARTS parts."""
    return max(part_size, math.ceil(size / MAX_PARTS))


def part_ranges(size: int, part_size: int) -> list[tuple[int, int, int]]:
    """(part number, start, end) covering [0, size) in parts of `part_size_for(size, part_size)`."""
    step = part_size_for(size, part_size)
    return [(n, start, min(start + step, size)) for n, start in enumerate(range(0, size, step), start=1)]


@dataclass(frozen=True, slots=True)
class PartTransport:
    """How to move bytes: the part layout, the memory budget and the pool that uploads parts."""

    part_size: int
    threshold: int
    budget: ByteBudget
    uploaders: Executor
    buffers: BufferPool
    stop: StopFlag


def stream_version(
    source_store: Source,
    target: Target,
    source: SourceObject,
    key: str,
    options: PutOptions,
    how: PartTransport,
    spool: BinaryIO | None = None,
) -> WriteResult:
    """Copy exactly `source` (its listed generation) to `key` with these headers, metadata and mode;
    returns what S3 reported.

    With `spool`, the bytes are also written to that file as they pass (it is emptied first): once the
    write is done, or refused because the key exists, the file holds the version, hash-checked.
    """
    if spool is not None:
        spool.seek(0)
        spool.truncate()
    if source.size <= how.threshold:
        return _put_whole(source_store, target, source, key, options, how, spool)
    what = f"{key} ({source.size:,} bytes, over the multipart threshold)"
    return _upload_in_parts(source_store, multipart(target, what), source, key, options, how, spool)


def _put_whole(source_store: Source, target: Target, source: SourceObject, key: str, options: PutOptions,
               how: PartTransport, spool: BinaryIO | None) -> WriteResult:
    """One read, one PUT with the listing's MD5 as Content-MD5 and the CRC32C of the bytes read."""
    with how.budget.hold(source.size), how.buffers.lent(source.size) as reused:
        body = source_store.read(source, 0, source.size, reused)
        if spool is not None:
            spool.write(body)
            spool.flush()
        hasher = BodyHasher(md5=False)  # the server checks the listing's MD5 (Content-MD5)
        hasher.update(body)
        _check(hasher, source, key)
        md5 = md5_hex_to_b64(source.md5) if source.md5 else None
        return target.put(key, body, replace(options, crc32c=hasher.crc32c, md5_b64=md5))


def _upload_in_parts(source_store: Source, target: MultipartTarget, source: SourceObject, key: str,
                     options: PutOptions, how: PartTransport, spool: BinaryIO | None) -> WriteResult:
    """Parts read in order, uploaded by the shared pool, completed with the whole object's CRC32C."""
    upload_id = target.create_multipart(key, options)
    uploads: list[Future[Part]] = []
    failures: list[BaseException] = []  # filled as uploads fail, so reading stops at the next part
    with _aborting_on_failure(target, key, upload_id, uploads):
        hasher = BodyHasher(md5=False)  # parts carry CRC32Cs; the completion the listing's full CRC32C
        for number, start, end in part_ranges(source.size, how.part_size):
            if failures:
                raise failures[0]
            how.stop.check()
            taken = how.budget.acquire(end - start)
            reused = how.buffers.take(end - start)
            try:
                chunk = source_store.read(source, start, end, reused)
                if spool is not None:
                    spool.write(chunk)
                hasher.update(chunk)
                crc = crc32c_b64(chunk)
            except BaseException:
                if reused is not None:
                    how.buffers.give(reused)
                how.budget.release(taken)
                raise

            def upload(number: int = number, chunk: bytearray = chunk, crc: str = crc) -> Part:
                return number, target.upload_part(key, upload_id, number, chunk, crc), crc

            future = how.uploaders.submit(upload)
            # Given back when the part is uploaded, failed or cancelled before it started: the buffer
            # first, so whoever the budget lets in next finds it.
            future.add_done_callback(lambda _, chunk=chunk: how.buffers.give(chunk))
            future.add_done_callback(lambda _, taken=taken: how.budget.release(taken))
            future.add_done_callback(lambda done: failures.extend(_failure(done)))
            uploads.append(future)
            del chunk, upload
        if spool is not None:
            spool.flush()
        parts = _results(uploads)
        _check(hasher, source, key)
        return target.complete_multipart(key, upload_id, parts, crc32c=hasher.crc32c, mode=options.mode)


def copy_in_parts(
    target: MultipartTarget,
    source: SourceObject,
    src: tuple[Target, str],
    key: str,
    options: PutOptions,
    *,
    part_size: int,
    copiers: Executor,
) -> WriteResult:
    """Server-side copy of `src` to `key` with UploadPartCopy (needed beyond CopyObject's 5 GB); the
    completion carries the source version's CRC32C, which S3 checks against the copied parts."""
    upload_id = target.create_multipart(key, options)
    copies: list[Future[Part]] = []
    with _aborting_on_failure(target, key, upload_id, copies):

        def copy_part(number: int, start: int, end: int) -> Part:
            return number, *target.copy_part(key, upload_id, number, src, start, end)

        copies.extend(copiers.submit(copy_part, *span) for span in part_ranges(source.size, part_size))
        parts = _results(copies)
        return target.complete_multipart(key, upload_id, parts, crc32c=source.crc32c, mode=options.mode)


@contextlib.contextmanager
def _aborting_on_failure(target: MultipartTarget, key: str, upload_id: str,
                         parts: list[Future[Part]]) -> Iterator[None]:
    """On any failure, let the parts already sent settle (cancel the others), then abort the upload:
    S3 may keep a part that was still arriving when the abort came."""
    try:
        yield
    except BaseException:
        for future in parts:
            future.cancel()
        wait(parts)
        with contextlib.suppress(Gcs2s3Error):
            target.abort_multipart(key, upload_id)
        raise


def _failure(future: Future[Part]) -> list[BaseException]:
    exc = None if future.cancelled() else future.exception()
    return [exc] if exc is not None else []


def _results(futures: list[Future[Part]]) -> list[Part]:
    """All parts in order; raises the first failure as soon as it happens (the enclosing
    `_aborting_on_failure` then settles the other parts and aborts the upload)."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    for future in futures:
        if future in done:
            for exc in _failure(future):
                raise exc
    return [future.result() for future in futures]


def _check(hasher: BodyHasher, source: SourceObject, key: str) -> None:
    problem = hasher.mismatch(source)
    if problem:
        raise IntegrityError(f"{source.name!r} (generation {source.generation}) for {key}: {problem}")

