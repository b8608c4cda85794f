"""Verification: does what S3 holds carry the source version's hashes?

`written_mismatch` judges one write from what S3 itself reported (single-part ETag = MD5, or the
full-object CRC32C S3 computed); `deep_mismatch` re-reads a body and hashes it; `run_verify` re-lists
source, primary and archive and reports every delivered key that differs from its source and every
current version that has no archive entry, then asks each stage to check its own output (`verify`
hook: thumbnails check each image's derived files). Like a sync it plans with the streaming planner
(run/planning.py) and finds archive entries through sorts on disk, so it holds no record per object.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gcs2s3.core.config import Settings
from gcs2s3.core.hashes import BodyHasher
from gcs2s3.core.keys import KeyRules
from gcs2s3.core.merge_join import Cursor
from gcs2s3.core.models import DestObject, Failure, Kind, Plan, SourceObject, WriteResult, is_md5_etag
from gcs2s3.core.packing import pack_dest, unpack_dest
from gcs2s3.core.report import StageReport
from gcs2s3.run.hooks import Stage, VerifyContext, claims_of
from gcs2s3.run.listings import archive_listing, primary_listing, source_listing
from gcs2s3.run.planning import plan_streamed
from gcs2s3.run.sorting import ExternalSorter
from gcs2s3.stores.protocols import Stores, Target

DEEP_CHUNK = 1024 * 1024
log = logging.getLogger(__name__)


def written_mismatch(source: SourceObject, reported: WriteResult | DestObject) -> tuple[str | None, str | None]:
    """(evidence used, problem) for an object S3 reported; problem None means it matches the source.

    Every piece of evidence S3 gave must agree; evidence None means S3 gave none we can use (the
    caller asks again with a HEAD).
    """
    used = []
    if reported.crc32c:
        if reported.crc32c != source.crc32c:
            return "crc32c", f"S3 reports CRC32C {reported.crc32c}, source has {source.crc32c}"
        used.append("crc32c")
    if source.md5 and is_md5_etag(reported.etag):
        if reported.etag != source.md5:
            return "etag-md5", f"S3 reports MD5 {reported.etag}, source has {source.md5}"
        used.append("etag-md5")
    return ("+".join(used) or None), None


def deep_mismatch(target: Target, key: str, source: SourceObject) -> str | None:
    """Read the whole body back from S3 and compare its hashes with the source's."""
    hasher = BodyHasher()
    for chunk in target.open(key, DEEP_CHUNK):
        hasher.update(chunk)
    problem = hasher.mismatch(source)
    return f"body read back: {problem}" if problem else None


def confirm(
    target: Target, key: str, source: SourceObject, reported: WriteResult | DestObject
) -> tuple[str | None, str | None]:
    """`written_mismatch` of what S3 reported, asking S3 again with a HEAD when that proved nothing."""
    evidence, problem = written_mismatch(source, reported)
    if evidence is None:
        head = target.head(key)
        if head is None:
            return None, "not found"
        evidence, problem = written_mismatch(source, head)
    return evidence, problem


def check_object(target: Target, listed: DestObject, source: SourceObject, deep: bool) -> str | None:
    """Problem with one listed target object, HEADing it only when its listing proves nothing."""
    if listed.size != source.size:
        return f"size {listed.size}, source has {source.size}"
    evidence, problem = confirm(target, listed.key, source, listed)
    if problem is None and evidence is None:
        problem = "S3 reports neither an MD5 ETag nor a CRC32C for it; use --deep-verify"
    if problem is None and deep:
        problem = deep_mismatch(target, listed.key, source)
    return problem


@dataclass(slots=True)
class VerifyResult:
    checked: int = 0
    archive_checked: int = 0
    problems: list[Failure] = field(default_factory=list)
    refused: list[Failure] = field(default_factory=list)
    stage_reports: list[StageReport] = field(default_factory=list)  # their failures are also in `problems`

    @property
    def ok(self) -> bool:
        return not self.problems


def run_verify(
    settings: Settings,
    stores: Stores,
    *,
    deep: bool = False,
    on_progress: Callable[[int], None] | None = None,
    stages: Sequence[Stage] = (),
) -> VerifyResult:
    """Re-list everything and check every current source version against both targets, then let each
    stage check its output (`stages`: the configured ones; their claims are respected as in a sync)."""
    rules = settings.key_rules
    with ThreadPoolExecutor(max_workers=2) as pool:  # all three listings at once
        archived = pool.submit(ExternalSorter().extend, _pairs(archive_listing(settings, stores.archive)))
        plan, _ = plan_streamed(rules, source_listing(settings, stores.source),
                                primary_listing(settings, stores.primary), claimants=claims_of(stages),
                                background=pool)
        archive = archived.result()
    result = VerifyResult(refused=[Failure(r.name, r.reason) for r in plan.refused])
    for action, entry in zip(plan.actions, _archive_entries(rules, plan, archive), strict=True):
        source = action.source
        if action.kind is Kind.NEW:
            missing = "not delivered: missing from the primary target"
            result.problems.append(Failure(action.dest_key, missing))
        else:
            problem = check_object(stores.primary, action.existing, source, deep)  # type: ignore[arg-type]
            if problem:
                result.problems.append(Failure(action.dest_key, problem))
        result.checked += 1
        if entry is None:
            result.problems.append(Failure(action.archive_key, "no archive entry for the current version"))
        else:
            problem = check_object(stores.archive, entry, source, deep)
            if problem:
                result.problems.append(Failure(entry.key, f"archive entry: {problem}"))
            result.archive_checked += 1
        if on_progress:
            on_progress(result.checked)
    check = VerifyContext(settings, stores.primary, plan, deep)
    try:
        for stage in stages:
            report = stage.verify(check)
            if report is not None:
                result.stage_reports.append(report)
                result.problems.extend(report.failures)
    finally:
        for stage in stages:
            stage.close()
    for problem in result.problems + result.refused:
        log.error("verify: %s: %s", problem.key, problem.reason, extra={"key": problem.key, "reason": problem.reason})
    return result


def _pairs(listing: Iterable[DestObject]) -> Iterator[tuple[bytes, bytes]]:
    for obj in listing:
        yield obj.key.encode("utf-8", "surrogatepass"), pack_dest(obj)


_INDEX = struct.Struct(">QB")  # action number, 0 = the generation-qualified name, 1 = the plain one


def _archive_entries(
    rules: KeyRules, plan: Plan, archive: Iterable[tuple[bytes, bytes]]
) -> Iterator[DestObject | None]:
    """For each action of `plan`, in its order, its current version's archive entry (None when there is
    none): the generation-qualified name (it exists only when two versions shared a creation second),
    else the plain one. Two sorts on disk instead of a dict of the whole archive: the names wanted,
    joined with the archive listing by name, then the hits put back in plan order."""
    wanted = ExternalSorter()
    for number, action in enumerate(plan.actions):
        source = action.source
        fallback = rules.archive_key(action.dest_key, source.created, source.generation)
        wanted.add(fallback.encode("utf-8", "surrogatepass"), _INDEX.pack(number, 0))
        wanted.add(action.archive_key.encode("utf-8", "surrogatepass"), _INDEX.pack(number, 1))
    hits = ExternalSorter()
    listed = Cursor(archive)
    for key, index in wanted:
        entry = listed.peek(key)
        if entry is not None:
            hits.add(index, entry)
    found = iter(hits)
    hit = next(found, None)
    for number in range(len(plan.actions)):
        best: DestObject | None = None
        while hit is not None and _INDEX.unpack(hit[0])[0] == number:
            if best is None:  # the generation-qualified name sorts first
                best = unpack_dest(hit[1])
            hit = next(found, None)
        yield best
