"""The refresh lock across processes: a second refresh is refused or skipped, never run
alongside; a holder killed outright does not block the next refresh."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from etl.errors import RefreshLocked
from etl.runs import read_runs
from jobs.claims import claims_dir
from jobs.refresh import run_refresh
from jobs.schedule import run_scheduled
from tests.reliability.conftest import (
    CHILD_TIMEOUT,
    HOLD_LOCK,
    Child,
    cli_refresh,
    lock_holder,
    make_config,
    make_env,
    wait_for,
)


def hold_lock(spawn: Callable[..., Child], lock_path: Path, seconds: float = 60) -> Child:
    child = spawn(HOLD_LOCK, str(lock_path), str(seconds))
    wait_for(lambda: lock_holder(lock_path) == str(child.pid), "the child to take the lock")
    return child


def test_second_refresh_is_refused_and_recorded_as_skipped(
    source_db: str, store_path: Path, spawn: Callable[..., Child]
) -> None:
    config = make_config(make_env(store_path))
    holder = hold_lock(spawn, config.lock_path)

    started = time.monotonic()
    with pytest.raises(RefreshLocked, match=rf"another refresh is running \(pid {holder.pid}\)"):
        run_refresh(config, source_db, mode="hourly", trigger="schedule")
    assert time.monotonic() - started < 2, "a second refresh must fail fast, not wait"

    # The scheduler's job: skipped and recorded, and the slot is not claimed (it never ran).
    slot = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    assert run_scheduled(config, source_db, "hourly", slot) is None

    runs = read_runs(config.runs_log)
    assert [(r.status, r.trigger) for r in runs] == [("skipped", "schedule"), ("skipped", "schedule")]
    assert runs[1].scheduled_for == slot
    assert all(f"pid {holder.pid}" in (r.error or "") for r in runs)
    assert not claims_dir(config.metrics_db).exists() or not any(claims_dir(config.metrics_db).iterdir())
    assert not store_path.exists(), "nothing may be published while another refresh holds the lock"
    assert lock_holder(config.lock_path) == str(holder.pid)


def test_manual_refresh_exits_1_with_one_line_unless_it_waits(
    source_db: str, store_path: Path, spawn: Callable[..., Child]
) -> None:
    config = make_config(make_env(store_path))
    holder = hold_lock(spawn, config.lock_path)
    env = {**os.environ, "METRICS_DB": str(store_path), "DATABASE_URL": source_db}
    cli = cli_refresh("nightly", env, store_path.parent.parent)
    assert cli.returncode == 1
    assert cli.stderr.strip().splitlines() == [
        f"error: another refresh is running (pid {holder.pid}) (lock {config.lock_path}); "
        "this one is skipped: wait for it or use --wait SECONDS"
    ]
    assert [r.status for r in read_runs(config.runs_log)] == ["skipped"]

    # With a wait, it runs as soon as the holder is gone.
    threading.Timer(0.5, holder.process.terminate).start()
    started = time.monotonic()
    record = run_refresh(config, source_db, mode="nightly", wait_seconds=CHILD_TIMEOUT)
    assert record.status == "success"
    assert 0.4 < time.monotonic() - started < CHILD_TIMEOUT
    assert holder.wait() == -signal.SIGTERM


def test_a_killed_holder_does_not_block_the_next_refresh(
    source_db: str, store_path: Path, spawn: Callable[..., Child]
) -> None:
    config = make_config(make_env(store_path))
    holder = hold_lock(spawn, config.lock_path)
    holder.process.send_signal(signal.SIGKILL)
    assert holder.wait() == -signal.SIGKILL
    # The dead holder's pid is still written in the lock file: only the flock counts.
    assert lock_holder(config.lock_path) == str(holder.pid)

    record = run_refresh(config, source_db, mode="nightly", trigger="schedule")
    assert record.status == "success"
    assert [r.status for r in read_runs(config.runs_log)] == ["success"]
    assert store_path.is_symlink() and store_path.exists()


def test_lock_wait_is_recorded_apart_from_the_run(
    source_db: str, store_path: Path, spawn: Callable[..., Child]
) -> None:
    config = make_config(make_env(store_path))
    holder = hold_lock(spawn, config.lock_path)
    released: list[datetime] = []

    def release() -> None:
        released.append(datetime.now(UTC))  # the lock is free only after this moment
        holder.process.terminate()

    threading.Timer(0.5, release).start()
    record = run_refresh(config, source_db, mode="nightly", wait_seconds=CHILD_TIMEOUT)
    assert record.status == "success"
    # The run starts once the lock is held: serial runs never overlap in the history.
    assert record.started_at >= released[0]
    assert record.lock_wait_seconds is not None and record.lock_wait_seconds > 0
    [run] = read_runs(config.runs_log)
    assert (run.started_at, run.lock_wait_seconds) == (record.started_at, record.lock_wait_seconds)
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        stored = con.sql("SELECT started_at, lock_wait_seconds FROM refresh_runs").fetchall()
    finally:
        con.close()
    assert stored == [(record.started_at, record.lock_wait_seconds)]
