"""Posting to a real WordPress (Debian's package, MariaDB, PHP's built-in server) over its REST API."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import World, cli, gradient, photo
from proxy import Proxy
from test_crash import LEASE_EXPIRY_S, kill_when_trapped, once, start_sync
from test_sync import sync_json

from gcs2s3.stages.image_names import find_thumbnail_claims
from gcs2s3.testing.wordpress_peer import WordPress, missing, running_wordpress

pyvips = pytest.importorskip("pyvips")


def _peer(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Iterator[WordPress]:
    lacks = missing()
    if lacks:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have a WordPress peer; missing {lacks} (scripts/install_system_packages.sh)")
        pytest.skip(f"no WordPress peer here: missing {lacks}")
    with running_wordpress(tmp_path_factory.mktemp("wp"), serve=True, **options) as wp:
        yield wp


@pytest.fixture(scope="module")
def wp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    yield from _peer(tmp_path_factory)


def site(wp: WordPress, url: str | None = None, password: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(INI keys, environment) that point a sync at `wp`."""
    ini = {"wordpress_url": url or wp.url, "wordpress_user": wp.user}
    return ini, {"GCS2S3_WORDPRESS_APP_PASSWORD": password or wp.app_password}


def media(wp: WordPress, **params: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{wp.url}/wp-json/wp/v2/media", params={"per_page": "100", "context": "edit", **params},
                          auth=(wp.user, wp.app_password), timeout=30)
    answer.raise_for_status()
    return list(answer.json())


def test_delivered_images_are_posted_once_and_a_changed_one_again(world: World, wp: WordPress) -> None:
    one = f"one-{world.gcs_bucket}"  # one WordPress serves the tests of both S3 servers: names unique to each
    world.put(f"shots/{one}.jpg", photo(800, 600))
    world.put("shots/two.png", photo(300, 400, ".png"))
    world.put("shots/notes.csv", b"not an image\n")
    ini, env = site(wp)
    code, report = sync_json(world, env=env, **ini)
    assert code == 0, report
    assert report["wordpress"] == {"posted": 2, "found_already_posted": 0, "failed": 0, "not_started": 0}
    posted = {m["key"]: m for m in report["media"]}
    assert set(posted) == {f"shots/{one}.jpg", "shots/two.png"}
    first = posted[f"shots/{one}.jpg"]
    item = requests.get(f"{wp.url}/wp-json/wp/v2/media/{first['media_id']}",
                        auth=(wp.user, wp.app_password), timeout=30).json()
    assert item["title"]["rendered"] == one and item["media_details"]["file"].endswith(f"/{one}.jpg")
    assert requests.get(first["url"], timeout=30).content == world.keys()[f"shots/{one}.jpg"]
    assert wp.app_password not in str(report)

    code, again = sync_json(world, env=env, **ini)
    assert code == 0 and again["wordpress"]["posted"] == 0 and "media" not in again

    time.sleep(1.05)
    world.put(f"shots/{one}.jpg", photo(640, 480))
    code, changed = sync_json(world, env=env, **ini)
    assert code == 0 and changed["wordpress"]["posted"] == 1
    new_id = changed["media"][0]["media_id"]
    assert new_id != first["media_id"]
    assert {new_id, first["media_id"]} <= {m["id"] for m in media(wp)}  # the old item is left alone


def test_a_run_that_died_before_recording_its_posts_never_posts_twice(world: World, wp: WordPress) -> None:
    world.put("a.jpg", photo(400, 300))
    world.put("b.gif", photo(200, 100, ".gif"))
    ini, env = site(wp)
    assert sync_json(world, env=env, **ini)[0] == 0
    before = len(media(wp))
    # What a run killed after posting and before writing its ledger leaves behind:
    world.s3.put_object(Bucket=world.s3_bucket, Key=".gcs2s3/wordpress.json.gz",
                        Body=gzip.compress(b'{"format":1,"entries":{}}'))
    code, report = sync_json(world, env=env, **ini)
    assert code == 0, report
    assert report["wordpress"] == {"posted": 0, "found_already_posted": 2, "failed": 0, "not_started": 0}
    assert len(media(wp)) == before
    code, report = sync_json(world, env=env, **ini)
    assert code == 0 and report["wordpress"]["found_already_posted"] == 0  # recorded this time


def test_images_delivered_before_posting_was_on_are_not_posted(world: World, wp: WordPress) -> None:
    world.put("old.jpg", photo(400, 300))
    assert sync_json(world)[0] == 0
    world.put("new.jpg", photo(400, 300))
    ini, env = site(wp)
    code, report = sync_json(world, env=env, **ini)
    assert code == 0 and [m["key"] for m in report["media"]] == ["new.jpg"]


def test_a_wrong_password_is_named_and_the_next_run_posts_what_was_left(world: World, wp: WordPress) -> None:
    world.put("p.jpg", photo(400, 300))
    world.put("q.webp", photo(400, 300, ".webp"))
    ini, env = site(wp, password="abcd EFGH ijkl MNOP qrst UVWX")
    code, report = sync_json(world, env=env, **ini)
    assert code == 1 and report["counts"]["delivered"] == 2 and len(world.keys(world.archive_bucket)) == 2
    assert report["wordpress"]["failed"] == 2
    reasons = {f["reason"] for f in report["failures"]}
    assert len(reasons) == 1
    (reason,) = reasons
    assert "refused the application password of user 'admin'" in reason and "GCS2S3_WORDPRESS_APP_PASSWORD" in reason
    assert "abcd" not in str(report)
    ini, env = site(wp)
    code, report = sync_json(world, env=env, **ini)
    assert code == 0 and report["counts"]["unchanged"] == 2 and report["wordpress"]["posted"] == 2


def test_wordpress_down_then_up(world: World, wp: WordPress) -> None:
    world.put("down.jpg", photo(300, 200))
    with Proxy(wp.url) as proxy:
        proxy.fault = lambda method, path: 502
        ini, env = site(wp, url=proxy.url)
        code, report = sync_json(world, env=env, **ini)
    assert code == 1 and report["counts"]["delivered"] == 1
    assert "WordPress answered 502" in report["failures"][0]["reason"]
    ini, env = site(wp)
    code, report = sync_json(world, env=env, **ini)
    assert code == 0 and report["wordpress"]["posted"] == 1
    world.put("gone.jpg", photo(300, 200))
    ini, env = site(wp, url="http://127.0.0.1:9")  # nothing listens there
    code, report = sync_json(world, env=env, **ini)
    assert code == 1 and "cannot reach WordPress at http://127.0.0.1:9/" in report["failures"][0]["reason"]


def test_a_5xx_on_the_upload_is_retried_without_posting_twice(world: World, wp: WordPress) -> None:
    world.put("flaky.jpg", photo(300, 200))
    before = len(media(wp))
    with Proxy(wp.url) as proxy:
        failures = iter([503])
        proxy.fault = lambda method, path: next(failures, None) if method == "POST" else None
        ini, env = site(wp, url=proxy.url)
        code, report = sync_json(world, env=env, **ini)
        posts = proxy.count(lambda method, path: method == "POST")
    assert code == 0 and report["wordpress"]["posted"] == 1, report
    assert posts == 2 and len(media(wp)) == before + 1


@pytest.fixture(scope="module")
def small_wp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    """No pretty permalinks (only ?rest_route= works), and a 1 MB request-body limit."""
    yield from _peer(tmp_path_factory, pretty_permalinks=False, max_body_mb=1)


def test_plain_permalinks_and_a_413_that_names_the_limit(world: World, small_wp: WordPress) -> None:
    world.put("fits.jpg", photo(300, 200))
    noise = pyvips.Image.gaussnoise(1500, 1500, sigma=80).cast("uchar")
    world.put("huge.jpg", bytes(noise.jpegsave_buffer(Q=100)))
    ini, env = site(small_wp)
    code, report = sync_json(world, env=env, **ini)
    assert code == 1 and report["wordpress"]["posted"] == 1, report
    (failure,) = report["failures"]
    assert failure["key"] == "huge.jpg" and "over the site's upload limit (413" in failure["reason"]
    assert "client_max_body_size" in failure["reason"] and "post_max_size" in failure["reason"]


# Item 4 of the issue: what WordPress makes of an upload equals what our thumbnailer made.
SHAPES = {
    "landscape.jpg": (1200, 800, 1), "portrait.jpg": (800, 1200, 1), "square.jpg": (1000, 1000, 1),
    "small.jpg": (120, 90, 1), "exact.jpg": (2560, 1440, 1), "over.jpg": (3000, 2000, 1),
    "turned.jpg": (1200, 900, 6), "turned-big.jpg": (3200, 1800, 8), "alpha.png": (900, 600, 1),
    "photo.webp": (1100, 700, 1), "anim.gif": (700, 500, 1), "wide.png": (2800, 600, 1),
}


def shaped(name: str, width: int, height: int, orientation: int) -> bytes:
    image = gradient(width, height).copy()
    if name.endswith(".png"):  # with an alpha channel
        image = image.bandjoin((image[0] > 64).ifthenelse(255, 96).cast("uchar"))
    if orientation != 1:
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(image.write_to_buffer("." + name.rpartition(".")[2], **({"keep": 31} if orientation != 1 else {})))


def test_wordpress_makes_the_same_files_as_our_thumbnails(world: World, wp: WordPress) -> None:
    tag = world.gcs_bucket  # one WordPress serves the tests of both S3 servers: names unique to each
    for name, spec in SHAPES.items():
        world.put(f"shapes/{tag}-{name}", shaped(name, *spec))
    ini, env = site(wp)
    code, report = sync_json(world, env=env, thumbnails="true", **ini)
    assert code == 0, report
    ours: dict[str, dict[str, tuple[int, int]]] = {f"{tag}-{name}": {} for name in SHAPES}
    delivered = world.keys(prefix="shapes/")
    for key, owner in find_thumbnail_claims(delivered).items():
        image = pyvips.Image.new_from_buffer(delivered[key], "")
        ours[owner.removeprefix("shapes/")][key.removeprefix("shapes/")] = (image.width, image.height)
    for item in report["media"]:
        name = item["key"].removeprefix("shapes/")
        details = requests.get(f"{wp.url}/wp-json/wp/v2/media/{item['media_id']}", params={"context": "edit"},
                               auth=(wp.user, wp.app_password), timeout=30).json()["media_details"]
        theirs = {s["file"]: (s["width"], s["height"]) for s in (details.get("sizes") or {}).values()}
        if details.get("original_image"):  # WordPress kept the upload and made a -scaled/-rotated copy
            theirs[details["file"].rpartition("/")[2]] = (details["width"], details["height"])
        theirs.pop(name, None)  # WordPress lists the full size among its sizes; it is the original
        assert theirs == ours[name], name
    assert len(report["media"]) == len(SHAPES)


def test_verify_and_plan_leave_wordpress_alone(world: World, wp: WordPress) -> None:
    world.put("v.jpg", photo(300, 200))
    ini, env = site(wp)
    before = len(media(wp))
    assert cli("plan", "--config", str(world.ini(**ini)), "--dev-level", "Stage", env=env).code == 0
    assert sync_json(world, "--dry-run", env=env, **ini)[0] == 0
    assert len(media(wp)) == before


@pytest.mark.parametrize("moment", ["post-landed", "before-posting"])
def test_sigkill_around_a_post_never_posts_twice_nor_forgets(world: World, wp: WordPress, moment: str) -> None:
    """The real CLI killed (SIGKILL) once WordPress has created the item but before the run heard back,
    or after delivering but before posting: the next run ends with exactly one media item."""
    name = f"killed-{moment}-{world.gcs_bucket}.jpg"
    world.put(name, photo(400, 300))
    slug_part = name.removesuffix(".jpg")
    with Proxy(wp.url) as proxy:
        if moment == "post-landed":
            proxy.trap = once(lambda m, p, phase, w: m == "POST" and phase == "response", world)
        else:
            proxy.trap = once(lambda m, p, phase, w: phase == "request", world)  # the first request to WordPress
        ini, env = site(wp, url=proxy.url)
        process = start_sync(world, env, **ini)
        reached = kill_when_trapped(proxy, process)
    assert reached, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    assert world.keys().get(name)  # delivered before WordPress was asked anything
    time.sleep(LEASE_EXPIRY_S)  # the killed run's lease expires (start_sync gives it a 2 s TTL)
    ini, env = site(wp)
    code, report = sync_json(world, env=env, **ini)
    assert code == 0, report
    expected = {"post-landed": (0, 1), "before-posting": (1, 0)}[moment]
    assert (report["wordpress"]["posted"], report["wordpress"]["found_already_posted"]) == expected
    items = [m for m in media(wp, search=slug_part) if m["media_details"]["file"].endswith(name)]
    assert len(items) == 1


def test_a_user_who_may_not_upload_is_told_so(world: World, wp: WordPress) -> None:
    reader = f"reader-{world.gcs_bucket}"
    password = wp.php(
        f"$id = wp_insert_user(['user_login' => '{reader}', 'user_pass' => wp_generate_password(24), "
        "'role' => 'subscriber']);\n"
        "[$password] = WP_Application_Passwords::create_new_application_password($id, ['name' => 't']);\n"
        "echo $password;\n"
    ).strip()
    world.put("r.jpg", photo(300, 200))
    ini, env = site(wp, password=password)
    code, report = sync_json(world, env=env, **{**ini, "wordpress_user": reader})
    assert code == 1 and report["counts"]["delivered"] == 1
    assert f"user {reader!r} may not upload files; give it the Author role or above" in report["failures"][0]["reason"]


def test_an_upload_that_times_out_is_looked_up_and_sent_again(world: World, wp: WordPress) -> None:
    world.put("slow.jpg", photo(300, 200))
    with Proxy(wp.url) as proxy:
        proxy.trap = once(lambda m, p, phase, w: m == "POST" and phase == "request", world)
        ini, env = site(wp, url=proxy.url)
        code, report = sync_json(world, env=env, wordpress_timeout_s="1", **ini)
        proxy.cut_off = True  # the held upload never reaches WordPress
        proxy.released.set()
        gets = proxy.count(lambda method, path: method == "GET" and "slug=" in path)
    assert code == 0 and report["wordpress"]["posted"] == 1, report
    assert gets == 1  # the retry looked the item up before posting again
