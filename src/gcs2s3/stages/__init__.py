"""Stages: features that ride along with delivery through the hooks of run/hooks.py (thumbnails,
WordPress posting). They consume what a run delivered, never a listing of a target.

`stages_for(settings)` gives the stages the settings turn on, in the order they run (thumbnails
before posting: WordPress gets the image after its derived files are in place).
"""

from __future__ import annotations

from gcs2s3.core.config import Settings
from gcs2s3.run.hooks import Stage


def stages_for(settings: Settings) -> list[Stage]:
    from gcs2s3.stages.thumbnails import Thumbnailer
    from gcs2s3.stages.wordpress import WordPressStage

    stages: list[Stage] = []
    if settings.thumbnails:
        stages.append(Thumbnailer(settings))
    if settings.posts_to_wordpress:
        stages.append(WordPressStage(settings))
    return stages
