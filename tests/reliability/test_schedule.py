"""The scheduler: missed slots run once on start within the grace (coalesced), never
outside it; a slot runs once even with two schedulers; the plan is logged."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from etl.config import Config
from jobs.claims import claim_name, claims_dir
from jobs.history import utcnow
from jobs.schedule import run_schedule, run_scheduled
from tests.reliability.conftest import (
    CHILD_TIMEOUT,
    SCHEDULER,
    Child,
    Published,
    far_cron,
    latest_recent_slot,
    make_config,
    recent_cron,
    scheduled_runs,
    wait_for,
)


@contextmanager
def scheduler_thread(config: Config, url: str) -> Iterator[threading.Thread]:
    """run_schedule in a thread (no signal handlers there), stopped and joined on exit."""
    stop = threading.Event()
    thread = threading.Thread(target=run_schedule, args=(config, url), kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(CHILD_TIMEOUT)
        assert not thread.is_alive(), "the scheduler did not stop"


def test_missed_slots_run_once_on_start_within_the_grace(
    published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    now = utcnow()
    env = {**published.env, "METRICS_HOURLY_CRON": recent_cron(now), "METRICS_NIGHTLY_CRON": far_cron(now)}
    config = make_config(env)
    slot = latest_recent_slot(now)
    caplog.set_level(logging.INFO, logger="flowmetrics")

    with scheduler_thread(config, published.url):
        wait_for(lambda: bool(scheduled_runs(config)), "the missed slot to run")
        # Three slots were missed; coalesced, they make one run. Give a second one time to show.
        threading.Event().wait(0.5)

    runs = scheduled_runs(config)
    assert [(r.mode, r.status, r.as_of) for r in runs] == [("hourly", "success", slot)]
    assert (claims_dir(config.metrics_db) / claim_name("hourly", slot)).exists()
    assert "next run at" in caplog.text
    assert f"the slot at {slot.isoformat()} was missed" in caplog.text


def test_slots_older_than_the_grace_do_not_run(published: Published, caplog: pytest.LogCaptureFixture) -> None:
    now = utcnow()
    env = {
        **published.env,
        "METRICS_HOURLY_CRON": recent_cron(now, minutes_ago=(5, 4, 3)),
        "METRICS_NIGHTLY_CRON": far_cron(now),
        "METRICS_MISFIRE_GRACE_SECONDS": "60",
    }
    config = make_config(env)
    caplog.set_level(logging.INFO, logger="flowmetrics")
    with scheduler_thread(config, published.url):
        threading.Event().wait(0.5)
    assert scheduled_runs(config) == []
    assert "was missed" not in caplog.text
    assert "scheduler stopped" in caplog.text


def test_a_claimed_slot_runs_once(published: Published) -> None:
    slot = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    first = run_scheduled(published.config, published.url, "hourly", slot)
    assert first is not None and first.status == "success" and first.as_of == slot
    # A second scheduler firing the same slot late: it takes the lock, finds the claim, skips.
    assert run_scheduled(published.config, published.url, "hourly", slot) is None
    # The other job's slot at the same time is its own.
    other = run_scheduled(published.config, published.url, "nightly", slot)
    assert other is not None and other.status == "success"
    assert [(r.mode, r.as_of) for r in scheduled_runs(published.config)] == [("hourly", slot), ("nightly", slot)]


def test_two_scheduler_processes_run_a_slot_once(published: Published, spawn: Callable[..., Child]) -> None:
    now = utcnow()
    env = {**published.env, "METRICS_HOURLY_CRON": recent_cron(now), "METRICS_NIGHTLY_CRON": far_cron(now)}
    config = make_config(env)
    slot = latest_recent_slot(now)
    schedulers = [spawn(SCHEDULER, json.dumps(env), published.url) for _ in range(2)]

    wait_for(lambda: any(r.status == "success" for r in scheduled_runs(config)), "one scheduler to run the slot")
    wait_for(lambda: all("next run at" in s.stderr() for s in schedulers), "both schedulers to start")
    threading.Event().wait(0.5)
    for child in schedulers:
        child.process.send_signal(signal.SIGTERM)
    assert [child.wait() for child in schedulers] == [0, 0]

    runs = [r for r in scheduled_runs(config) if r.as_of == slot]
    # The other one either found the lock taken (recorded as skipped) or the slot claimed.
    assert sorted(r.status for r in runs if r.status != "skipped") == ["success"], runs
    logs = "".join(s.stderr() for s in schedulers)
    assert "SIGTERM received" in logs

    # A third scheduler starting later within the grace does not run the slot either.
    with scheduler_thread(config, published.url):
        threading.Event().wait(0.5)
    assert [r.status for r in scheduled_runs(config) if r.as_of == slot and r.status != "skipped"] == ["success"]
