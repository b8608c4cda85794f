"""Streaming MD5 + CRC32C in the forms GCS and S3 report them, and the comparison with a listing."""

from __future__ import annotations

import base64
import hashlib

import google_crc32c

from gcs2s3.models import SourceObject


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode("ascii")


class BodyHasher:
    """MD5 and CRC32C of bytes fed in order, without keeping them."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc = google_crc32c.Checksum()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._crc.update(chunk)
        self.size += len(chunk)

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    @property
    def md5_b64(self) -> str:
        return base64.b64encode(self._md5.digest()).decode("ascii")

    @property
    def crc32c(self) -> str:
        return base64.b64encode(self._crc.digest()).decode("ascii")

    def mismatch(self, source: SourceObject) -> str | None:
        """Why these bytes are not the listed version, or None when size and every known hash agree."""
        if self.size != source.size:
            return f"read {self.size} bytes, listing says {source.size}"
        if self.crc32c != source.crc32c:
            return f"CRC32C {self.crc32c} of the bytes read differs from the listing's {source.crc32c}"
        if source.md5 is not None and self.md5_hex != source.md5:
            return f"MD5 {self.md5_hex} of the bytes read differs from the listing's {source.md5}"
        return None
