"""The thumbnails stage: WordPress-named derived files beside each delivered image.

`thumbnailer` is the stage (hooks, the drawing pool, the writes); `render` draws one image with
libvips; `sizes` is WordPress's size arithmetic.
"""

from gcs2s3.stages.thumbnails.thumbnailer import ThumbnailCounts, Thumbnailer, ThumbnailOutcome

__all__ = ["ThumbnailCounts", "ThumbnailOutcome", "Thumbnailer"]
