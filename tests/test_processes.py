"""Nothing outlives the command that started it: the emulators, MariaDB and PHP's server with its
workers are stopped with every process they forked, whether the block ends normally or with an error."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from gcs2s3.testing import wordpress_peer
from gcs2s3.testing.emulators import group_members, running_emulators, start_moto

pytestmark = pytest.mark.slow  # starts servers of its own


def leaders(marker: str) -> list[int]:
    """Process groups led by a process whose command line mentions `marker`."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = entry.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if marker in command and int(stat[2]) == int(entry.parent.name):
            found.append(int(entry.parent.name))
    return found


def gone(groups: list[int], within_s: float = 5) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(group_members(group) for group in groups):
            return True
        time.sleep(0.05)
    return False


def test_emulators_leave_nothing_behind(tmp_path: Path) -> None:
    before = set(leaders("fake-gcs-server") + leaders("moto.server"))
    with running_emulators(tmp_path):
        groups = sorted(set(leaders("fake-gcs-server") + leaders("moto.server")) - before)
        assert len(groups) == 2, groups
    assert gone(groups)
    server = start_moto(tmp_path)
    server.stop()
    assert gone([server.process.pid])


@pytest.mark.skipif(bool(wordpress_peer.missing()), reason="the WordPress peer's Debian packages are missing")
@pytest.mark.parametrize("ending", ["normally", "with an error"])
def test_a_served_wordpress_leaves_no_php_worker_and_no_mariadb(tmp_path: Path, ending: str) -> None:
    groups: list[int] = []
    expected = pytest.raises(RuntimeError) if ending == "with an error" else contextlib.nullcontext()
    with expected, wordpress_peer.running_wordpress(tmp_path / "wp", serve=True, workers=4):
        groups = leaders(str(tmp_path / "wp"))
        php = [g for g in groups if len(group_members(g)) >= 5]  # the server and its four workers
        assert php and len(groups) >= 2, groups  # php -S and mariadbd
        if ending == "with an error":
            raise RuntimeError("a failing test")
    assert groups and gone(groups)
