"""Streaming CRC32C (+ MD5 where needed) in the forms GCS and S3 report them, and the comparison with
a listing.

CRC32C comes from awscrt (already needed by boto3[crt]): fast, incremental, and it takes any buffer,
so bodies held in a bytearray are never copied to be hashed. MD5 is some thirty times slower, so the
data path does not compute it: the listing's MD5 goes to S3 as Content-MD5 and the server checks the
bytes against it (as rclone does); only small bodies we make ourselves and `--deep-verify` hash MD5.
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


def md5_hex_to_b64(md5_hex: str) -> str:
    """A listing's hex MD5 in Content-MD5's form (base64 of the 16 bytes)."""
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")


class BodyHasher:
    """CRC32C (and, with `md5`, MD5) of bytes fed in order, without keeping them."""

    def __init__(self, md5: bool = True) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._crc = 0
        self.size = 0

    def update(self, chunk: bytes | bytearray) -> None:
        if self._md5 is not None:
            self._md5.update(chunk)
        self._crc = checksums.crc32c(chunk, self._crc)
        self.size += len(chunk)

    @property
    def md5_hex(self) -> str:
        if self._md5 is None:
            raise ValueError("this hasher does not compute MD5")
        return self._md5.hexdigest()

    @property
    def md5_b64(self) -> str:
        return md5_hex_to_b64(self.md5_hex)

    @property
    def crc32c(self) -> str:
        return _b64(self._crc)

    def mismatch(self, source: SourceObject) -> str | None:
        """Why these bytes are not the listed version, or None when size and every known hash agree."""
        if self.size != source.size:
            return f"read {self.size} bytes, listing says {source.size}"
        if self.crc32c != source.crc32c:
            return f"CRC32C {self.crc32c} of the bytes read differs from the listing's {source.crc32c}"
        if source.md5 is not None and self._md5 is not None and self.md5_hex != source.md5:
            return f"MD5 {self.md5_hex} of the bytes read differs from the listing's {source.md5}"
        return None
