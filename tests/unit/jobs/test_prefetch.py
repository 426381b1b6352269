"""Tests of jobs.prefetch: calls run in order on one worker thread, a bounded number ahead."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobs.prefetch import Prefetch, Stopped

WAIT = 2.0  # seconds; only a failing test waits this long


class Recorder:
    """Calls that log, under a lock, which call started and ended and on which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.started: list[int] = []
        self.finished: list[int] = []
        self.threads: set[threading.Thread] = set()

    def call(self, i: int, action: Callable[[], None] | None = None) -> Callable[[], int]:
        def run() -> int:
            with self.changed:
                self.started.append(i)
                self.threads.add(threading.current_thread())
                self.changed.notify_all()
            if action is not None:
                action()
            with self.changed:
                self.finished.append(i)
                self.changed.notify_all()
            return i * 10

        return run

    def calls(self, n: int) -> list[Callable[[], int]]:
        return [self.call(i) for i in range(n)]

    def wait_started(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.started) >= count, timeout=WAIT), self.started

    def worker(self) -> threading.Thread:
        with self.lock:
            assert len(self.threads) == 1, self.threads
            return next(iter(self.threads))


def test_results_come_in_call_order_from_one_worker_thread() -> None:
    recorder = Recorder()
    with Prefetch(recorder.calls(8), ahead=2) as fetched:
        results = list(fetched)
    assert results == [i * 10 for i in range(8)]
    assert recorder.started == list(range(8))
    worker = recorder.worker()
    assert worker is not threading.current_thread()
    assert not worker.is_alive()


@pytest.mark.skipif(sys.platform != "linux", reason="the OS thread name is Linux's (/proc)")
def test_the_worker_carries_the_given_name_in_the_os_as_top_shows_it() -> None:
    def os_name() -> str:
        return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()

    with Prefetch([os_name], name="read-history-lane") as fetched:
        assert list(fetched) == ["read-history-la"]  # Linux keeps 15 bytes
    assert os_name() != "read-history-la"  # the calling thread keeps its own


def test_calls_may_come_from_a_generator() -> None:
    recorder = Recorder()
    with Prefetch((recorder.call(i) for i in range(3)), ahead=1) as fetched:
        assert list(fetched) == [0, 10, 20]


@pytest.mark.parametrize("ahead", [1, 2, 3])
def test_worker_runs_at_most_ahead_plus_one_calls_beyond_what_was_taken(ahead: int) -> None:
    # `ahead` results wait in the queue and one more finished call waits for room; the
    # worker starts nothing further until the consumer takes a result.
    n = 7
    recorder = Recorder()
    with Prefetch(recorder.calls(n), ahead=ahead) as fetched:
        results = iter(fetched)
        for taken in range(n + 1):
            if taken:
                assert next(results) == (taken - 1) * 10
            expected = min(n, taken + ahead + 1)
            recorder.wait_started(expected)  # the worker does run ahead...
            time.sleep(0.01)  # ...and, given time, still no further
            with recorder.lock:
                assert len(recorder.started) == expected, (taken, recorder.started)
        assert list(results) == []


def test_an_exception_is_raised_in_its_place_and_later_calls_never_run() -> None:
    recorder = Recorder()

    def fail() -> None:
        raise ValueError("call 3 failed")

    calls = [recorder.call(i, fail if i == 3 else None) for i in range(6)]
    received: list[int] = []
    with pytest.raises(ValueError, match="call 3 failed"), Prefetch(calls, ahead=2) as fetched:
        for result in fetched:
            received.append(result)
    assert received == [0, 10, 20]
    assert recorder.started == [0, 1, 2, 3]
    assert recorder.finished == [0, 1, 2]
    assert not recorder.worker().is_alive()


def test_an_exception_in_the_first_call_is_raised_before_any_result() -> None:
    def fail() -> int:
        raise KeyError("first")

    ran: list[int] = []

    def later() -> int:
        ran.append(1)
        return 1

    with Prefetch([fail, later]) as fetched, pytest.raises(KeyError, match="first"):
        next(iter(fetched))
    assert ran == []


def test_an_exception_from_the_iterable_of_calls_is_raised_in_its_place() -> None:
    recorder = Recorder()

    def broken() -> Iterator[Callable[[], int]]:
        yield recorder.call(0)
        raise RuntimeError("no more calls")

    received: list[int] = []
    with pytest.raises(RuntimeError, match="no more calls"), Prefetch(broken()) as fetched:
        received.extend(fetched)
    assert received == [0]


def test_breaking_out_early_stops_the_worker() -> None:
    n, ahead = 20, 2
    recorder = Recorder()
    with Prefetch(recorder.calls(n), ahead=ahead) as fetched:
        for result in fetched:
            if result == 10:
                break
        recorder.wait_started(2 + ahead + 1)  # the worker has filled the queue and is waiting
    worker = recorder.worker()
    assert not worker.is_alive()
    assert recorder.started == list(range(2 + ahead + 1))
    time.sleep(0.02)
    assert len(recorder.started) == 2 + ahead + 1  # and it never starts another


def test_an_error_in_the_consumer_stops_the_worker_after_its_current_call() -> None:
    recorder = Recorder()
    in_call = threading.Event()
    release = threading.Event()

    def slow() -> None:
        in_call.set()
        assert release.wait(WAIT)

    calls = [recorder.call(i, slow if i == 1 else None) for i in range(6)]
    timer = threading.Timer(0.05, release.set)  # lets call 1 end while __exit__ waits for it
    with pytest.raises(RuntimeError, match="consumer failed"), Prefetch(calls, ahead=1) as fetched:
        assert next(iter(fetched)) == 0
        assert in_call.wait(WAIT)
        timer.start()
        raise RuntimeError("consumer failed")
    timer.join()
    assert recorder.started == [0, 1]
    assert recorder.finished == [0, 1]  # the current call is finished, not abandoned
    assert not recorder.worker().is_alive()


def test_leaving_the_block_unread_stops_the_worker() -> None:
    recorder = Recorder()
    with Prefetch(recorder.calls(10), ahead=1):
        recorder.wait_started(2)
    assert recorder.started == [0, 1]
    assert not recorder.worker().is_alive()


def test_no_calls_yield_nothing() -> None:
    with Prefetch[int]([], ahead=1) as fetched:
        assert list(fetched) == []


def test_a_consumer_on_another_thread_is_released_when_the_block_is_left() -> None:
    # The history of a refresh is consumed on its own thread; if the refresh fails, leaving
    # the block must not leave that thread waiting for a result that never comes.
    recorder = Recorder()
    release = threading.Event()
    calls = [recorder.call(0), recorder.call(1, lambda: release.wait(WAIT)), recorder.call(2)]
    outcome: list[object] = []

    def consume(results: Iterator[int]) -> None:
        try:
            outcome.extend(results)
        except Stopped as exc:
            outcome.append(exc)

    timer = threading.Timer(0.05, release.set)  # lets call 1 end while __exit__ waits for it
    with Prefetch(calls, ahead=1) as fetched:
        consumer = threading.Thread(target=consume, args=(iter(fetched),))
        consumer.start()
        recorder.wait_started(2)
        timer.start()
    timer.join()
    consumer.join(WAIT)
    assert not consumer.is_alive()
    assert outcome[0] == 0
    assert isinstance(outcome[1], Stopped) and len(outcome) == 2
    assert recorder.started == [0, 1]
