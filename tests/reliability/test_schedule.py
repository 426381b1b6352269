"""The scheduler: missed slots run once on start within the grace (coalesced), never
outside it; a slot runs once even with two schedulers; the plan is logged; the incremental
job runs on its interval and a tick that finds a refresh running is skipped, not queued."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from etl.config import Config
from etl.runs import RunRecord, read_runs, utcnow
from jobs.claims import claim_name, claims_dir
from jobs.lock import refresh_lock
from jobs.schedule import INCREMENTAL, build_scheduler, run_schedule, run_scheduled
from tests.reliability.conftest import (
    CHILD_TIMEOUT,
    HOLD_LOCK,
    SCHEDULER,
    Child,
    Published,
    far_cron,
    latest_recent_slot,
    lock_holder,
    make_config,
    make_env,
    recent_cron,
    scheduled_runs,
    wait_for,
)

CRON_ONLY = {"METRICS_INCREMENTAL_SECONDS": "0"}
"""For the cron tests: no incremental ticks among the runs they count."""


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


def missed_hourly_env(
    published: Published, now: datetime, minutes_ago: tuple[int, ...] = (3, 2, 1), **settings: str
) -> dict[str, str]:
    """The published store's environment, cron jobs only: hourly slots `minutes_ago` (missed), the nightly far off."""
    return {
        **published.env,
        **CRON_ONLY,
        "METRICS_HOURLY_CRON": recent_cron(now, minutes_ago=minutes_ago),
        "METRICS_NIGHTLY_CRON": far_cron(now),
        **settings,
    }


def test_missed_slots_run_once_on_start_within_the_grace(
    published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    now = utcnow()
    env = missed_hourly_env(published, now)
    config = make_config(env)
    slot = latest_recent_slot(now)
    caplog.set_level(logging.INFO, logger="flowmetrics")

    with scheduler_thread(config, published.url):
        wait_for(lambda: bool(scheduled_runs(config)), "the missed slot to run")
        # Three slots were missed; coalesced, they make one run. Give a second one time to show.
        threading.Event().wait(0.5)

    runs = scheduled_runs(config)
    assert [(r.mode, r.status, r.scheduled_for) for r in runs] == [("hourly", "success", slot)]
    assert runs[0].as_of > slot  # as of when it read (tests/reliability/test_as_of.py)
    assert (claims_dir(config.metrics_db) / claim_name("hourly", slot)).exists()
    assert "next run at" in caplog.text
    assert f"the slot at {slot.isoformat()} was missed" in caplog.text


def test_slots_older_than_the_grace_do_not_run(published: Published, caplog: pytest.LogCaptureFixture) -> None:
    now = utcnow()
    env = missed_hourly_env(published, now, minutes_ago=(5, 4, 3), METRICS_MISFIRE_GRACE_SECONDS="60")
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
    assert first is not None and first.status == "success" and first.scheduled_for == slot
    # A second scheduler firing the same slot late: it takes the lock, finds the claim, skips.
    assert run_scheduled(published.config, published.url, "hourly", slot) is None
    # The other job's slot at the same time is its own.
    other = run_scheduled(published.config, published.url, "nightly", slot)
    assert other is not None and other.status == "success"
    assert [(r.mode, r.scheduled_for) for r in scheduled_runs(published.config)] == [
        ("hourly", slot),
        ("nightly", slot),
    ]


def test_two_scheduler_processes_run_a_slot_once(published: Published, spawn: Callable[..., Child]) -> None:
    now = utcnow()
    env = missed_hourly_env(published, now)
    config = make_config(env)
    slot = latest_recent_slot(now)
    schedulers = [spawn(SCHEDULER, json.dumps(env), published.url) for _ in range(2)]

    wait_for(lambda: any(r.status == "success" for r in scheduled_runs(config)), "one scheduler to run the slot")
    wait_for(lambda: all("next run at" in s.stderr() for s in schedulers), "both schedulers to start")
    threading.Event().wait(0.5)
    for child in schedulers:
        child.process.send_signal(signal.SIGTERM)
    assert [child.wait() for child in schedulers] == [0, 0]

    runs = [r for r in scheduled_runs(config) if r.scheduled_for == slot]
    # The other one either found the lock taken (recorded as skipped) or the slot claimed.
    assert sorted(r.status for r in runs if r.status != "skipped") == ["success"], runs
    logs = "".join(s.stderr() for s in schedulers)
    assert "SIGTERM received" in logs

    # A third scheduler starting later within the grace does not run the slot either.
    with scheduler_thread(config, published.url):
        threading.Event().wait(0.5)
    assert [r.status for r in scheduled_runs(config) if r.scheduled_for == slot and r.status != "skipped"] == [
        "success"
    ]


def incremental_env(published: Published, seconds: int = 1) -> dict[str, str]:
    now = utcnow()
    return {
        **published.env,
        "METRICS_INCREMENTAL_SECONDS": str(seconds),
        "METRICS_HOURLY_CRON": far_cron(now),
        "METRICS_NIGHTLY_CRON": far_cron(now),
    }


def incremental_runs(config: Config) -> list[RunRecord]:
    runs = scheduled_runs(config)
    # The crons are far away: every scheduled run is an incremental tick.
    assert all(r.mode == INCREMENTAL for r in runs), runs
    return runs


def skipped_tick_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "flowmetrics.schedule"
        and r.getMessage().startswith(f"{INCREMENTAL} run for ")
        and " skipped: " in r.getMessage()
    ]


def test_the_incremental_job_is_planned_unless_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flowmetrics")
    now = utcnow()
    env = make_env(tmp_path / "metrics.duckdb", METRICS_INCREMENTAL_SECONDS="90")
    scheduler = build_scheduler(make_config(env), "postgresql:///unused", stopping=threading.Event(), now=now)
    scheduler.start(paused=True)  # the job defaults are applied on start; paused, nothing runs
    try:
        job = scheduler.get_job(INCREMENTAL)
        hourly = scheduler.get_job("hourly")
    finally:
        scheduler.shutdown(wait=False)
    assert job is not None
    assert job.trigger.interval == timedelta(seconds=90)
    # A tick later than its interval is dropped; ticks never pile up behind a long run.
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (90, True, 1)
    assert job.trigger.get_next_fire_time(None, now) == now + timedelta(seconds=90)
    assert f"incremental refresh: every 90 s, next run at {(now + timedelta(seconds=90)).isoformat()}" in caplog.text
    # The cron jobs keep the configured grace.
    assert hourly.misfire_grace_time == 3600

    off = make_env(tmp_path / "metrics.duckdb", METRICS_INCREMENTAL_SECONDS="0")
    scheduler = build_scheduler(make_config(off), "postgresql:///unused", stopping=threading.Event(), now=now)
    assert scheduler.get_job(INCREMENTAL) is None
    assert sorted(j.id for j in scheduler.get_jobs()) == ["hourly", "nightly"]


def test_the_incremental_job_runs_on_its_interval(published: Published) -> None:
    config = make_config(incremental_env(published))
    with scheduler_thread(config, published.url):
        wait_for(lambda: sum(r.status == "success" for r in incremental_runs(config)) >= 2, "two incremental runs")
    runs = [r for r in incremental_runs(config) if r.status != "running"]
    assert [r.status for r in runs] == ["success"] * len(runs), runs
    slots = [r.scheduled_for for r in runs if r.scheduled_for is not None]
    assert len(slots) == len(runs), runs
    # One run per tick at most, on the interval's grid; never two at once.
    assert all(later - earlier >= timedelta(seconds=1) for earlier, later in pairwise(slots)), slots
    for before, after in pairwise(runs):
        assert before.finished_at is not None and before.finished_at <= after.started_at
    # Ticks take no claims.
    folder = claims_dir(config.metrics_db)
    assert not folder.exists() or not [p for p in folder.iterdir() if p.name.startswith(INCREMENTAL)]


def test_incremental_ticks_while_another_process_refreshes_are_skipped_unrecorded(
    published: Published, spawn: Callable[..., Child], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flowmetrics")
    config = make_config(incremental_env(published))
    holder = spawn(HOLD_LOCK, str(config.lock_path), "3.5")
    wait_for(lambda: lock_holder(config.lock_path) == str(holder.pid), "the other process to take the lock")

    with scheduler_thread(config, published.url):
        held_at = utcnow()
        while True:  # the last moment the lock was seen held (its holder empties it first)
            now = utcnow()
            if lock_holder(config.lock_path) != str(holder.pid):
                break
            held_at = now
            threading.Event().wait(0.05)
        assert holder.wait() == 0
        wait_for(lambda: any(r.status == "success" for r in incremental_runs(config)), "a run after the release")

    runs = incremental_runs(config)
    # Not one skipped line in the history: the ticks that found the lock held never called run_refresh.
    assert [r.status for r in runs if r.status != "running"] == ["success"] * len(runs), runs
    assert all(r.started_at > held_at for r in runs), (held_at, runs)
    # One line per tick that found the lock held (later ones may find this scheduler's own run).
    held = [line for line in skipped_tick_lines(caplog) if f"another refresh is running (pid {holder.pid}," in line]
    assert len(held) >= 2, caplog.text


def test_incremental_ticks_while_this_scheduler_refreshes_are_skipped_not_queued(
    published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    """A long hourly or nightly in this scheduler's one worker: the ticks meanwhile are dropped."""
    caplog.set_level(logging.INFO)
    config = make_config(incremental_env(published))
    running, release = threading.Event(), threading.Event()

    def long_refresh(slot: datetime | None = None) -> None:  # the executor passes its slot
        # Stands for an hourly or nightly run: the same worker, the same lock.
        with refresh_lock(config.lock_path):
            running.set()
            release.wait(CHILD_TIMEOUT)

    stopping = threading.Event()
    scheduler = build_scheduler(config, published.url, stopping=stopping, now=utcnow())
    scheduler.add_job(long_refresh, "date", run_date=utcnow(), id="long", name="long refresh")
    scheduler.start()
    try:
        wait_for(running.is_set, "the long refresh to start")
        threading.Event().wait(3.5)  # three ticks or so
        released = utcnow()
        release.set()
        wait_for(lambda: any(r.status == "success" for r in incremental_runs(config)), "a run after the release")
    finally:
        release.set()
        stopping.set()
        scheduler.shutdown(wait=True)

    runs = [r for r in read_runs(config.runs_log) if r.trigger == "schedule"]
    assert all(r.status == "success" for r in runs), runs
    # At most one run follows the ticks missed: the first tick due after the release, or one
    # the scheduler's thread got to just after it; none for a tick long before.
    late = [r for r in runs if r.scheduled_for is not None and r.scheduled_for < released]
    assert len(late) <= 1, late
    assert all(r.scheduled_for is not None and r.scheduled_for >= released - timedelta(seconds=1) for r in late), (
        released,
        late,
    )
    busy = [line for line in skipped_tick_lines(caplog) if "the long refresh of this scheduler is still" in line]
    assert len(busy) >= 2, caplog.text
    # One line per tick, ours: none of APScheduler's per-tick warnings about queued instances.
    assert "maximum number of running instances" not in caplog.text
