"""Sharding one sync across N tasks: shard i of N takes the source names whose stable hash falls in i.

The hash is BLAKE2b of the name's UTF-8 bytes, so the split is the same on every machine and in every
Python (the built-in `hash` of a string changes with the interpreter's seed). Every shard still lists
and checks every name, so a collision between names of two shards is refused by all of them; only
the deciding and the doing are split. Each shard keeps its own state cache and posting ledger, so N
tasks running at once never write the same bookkeeping object.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from gcs2s3.core.keys import RESERVED_SEGMENT

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 4096


def shard_of(name: str, count: int) -> int:
    """Which of `count` shards a source name belongs to."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/N` with 0 <= i < N."""
        match = _SPEC.match(text)
        if not match:
            raise ValueError(f"shard {text!r} is not i/N (e.g. 0/3 for the first of three shards)")
        index, count = int(match[1]), int(match[2])
        if not 1 <= count <= MAX_SHARDS or not 0 <= index < count:
            raise ValueError(f"shard {text!r}: need 0 <= i < N <= {MAX_SHARDS} (shards are numbered from 0)")
        return cls(index, count)

    def owns(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def file_suffix(self) -> str:
        """What the shard's own bookkeeping objects carry in their names."""
        return f".{self.index}-of-{self.count}"


def bookkeeping_key(s3_prefix: str, stem: str, shard: Shard | None, extension: str = "") -> str:
    """`<s3_prefix>.gcs2s3/<stem>[.i-of-N]<extension>`: one of our own objects (the state cache, the
    posting ledger, the lease); each shard has its own."""
    return f"{s3_prefix}{RESERVED_SEGMENT}/{stem}{shard.file_suffix if shard else ''}{extension}"
