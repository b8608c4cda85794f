"""The one bounded map, the one retry policy and the one merge-join cursor (core/bounded.py,
core/retrying.py, core/merge_join.py), with no server."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gcs2s3.core import retrying
from gcs2s3.core.bounded import BoundedMap, done
from gcs2s3.core.errors import IntegrityError, TransientError, UnreachableError


class Gauge:
    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def work(self, n: int) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.002 * (n % 3))
        with self.lock:
            self.now -= 1
        return n * n


@pytest.mark.parametrize("ordered", [False, True])
def test_every_item_once_never_more_than_the_window_in_flight(ordered: bool) -> None:
    gauge = Gauge()
    with ThreadPoolExecutor(8) as pool:
        mapped = BoundedMap(lambda n: pool.submit(gauge.work, n), range(100), window=3, ordered=ordered)
        got = [(n, future.result()) for n, future in mapped]
    assert sorted(got) == [(n, n * n) for n in range(100)] and mapped.submitted == 100
    assert gauge.most <= 3
    if ordered:
        assert [n for n, _ in got] == list(range(100))


def test_in_order_items_that_need_no_work_keep_their_place() -> None:
    with ThreadPoolExecutor(4) as pool:
        mapped = BoundedMap(lambda n: pool.submit(lambda: -n) if n % 2 else done(n), range(10), window=4, ordered=True)
        assert [future.result() for _, future in mapped] == [0, -1, 2, -3, 4, -5, 6, -7, 8, -9]


def test_a_stop_cancels_what_has_not_begun_and_counts_what_was_left() -> None:
    stop, release = threading.Event(), threading.Event()
    both_running = threading.Barrier(3)

    def work(n: int) -> int:
        if n < 2:
            both_running.wait(5)
        release.wait(5)
        return n

    def stop_then_release() -> None:
        both_running.wait(5)
        stop.set()
        time.sleep(0.1)
        release.set()

    threading.Thread(target=stop_then_release).start()
    with ThreadPoolExecutor(2) as pool:
        mapped = BoundedMap(lambda n: pool.submit(work, n), iter(range(50)), window=6, stop=stop.is_set,
                            count_left=True, poll_s=0.01)
        finished = [n for n, _ in mapped]
    # two were running and finish; four were queued and are cancelled; 44 were never submitted
    assert sorted(finished) == [0, 1] and mapped.cancelled == 4 and mapped.left == 44


def test_leaving_early_cancels_the_queued_work() -> None:
    ran: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        mapped = BoundedMap(lambda n: pool.submit(lambda: ran.append(n) or time.sleep(0.01)), range(20), window=5)
        for _ in mapped:
            break
    assert mapped.cancelled >= 3 and len(ran) <= 2


def test_retried_tries_again_what_may_pass_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(retrying.time, "sleep", pauses.append)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("busy")
        return "ok"

    seen: list[BaseException] = []
    assert retrying.retried(flaky, attempts=3, retry_on=TransientError, on_retry=seen.append) == "ok"
    assert len(calls) == 3 and len(seen) == 2 and pauses == [0.5, 1.0]
    failures = iter([TransientError("first"), TransientError("last")])

    def failing() -> None:
        raise next(failures)

    with pytest.raises(TransientError, match="last"):  # the last try's error
        retrying.retried(failing, attempts=2, retry_on=TransientError)
    refused: list[int] = []

    def corrupt() -> None:
        refused.append(1)
        raise IntegrityError("bad")

    with pytest.raises(IntegrityError):  # not in retry_on: straight through
        retrying.retried(corrupt, attempts=5, retry_on=TransientError)
    assert refused == [1]
    lasting = UnreachableError("GCS", "https://x", "dns", "check DNS")
    tries: list[int] = []

    def unreachable() -> None:
        tries.append(1)
        raise lasting

    with pytest.raises(UnreachableError):
        retrying.retried(unreachable, attempts=5, retry_on=UnreachableError, give_up=lambda exc: True)
    assert tries == [1]


def test_the_merge_join_cursor_takes_peeks_passes_over_and_leaves_the_rest() -> None:
    from gcs2s3.core.merge_join import Cursor

    passed: list[tuple[str, int]] = []
    cursor = Cursor([("a", 1), ("b", 2), ("b", 3), ("d", 4), ("e", 5)], passed=lambda k, v: passed.append((k, v)))
    assert cursor.take("b") == [2, 3] and passed == [("a", 1)]
    assert cursor.peek("d") == 4 and cursor.peek("d") == 4 and cursor.first("c") is None
    assert cursor.first("d") == 4 and cursor.take("d") == []
    assert list(cursor.rest()) == [("e", 5)] and cursor.take("z") == []
