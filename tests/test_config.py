"""Settings: the template loads, every bad setting is exit 2 with one line saying what to fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import cli

from gcs2s3.core.config import load_settings
from gcs2s3.core.errors import ConfigError
from gcs2s3.stages import stages_for
from gcs2s3.stages.thumbnails.sizes import configured_sizes, parse_sizes

ROOT = Path(__file__).resolve().parent.parent
BASE = {
    "gcs_bucket": "incoming-stage",
    "path": "exports/",
    "s3_bucket": "media-stage",
    "archive_bucket": "media-archive",
    "archive_prefix": "archive/",
}


def write(tmp_path: Path, extra: str = "", text: str | None = None) -> Path:
    """A settings file: BASE with `extra` lines (key = value) overriding or adding keys."""
    values = dict(BASE)
    for line in filter(None, extra.splitlines()):
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    if text is None:
        text = "[DEFAULT]\naws_region = us-east-1\n\n[Stage]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
    path = tmp_path / "primary.ini"
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path, level: str | None = "Stage") -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, level)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_template_has_the_design_keys_and_loads_for_both_levels() -> None:
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "template_primary.ini")
    design_keys = {
        "aws_region", "gcs_key_file", "gcs_bucket", "path", "s3_bucket", "s3_prefix", "archive_bucket",
        "archive_prefix", "wordpress_modification_for_s3_upload_plugin", "thumbnails", "thumbnail_sizes",
        "wordpress_url", "wordpress_user", "wordpress_app_password", "notify_sns_topic_arn", "notify_webhook_url",
        # added in the DESIGN's style by later features
        "notify_on", "report_prefix",
    }
    for level in ("Stage", "Prod"):
        assert set(parser[level]) == design_keys
        settings = load_settings(ROOT / "template_primary.ini", level)
        assert settings.dev_level == level and settings.flatten
        assert settings.gcs_key_file == ROOT / "key/service-account.json"
    assert len(parse_sizes(parser["Stage"]["thumbnail_sizes"])) == 6


def test_level_from_environment_and_case_insensitive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DevLevel", "stage")
    assert load_settings(write(tmp_path), None).dev_level == "Stage"


def test_booleans(tmp_path: Path) -> None:
    for word, value in (("yes", True), ("0", False), ("TRUE", True), ("no", False)):
        path = write(tmp_path, f"wordpress_modification_for_s3_upload_plugin = {word}")
        assert load_settings(path, "Stage").flatten is value
    assert "not a boolean" in error(write(tmp_path, "wordpress_modification_for_s3_upload_plugin = maybe"))


def test_no_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DevLevel", raising=False)
    message = error(write(tmp_path), None)
    assert "--dev-level" in message and "DevLevel" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("thumbnail = true", "thumbnail: unknown key (did you mean thumbnails?)"),
        ("notify_sns_topic = x", "notify_sns_topic: unknown key (did you mean notify_sns_topic_arn?)"),
        ("colour = blue", "colour: unknown key (a typo? template_primary.ini lists every key)"),
        ("path = /exports/", "must not start with '/'"),
        ("s3_bucket = media-archive\narchive_prefix = ", "overlaps the primary target"),
        ("gcs_bucket = Not_A_Bucket!", "not a valid bucket name"),
        ("workers = 0", "workers"),
        ("thumbnail_max_pixels = 0", "thumbnail_max_pixels"),
        ("shard = 3/3", "shard: '3/3': need 0 <= i < N"),
        ("shard = half", "shard: 'half' is not i/N"),
    ],
)
def test_bad_settings(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in error(write(tmp_path, extra))


@pytest.mark.parametrize(("sizes", "expected"), [
    ("big:large", "not name:WIDTHxHEIGHT"),
    ("a:100x100, a:200x0", "the name 'a' is given twice"),
    ("huge:0x0", "unbounded on both sides"),
])
def test_bad_thumbnail_sizes_are_refused_by_their_stage_even_when_it_is_off(tmp_path: Path, sizes: str,
                                                                             expected: str) -> None:
    settings = load_settings(write(tmp_path, f"thumbnail_sizes = {sizes}"), "Stage")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        stages_for(settings)
    assert expected in cli("plan", "--config", str(write(tmp_path, f"thumbnail_sizes = {sizes}")),
                           "--dev-level", "Stage").stderr


def test_thumbnail_sizes_default_to_wordpress_and_workers_to_cores(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "thumbnails = true\nthumbnail_sizes ="), "Stage")
    assert [(s.name, s.width, s.height, s.crop) for s in configured_sizes(settings.thumbnail_sizes)] == [
        ("thumbnail", 150, 150, True), ("medium", 300, 300, False), ("medium_large", 768, 0, False),
        ("large", 1024, 1024, False), ("1536x1536", 1536, 1536, False), ("2048x2048", 2048, 2048, False)]
    assert settings.thumbnail_processes >= 1 and settings.thumbnail_max_pixels == 100_000_000
    own = load_settings(write(tmp_path, "thumbnail_sizes = square:64x64:crop\nthumbnail_workers = 3"), "Stage")
    assert [s.name for s in configured_sizes(own.thumbnail_sizes)] == ["square"] and own.thumbnail_processes == 3


def test_wordpress_password_only_over_https_and_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCS2S3_WORDPRESS_APP_PASSWORD", "abcd efgh ijkl mnop")
    site = "wordpress_user = editor\nwordpress_url = "
    for url in ("http://blog.example.com", "http://10.0.0.5:8080/wp"):
        message = error(write(tmp_path, site + url))
        assert "unencrypted" in message and "https://" in message and "abcd" not in message
    assert "not a URL" in error(write(tmp_path, site + "blog.example.com"))
    for url in ("https://blog.example.com/", "http://127.0.0.1:8080", "http://localhost/wp"):
        assert load_settings(write(tmp_path, site + url), "Stage").posts_to_wordpress
    assert "wordpress_user is blank" in error(write(tmp_path, "wordpress_url = https://blog.example.com"))
    monkeypatch.delenv("GCS2S3_WORDPRESS_APP_PASSWORD")
    message = error(write(tmp_path, site + "https://blog.example.com"))
    assert "GCS2S3_WORDPRESS_APP_PASSWORD" in message and "Application Passwords" in message


def test_overlap_both_ways_and_siblings_allowed(tmp_path: Path) -> None:
    same = "s3_bucket = media-archive\n"
    assert "overlaps" in error(write(tmp_path, same + "s3_prefix = archive/new/"))
    assert "overlaps" in error(write(tmp_path, same + "s3_prefix = arch"))
    assert load_settings(write(tmp_path, same + "s3_prefix = uploads/"), "Stage").s3_prefix == "uploads/"


def test_missing_file_section_and_malformed_file(tmp_path: Path) -> None:
    assert "template_primary.ini" in error(tmp_path / "nope.ini")
    assert "no [Prod] section" in error(write(tmp_path), "Prod")
    assert "cannot be read" in error(write(tmp_path, text="gcs_bucket = x\n"))
    assert "missing" in error(write(tmp_path, text="[Stage]\npath = x/\n"))
    assert "already exists" in error(write(tmp_path, text="[Stage]\npath = x/\npath = y/\n"))


def test_secret_from_environment_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCS2S3_WORDPRESS_APP_PASSWORD", "abcd efgh ijkl")
    settings = load_settings(write(tmp_path), "Stage")
    assert settings.wordpress_app_password.get_secret_value() == "abcd efgh ijkl"
    assert "abcd" not in repr(settings) and "abcd" not in str(settings.model_dump())


def test_the_template_comments_every_key_and_shares_what_both_levels_share() -> None:
    """Every setting appears in template_primary.ini, set or as a commented default, with a comment
    before it; the environment variables that stand in for secrets are named there too."""
    import configparser

    from gcs2s3.core.config import SECRET_ENV, Settings
    from gcs2s3.stores.gcs import KEY_JSON_ENV

    template = (Path(__file__).resolve().parent.parent / "template_primary.ini").read_text()
    lines = template.splitlines()
    for key in Settings.model_fields:
        if key == "dev_level":
            continue
        found = [i for i, line in enumerate(lines) if re.match(rf"^;? ?{key} =", line)]
        assert found, f"{key} is not in the template"
        assert lines[found[0] - 1].startswith(";"), f"{key} has no comment before it"
    for variable in (*SECRET_ENV.values(), KEY_JSON_ENV, "GCS2S3_SHARD", "DevLevel"):
        assert variable in template, variable
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(template)
    stage, prod = dict(parser.items("Stage")), dict(parser.items("Prod"))
    own = {k for k in parser["Stage"] if k not in parser.defaults()} & {k for k in parser["Prod"]
                                                                         if k not in parser.defaults()}
    same = {k for k in own if stage[k] == prod[k]}
    assert not same, f"the same in both levels: move to [DEFAULT]: {sorted(same)}"
