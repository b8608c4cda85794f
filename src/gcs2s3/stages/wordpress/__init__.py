"""The WordPress stage: delivered images posted to a WordPress media library over its REST API.

`stage` holds the hooks; `posting` decides what to post and posts it; `ledger` remembers what
WordPress has; `site` is the REST client (requests errors mapped to the error tree there).
"""

from gcs2s3.stages.wordpress.stage import WordPressCounts, WordPressStage

__all__ = ["WordPressCounts", "WordPressStage"]
