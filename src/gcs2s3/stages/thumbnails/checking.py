"""`verify` for thumbnails: every delivered image has exactly the derived files WordPress makes for its
dimensions under the configured sizes, none missing, none stale, each as it was written.

Names and ETags are checked from the primary listing and the thumbnail record (record.py), which keeps
each image's header, so no image body is read. `--deep-verify` also reads and decodes every derived
file and checks its dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gcs2s3.core.errors import Gcs2s3Error, NotFoundError
from gcs2s3.core.models import Failure, Kind
from gcs2s3.core.report import StageReport
from gcs2s3.run.hooks import VerifyContext
from gcs2s3.stages.image_names import is_sized_image
from gcs2s3.stages.thumbnails.record import ThumbnailRecord
from gcs2s3.stages.thumbnails.sizes import SizeSpec
from gcs2s3.stores.protocols import Target


@dataclass(frozen=True, slots=True)
class ThumbnailCheckCounts:
    images_checked: int = 0
    files_checked: int = 0
    images_not_sized: int = 0  # recorded as not sizable (type, corrupt, over the limit): no files expected
    problems: int = 0


def verify_thumbnails(check: VerifyContext, record: ThumbnailRecord, sizes: Sequence[SizeSpec],
                      name: str) -> StageReport:
    failures: list[Failure] = []
    if not record.read:
        failures.append(Failure(".gcs2s3/thumbnails", "the thumbnail record could not be read: thumbnails not checked"))
        return StageReport(name, ThumbnailCheckCounts(problems=1), tuple(failures))
    images = not_sized = files = 0
    deep: list[tuple[str, tuple[int, int]]] = []  # (key, dimensions WordPress gives it)
    for action in check.plan.actions:
        if action.kind in (Kind.NEW, Kind.CHANGED) or not is_sized_image(action.dest_key):
            continue  # not delivered as the source has it: the object check reports that
        images += 1
        entry = record.get(action.dest_key, action.source.crc32c)
        if entry is None:
            failures.append(Failure(action.dest_key, "no thumbnails recorded for this version of the image: the next "
                                                     "sync makes them (back-fill)"))
            continue
        if entry.problem is not None:
            not_sized += 1
            continue
        expected = entry.expected(action.dest_key, sizes)
        written = entry.etags
        present = action.attached
        for key, item in expected.items():
            size = (item.width, item.height)
            wants = f"{item.width}x{item.height}"
            listed = present.get(key)
            if listed is None:
                failures.append(Failure(key, f"thumbnail missing ({wants} of {action.dest_key}): the next sync "
                                             "makes it"))
                continue
            files += 1
            recorded = written.get(item.suffix)
            if recorded and listed != recorded:
                failures.append(Failure(key, f"thumbnail changed since it was written (ETag {listed}, written "
                                             f"{recorded}): the next sync draws it again"))
            if check.deep:
                deep.append((key, size))
        for key in sorted(present - expected.keys()):
            failures.append(Failure(key, f"stale thumbnail: WordPress makes no such file for {action.dest_key} under "
                                         "the configured sizes; the next sync removes it"))
    if deep:
        with ThreadPoolExecutor(max_workers=check.settings.workers) as pool:
            found = pool.map(lambda item: _decoded_size(check.primary, item[0]), deep)
            for (key, size), got in zip(deep, found, strict=True):
                if isinstance(got, str):
                    failures.append(Failure(key, f"thumbnail {got}"))
                elif got != size:
                    failures.append(Failure(key, f"thumbnail is {got[0]}x{got[1]}, WordPress's is {size[0]}x{size[1]}"))
    counts = ThumbnailCheckCounts(images, files, not_sized, len(failures))
    return StageReport(name, counts, tuple(failures))


def _decoded_size(target: Target, key: str) -> tuple[int, int] | str:
    """The derived file's dimensions after a full decode, or what is wrong with it."""
    import pyvips  # only --deep-verify decodes

    try:
        body = target.get(key).body
    except NotFoundError:
        return "gone since the listing"
    except Gcs2s3Error as exc:
        return f"not read: {exc}"
    try:
        image = pyvips.Image.new_from_buffer(body, "", fail=True)
        image.avg()  # decodes every pixel: a truncated or corrupt file fails here
    except pyvips.Error as exc:
        return f"does not decode: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else 'error'}"
    return image.width, image.height
