"""Stages: features that ride along with delivery through the hooks of run/hooks.py (thumbnails,
WordPress posting). They consume what a run delivered, never a listing of a target.

`stages_for(settings)` gives the stages the settings turn on, in the order they run (thumbnails
before posting: WordPress gets the image after its derived files are in place).
"""

from __future__ import annotations

from gcs2s3.core.config import Settings
from gcs2s3.run.hooks import Stage


def stages_for(settings: Settings) -> list[Stage]:
    """The stages `settings` turn on; a ConfigError when a stage's own settings are wrong (checked
    whether the stage is on or not: a typo must not wait for the day it is turned on)."""
    from gcs2s3.stages.thumbnails import Thumbnailer
    from gcs2s3.stages.thumbnails.sizes import parse_sizes
    from gcs2s3.stages.wordpress import WordPressStage

    parse_sizes(settings.thumbnail_sizes)
    stages: list[Stage] = []
    if settings.thumbnails:
        stages.append(Thumbnailer(settings))
    if settings.posts_to_wordpress:
        stages.append(WordPressStage(settings))
    return stages
