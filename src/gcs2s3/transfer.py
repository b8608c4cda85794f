"""Moving the bytes of one source version into one S3 key, streaming, with end-to-end checks.

Small objects go in one PUT; larger ones in parts read by byte range from GCS. Memory held is one
part (at most `part_size` bytes) per call, whatever the object's size, and all calls together stay
within a shared ByteBudget. The bytes read are hashed as they pass and compared with the listing
before the upload is completed, and S3 is given checksums to validate on receipt, so neither a
corrupted read nor a corrupted upload can land. A failed multipart
upload is aborted: nothing partial is left behind.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping

from gcs2s3.budget import ByteBudget
from gcs2s3.errors import Gcs2s3Error, IntegrityError
from gcs2s3.hashes import BodyHasher, crc32c_b64
from gcs2s3.models import SourceObject, WriteResult
from gcs2s3.stores.base import SourceStore, TargetStore

MAX_PARTS = 10_000  # S3's limit on parts per upload


def part_size_for(size: int, part_size: int) -> int:
    """The configured part size, grown when needed so no object takes more than MAX_PARTS parts."""
    return max(part_size, math.ceil(size / MAX_PARTS))


def stream_version(
    source_store: SourceStore,
    target: TargetStore,
    source: SourceObject,
    bucket: str,
    key: str,
    *,
    metadata: Mapping[str, str],
    part_size: int,
    threshold: int,
    if_absent: bool,
    budget: ByteBudget,
) -> WriteResult:
    """Copy exactly `source` (its listed generation) to s3://bucket/key; returns what S3 reported.

    Each body or part is read only once `budget` has room for it, and held until S3 has it.
    """
    if source.size <= threshold:
        with budget.hold(source.size):
            body = source_store.read(source, 0, source.size)
            hasher = BodyHasher()
            hasher.update(body)
            _check(hasher, source, key)
            return target.put(
                bucket, key, body, md5_b64=hasher.md5_b64, crc32c=hasher.crc32c, metadata=metadata,
                if_absent=if_absent,
            )

    size = part_size_for(source.size, part_size)
    upload_id = target.create_multipart(bucket, key, metadata)
    try:
        hasher = BodyHasher()
        parts: list[tuple[int, str, str]] = []
        for number, start in enumerate(range(0, source.size, size), start=1):
            end = min(start + size, source.size)
            with budget.hold(end - start):
                chunk = source_store.read(source, start, end)
                hasher.update(chunk)
                crc = crc32c_b64(chunk)
                parts.append((number, target.upload_part(bucket, key, upload_id, number, chunk, crc), crc))
                del chunk
        _check(hasher, source, key)
        return target.complete_multipart(bucket, key, upload_id, parts, crc32c=hasher.crc32c, if_absent=if_absent)
    except BaseException:
        with contextlib.suppress(Gcs2s3Error):
            target.abort_multipart(bucket, key, upload_id)
        raise


def _check(hasher: BodyHasher, source: SourceObject, key: str) -> None:
    problem = hasher.mismatch(source)
    if problem:
        raise IntegrityError(f"{source.name!r} (generation {source.generation}) for {key}: {problem}")
