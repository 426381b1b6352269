"""SIGTERM to `flowmetrics schedule` mid-refresh: the refresh finishes, the process exits 0
and the store is complete; a second signal exits at once, the old store stays, and the
abandoned build file is deleted by the next refresh."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb

from etl.runs import utcnow
from etl.store import resolve_store
from jobs.refresh import run_refresh
from tests.reliability.conftest import (
    Child,
    Published,
    far_cron,
    latest_recent_slot,
    make_config,
    recent_cron,
    scheduled_runs,
    wait_for,
)

SLOW_SCHEDULE = """
import json, sys, time
import etl.publish.append
from jobs.cli import main

insert = etl.publish.append.insert

def slow_insert(*args, **kwargs):
    # A real store takes seconds to write: stretch this small one so a signal lands mid-build.
    time.sleep(0.15)
    return insert(*args, **kwargs)

etl.publish.append.insert = slow_insert
sys.exit(main(["schedule"], environ=json.loads(sys.argv[1])))
"""
"""Child: the real `flowmetrics schedule` (CLI entry), with a slowed-down store build."""


def building_files(store: Path) -> list[Path]:
    return sorted(store.parent.glob("*.building*"))


def read_meta(version: Path) -> dict[str, str]:
    con = duckdb.connect(str(version), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM window_summary").fetchall()[0][0] > 0
        return dict(con.sql("SELECT key, value FROM store_meta").fetchall())
    finally:
        con.close()


def start_mid_refresh(published: Published, spawn: Callable[..., Child]) -> tuple[Child, dict[str, str], datetime]:
    """A scheduler whose missed hourly slot starts at once; returns once it is building."""
    now = utcnow()
    env = {
        **published.env,
        "DATABASE_URL": published.url,
        "METRICS_HOURLY_CRON": recent_cron(now),
        "METRICS_NIGHTLY_CRON": far_cron(now),
    }
    child = spawn(SLOW_SCHEDULE, json.dumps(env))
    wait_for(lambda: bool(building_files(published.config.metrics_db)), "the scheduled refresh to start building")
    return child, env, latest_recent_slot(now)


def test_sigterm_mid_refresh_lets_it_finish_and_exits_0(published: Published, spawn: Callable[..., Child]) -> None:
    child, env, slot = start_mid_refresh(published, spawn)
    child.process.send_signal(signal.SIGTERM)
    assert child.wait(timeout=20) == 0, child.stderr()

    store = published.config.metrics_db
    assert building_files(store) == []
    version = resolve_store(store)
    assert version != published.version
    meta = read_meta(version)
    [run] = scheduled_runs(make_config(env))
    assert (run.mode, run.status, run.scheduled_for) == ("hourly", "success", slot)
    assert (meta["run_id"], meta["as_of"]) == (run.run_id, run.as_of.isoformat())
    log = child.stderr()
    assert "SIGTERM received: stopping after the refresh in progress, if any" in log
    assert log.index("SIGTERM received") < log.index("refresh hourly success") < log.index("scheduler stopped")


def test_a_second_sigterm_exits_at_once_and_the_old_store_stays(
    published: Published, spawn: Callable[..., Child]
) -> None:
    child, _env, _slot = start_mid_refresh(published, spawn)
    child.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM received" in child.stderr(), "the first SIGTERM to be handled")
    child.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert child.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 2
    assert "SIGTERM again: exiting now" in child.stderr()

    store = published.config.metrics_db
    assert resolve_store(store) == published.version
    assert read_meta(published.version)["run_id"] == published.run.run_id
    leftovers = building_files(store)
    assert leftovers, "the abandoned build should still be there (killed before cleanup)"

    # The next refresh holds the lock, so no other build can be in progress: it deletes
    # the abandoned one at once, however recent.
    record = run_refresh(published.config, published.url, mode="hourly")
    assert building_files(store) == []
    assert read_meta(resolve_store(store))["run_id"] == record.run_id
