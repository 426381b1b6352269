"""A scheduled refresh is as of when it reads, not of its slot; a backfill keeps its as_of.

Every run here goes through the real scheduler (or run_refresh for a backfill) into a real
store from a real PostgreSQL. Times a run's as_of is compared with are read from
PostgreSQL's clock, the clock its snapshot time comes from.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from etl import database
from etl.config import Config
from etl.runs import RunRecord, utcnow
from etl.store import open_store, published_meta
from jobs.claims import claim_name, claims_dir
from jobs.refresh import run_refresh
from metrics_api.app import create_app
from synthetic.seed import seed
from tests.differential import SECRET, compare_everything
from tests.reliability.conftest import (
    Published,
    far_cron,
    latest_recent_slot,
    make_config,
    make_env,
    recent_cron,
    scheduled_runs,
    wait_for,
)
from tests.reliability.test_schedule import scheduler_thread

QUIET = {"METRICS_INCREMENTAL_SECONDS": "0", "METRICS_JWT_SECRET": SECRET}
"""No incremental ticks (only the slot under test runs); a secret so the API starts."""


def pg_now(url: str) -> datetime:
    with database.connect(url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


def served_as_of(config: Config) -> datetime:
    """The as_of /health reports for the published store."""
    with TestClient(create_app(config)) as client:
        response = client.get("/health")
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["as_of"])


def stored_run(config: Config, run_id: str) -> dict[str, Any]:
    """The run's row in the published store's refresh_runs."""
    _, con = open_store(config.metrics_db)
    try:
        cursor = con.execute("SELECT * FROM refresh_runs WHERE run_id = ?", [run_id])
        names = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    finally:
        con.close()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def catch_up_one_hourly_slot(env: dict[str, str], url: str) -> tuple[Config, datetime, RunRecord]:
    """Start the scheduler with an hourly slot missed a minute or so ago; its one run."""
    now = utcnow()
    env = {**env, **QUIET, "METRICS_HOURLY_CRON": recent_cron(now), "METRICS_NIGHTLY_CRON": far_cron(now)}
    config = make_config(env)
    slot = latest_recent_slot(now)
    with scheduler_thread(config, url):
        wait_for(lambda: any(r.status != "running" for r in scheduled_runs(config)), "the missed slot to run")
    runs = scheduled_runs(config)
    assert [(r.mode, r.status, r.scheduled_for) for r in runs] == [("hourly", "success", slot)], runs
    return config, slot, runs[0]


def test_a_late_slot_is_as_of_its_read_and_records_the_slot(published: Published) -> None:
    before = pg_now(published.url)
    config, slot, run = catch_up_one_hourly_slot(published.env, published.url)
    after = pg_now(published.url)

    assert run.as_of > slot
    assert before <= run.as_of <= after, (before, run.as_of, after)
    assert run.trigger == "schedule"
    assert datetime.fromisoformat(published_meta(config.metrics_db)["as_of"]) == run.as_of
    row = stored_run(config, run.run_id)
    assert (row["scheduled_for"], row["as_of"], row["trigger"]) == (slot, run.as_of, "schedule")
    # The slot, not the read time, still names the claim.
    assert (claims_dir(config.metrics_db) / claim_name("hourly", slot)).exists()


def test_a_catch_up_on_start_never_lowers_the_served_as_of(published: Published) -> None:
    config = make_config({**published.env, **QUIET})
    manual = run_refresh(config, published.url, mode="nightly")  # as of its own snapshot
    assert served_as_of(config) == manual.as_of

    config, slot, run = catch_up_one_hourly_slot(published.env, published.url)

    assert slot < manual.as_of  # the slot caught up is older than what was served
    assert run.as_of >= manual.as_of
    assert served_as_of(config) == run.as_of


def test_a_late_runs_bodies_equal_live_sql_at_its_as_of(fresh_db: str, store_path: Path) -> None:
    # Seeded a day back, so even its sessions "from the future" started before this run.
    seed(fresh_db, sessions=800, accounts=2, days=120, seed=29, now=utcnow() - timedelta(days=1, minutes=5))
    env = make_env(store_path, **QUIET)
    run_refresh(make_config(env), fresh_db, mode="nightly")
    with database.connect(fresh_db) as conn:
        # A session that arrives after the slot, before the late run reads; and sessions just
        # inside each period's start as of the slot, just outside it as of the read: a store
        # whose windows end anywhere but at its published as_of differs on them.
        for offset in ("2 seconds", "7 days 20 seconds", "30 days 20 seconds", "90 days 20 seconds"):
            conn.execute(
                """
                INSERT INTO sessions (id, tree_id, user_id, started_at, completed_at, outcome, decisions)
                SELECT %s, tree_id, user_id, clock_timestamp() - %s::interval,
                       clock_timestamp() - %s::interval + interval '1 second', 'resolved', decisions
                FROM sessions WHERE completed_at IS NOT NULL AND jsonb_typeof(decisions) = 'array'
                ORDER BY started_at DESC LIMIT 1
                """,
                (uuid.uuid4(), offset, offset),
            )
        conn.execute(
            """
            INSERT INTO session_ratings (id, session_id, tree_id, user_id, rating, comment, created_at)
            SELECT gen_random_uuid(), id, tree_id, user_id, 2, 'arrived after the slot', clock_timestamp()
            FROM sessions ORDER BY started_at DESC LIMIT 1
            """
        )
        conn.commit()

    config, slot, run = catch_up_one_hourly_slot(env, fresh_db)

    assert run.as_of > slot
    with TestClient(create_app(config)) as client, database.connect(fresh_db) as conn:
        health = client.get("/health").json()
        assert datetime.fromisoformat(health["as_of"]) == run.as_of
        result = compare_everything(conn, client, run.as_of)
    assert result.checked > 30
    assert not result.mismatches, f"{len(result.mismatches)} of {result.checked} differ:\n" + "\n".join(
        result.mismatches[:10]
    )


@pytest.mark.parametrize("mode", ["hourly", "nightly"])
def test_an_explicit_backfill_publishes_its_as_of(fresh_db: str, store_path: Path, mode: str) -> None:
    # Every session (its dirty ones "from the future" too) started before the backfill's as_of.
    anchor = utcnow() - timedelta(days=4)
    seed(fresh_db, sessions=600, accounts=2, days=120, seed=31, now=anchor)
    config = make_config(make_env(store_path, **QUIET))
    run_refresh(config, fresh_db, mode="nightly")
    past = anchor + timedelta(days=2, hours=3, minutes=7, seconds=11, microseconds=250_000)

    record = run_refresh(config, fresh_db, mode=mode, as_of=past)

    assert (record.status, record.as_of, record.scheduled_for, record.trigger) == ("success", past, None, "manual")
    assert datetime.fromisoformat(published_meta(config.metrics_db)["as_of"]) == past
    row = stored_run(config, record.run_id)
    assert (row["as_of"], row["scheduled_for"]) == (past, None)
    with TestClient(create_app(config)) as client, database.connect(fresh_db) as conn:
        assert datetime.fromisoformat(client.get("/health").json()["as_of"]) == past
        # Windows end at the backfill's as_of: seven days before it, not before today.
        result = compare_everything(conn, client, past, users_sample=10)
    assert not result.mismatches, "\n".join(result.mismatches[:10])
