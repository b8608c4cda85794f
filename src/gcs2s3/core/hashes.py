"""Streaming MD5 + CRC32C in the forms GCS and S3 report them, and the comparison with a listing.

CRC32C comes from awscrt (already needed by boto3[crt]): fast, incremental, and it takes any buffer,
so bodies held in a bytearray are never copied to be hashed.
"""

from __future__ import annotations

import base64
import hashlib

from awscrt import checksums

from gcs2s3.core.models import SourceObject


def _b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")


def crc32c_b64(data: bytes | bytearray) -> str:
    return _b64(checksums.crc32c(data))


class BodyHasher:
    """MD5 and CRC32C of bytes fed in order, without keeping them."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc = 0
        self.size = 0

    def update(self, chunk: bytes | bytearray) -> None:
        self._md5.update(chunk)
        self._crc = checksums.crc32c(chunk, self._crc)
        self.size += len(chunk)

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    @property
    def md5_b64(self) -> str:
        return base64.b64encode(self._md5.digest()).decode("ascii")

    @property
    def crc32c(self) -> str:
        return _b64(self._crc)

    def mismatch(self, source: SourceObject) -> str | None:
        """Why these bytes are not the listed version, or None when size and every known hash agree."""
        if self.size != source.size:
            return f"read {self.size} bytes, listing says {source.size}"
        if self.crc32c != source.crc32c:
            return f"CRC32C {self.crc32c} of the bytes read differs from the listing's {source.crc32c}"
        if source.md5 is not None and self.md5_hex != source.md5:
            return f"MD5 {self.md5_hex} of the bytes read differs from the listing's {source.md5}"
        return None
