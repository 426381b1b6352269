"""The incremental refresh equals a full rebuild and the app's live SQL (INCREMENTAL.md, the invariant).

A seeded source gets a nightly full; then the app changes it (every kind of write the app
makes, around every window edge) and an incremental takes only what changed. Its store
must equal, table by table and row for row, a nightly full at the same as_of, and its API
bodies must equal the app's endpoint. The hourly, over the store from before the changes,
must agree on what it rebuilds; over the incremental's store it must find no drift.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from etl import database
from jobs.plan import lookback_start
from jobs.refresh import run_refresh
from synthetic.seed import seed
from tests.incremental import (
    AS_OF,
    SEED_ANCHOR,
    App,
    References,
    apply_app_changes,
    assert_bodies,
    assert_same_store,
    copy_store,
    drift,
    make_config,
    refresh,
    store_meta,
    write_store,
)

LATER = AS_OF + timedelta(hours=2, minutes=13, seconds=7, microseconds=250)


def seed_small(url: str, seed_value: int = 7, sessions: int = 2_500) -> None:
    seed(url, sessions=sessions, accounts=3, days=200, seed=seed_value, now=SEED_ANCHOR)


def incremental(config_path: Path, url: str, as_of: datetime) -> None:
    record = refresh(make_config(config_path), url, "incremental", as_of)
    assert record.status == "success", record
    assert record.fallback is None, f"an incremental over a good store fell back: {record.fallback}"


@pytest.mark.slow
def test_app_changes_then_incremental_equals_full_rebuild_and_live_sql(
    fresh_db: str, store_path: Path, tmp_path: Path
) -> None:
    seed_small(fresh_db)
    config = make_config(store_path)
    refs = References(tmp_path / "refs")
    refresh(config, fresh_db, "nightly", AS_OF, full=True)
    before = tmp_path / "before" / "metrics.duckdb"
    copy_store(store_path, before)

    with database.connect(fresh_db) as conn:
        changes = apply_app_changes(conn, LATER)
    # Vacuum, as autovacuum would: freezing the new row versions must not hide them (no rewrite).
    with database.connect(fresh_db, autocommit=True) as conn:
        conn.execute("VACUUM (FREEZE, ANALYZE) sessions, session_ratings, step_ratings, users, trees")
    incremental(store_path, fresh_db, LATER)

    reference = refs.build(fresh_db, LATER)
    assert_same_store(store_path, reference, what=f"incremental at {LATER}")
    assert_bodies(fresh_db, config, LATER, what="incremental", users=changes.users, trees=changes.trees)

    # Again at the same as_of, nothing changed since: nothing to take, the same store.
    incremental(store_path, fresh_db, LATER)
    assert_same_store(store_path, reference, what=f"a second incremental at {LATER}")

    # The hourly over the store from before the changes: it applies them to the older days
    # and recomputes the lookback from the source; the two agree (no drift), and so does the store.
    hourly = refresh(make_config(before), fresh_db, "hourly", LATER)
    assert hourly.status == "success" and hourly.fallback is None, hourly
    assert set(drift(hourly).values()) <= {0}, f"the hourly's drift over the older store: {hourly.drift_rows}"
    assert_same_store(before, reference, what=f"hourly at {LATER} over the store from before the changes")

    # The hourly over the incremental's store finds nothing to correct.
    checked = tmp_path / "checked" / "metrics.duckdb"
    copy_store(store_path, checked)
    audit = refresh(make_config(checked), fresh_db, "hourly", LATER)
    assert audit.fallback is None, audit.fallback
    assert set(drift(audit).values()) <= {0}, f"drift after an exact incremental: {audit.drift_rows}"
    assert_same_store(checked, reference, what="hourly over the incremental's store")

    # Nothing changes, as_of moves on: sessions fall out of every window.
    much_later = LATER + timedelta(days=3, minutes=5)
    incremental(store_path, fresh_db, much_later)
    assert_same_store(store_path, refs.build(fresh_db, much_later), what=f"unchanged source at {much_later}")
    assert_bodies(fresh_db, config, much_later, what="unchanged source", users=changes.users, trees=changes.trees)

    # A backfill: an explicit as_of before the published one.
    earlier = AS_OF - timedelta(days=2, hours=5)
    incremental(store_path, fresh_db, earlier)
    assert_same_store(store_path, refs.build(fresh_db, earlier), what=f"a backfill at {earlier}")


@pytest.mark.slow
def test_as_of_defaults_to_the_source_snapshot(fresh_db: str, store_path: Path, tmp_path: Path) -> None:
    """Without --as-of the run is as of its snapshot, recorded in the run and the store alike."""
    seed_small(fresh_db, seed_value=2, sessions=800)
    config = make_config(store_path)
    run_refresh(config, fresh_db, mode="nightly", full=True)
    with database.connect(fresh_db) as conn:
        App(conn).insert_session(SEED_ANCHOR - timedelta(hours=1))
        conn.commit()
    before = datetime.now(UTC)
    record = run_refresh(config, fresh_db, mode="incremental")
    assert record.status == "success" and record.fallback is None, record
    assert before <= record.as_of <= datetime.now(UTC), (before, record.as_of)
    assert datetime.fromisoformat(store_meta(store_path)["as_of"]) == record.as_of
    assert_same_store(store_path, References(tmp_path / "refs").build(fresh_db, record.as_of), what="as_of None")


@pytest.mark.slow
def test_the_hourly_reports_drift_and_corrects_it(fresh_db: str, store_path: Path, tmp_path: Path) -> None:
    """A store whose rows are wrong (as a missed change would leave them): the hourly counts and mends them."""
    seed_small(fresh_db, seed_value=4, sessions=900)
    refresh(make_config(store_path), fresh_db, "nightly", AS_OF, full=True)
    recent = f"TIMESTAMPTZ '{(AS_OF - timedelta(days=20)).isoformat()}'"
    write_store(
        store_path,
        "UPDATE fact_sessions SET outcome = 'escalated', completed_at = coalesce(completed_at, started_at) "
        f"WHERE session_id IN (SELECT session_id FROM fact_sessions WHERE started_at >= {recent} "
        "AND outcome IS DISTINCT FROM 'escalated' ORDER BY session_id LIMIT 2)",
        "UPDATE fact_ratings SET rating = 6 - rating WHERE rating_id = (SELECT min(rating_id) FROM fact_ratings "
        f"WHERE created_at >= {recent} AND rating <> 3)",
        "UPDATE fact_step_ratings SET helpful = NOT helpful WHERE step_rating_id = "
        f"(SELECT min(step_rating_id) FROM fact_step_ratings WHERE created_at >= {recent})",
    )
    later = AS_OF + timedelta(minutes=30)
    record = refresh(make_config(store_path), fresh_db, "hourly", later)
    assert record.status == "success" and record.fallback is None, record
    found = drift(record)
    assert all(found.get(table, 0) > 0 for table in ("fact_sessions", "fact_ratings", "fact_step_ratings")), found
    assert_same_store(store_path, References(tmp_path / "refs").build(fresh_db, later), what="the hourly's repair")


@pytest.mark.slow
def test_window_edges_exactly_at_as_of_minus_each_period(fresh_db: str, store_path: Path, tmp_path: Path) -> None:
    """Sessions and ratings exactly at as_of - 7d, - 30d, - 90d: in at as_of, out a minute later."""
    seed_small(fresh_db, seed_value=11, sessions=1_500)
    config = make_config(store_path)
    refs = References(tmp_path / "refs")
    refresh(config, fresh_db, "nightly", AS_OF - timedelta(hours=2), full=True)
    with database.connect(fresh_db) as conn:
        app = App(conn)
        users = []
        for days in (7, 30, 90):
            edge = AS_OF - timedelta(days=days)
            done = app.insert_session(edge, completed_minutes=4.5, outcome="escalated")
            app.insert_session(edge, completed_minutes=None)
            app.insert_session(edge - timedelta(microseconds=1), completed_minutes=2.0)
            app.rate(done, 4, f"edge {days}d", edge)
            app.rate_step(done, True, edge)
            row = conn.execute("SELECT user_id FROM sessions WHERE id = %s", (done,)).fetchone()
            assert row is not None
            users.append(str(row[0]))
        app.insert_session(AS_OF, completed_minutes=1.0)
        # The lookback's first midnight, and the UTC midnights either side of the 7-day edge.
        since = lookback_start(AS_OF)
        seven = (AS_OF - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
        for moment in (since, since - timedelta(microseconds=1), seven, seven + timedelta(days=1)):
            app.insert_session(moment, completed_minutes=0.5)
        conn.commit()
    for as_of in (AS_OF, AS_OF + timedelta(minutes=1)):
        incremental(store_path, fresh_db, as_of)
        assert_same_store(store_path, refs.build(fresh_db, as_of), what=f"edges at {as_of}")
        assert_bodies(fresh_db, config, as_of, what=f"edges at {as_of}", users=users)


def _open_writes(url: str, at: datetime) -> tuple[psycopg.Connection[Any], psycopg.Connection[Any]]:
    """Two app transactions left open (one inserts a session, one completes another), a third committed."""
    inserting = database.connect(url)
    App(inserting).insert_session(at - timedelta(minutes=7), completed_minutes=None)
    updating = database.connect(url)
    updating.execute("SAVEPOINT before_update")  # the row version gets a subtransaction's xid
    app = App(updating)
    target = app.session("completed_at IS NULL AND started_at >= %(lo)s", lo=at - timedelta(days=20))
    app.update_session(target, "completed_at = started_at + interval '44 minutes', outcome = 'resolved'")
    # A later transaction commits first: the snapshot's xmax passes the open ones, its xmin does not.
    with database.connect(url) as later:
        App(later).insert_session(at - timedelta(minutes=5))
        later.commit()
    return inserting, updating


@pytest.mark.slow
@pytest.mark.parametrize("straddled", ["incremental", "nightly full"])
def test_transactions_in_flight_during_a_refresh_are_caught_next_time(
    fresh_db: str, store_path: Path, tmp_path: Path, straddled: str
) -> None:
    """Rows written before a refresh's snapshot but committed after it are in the next incremental."""
    seed_small(fresh_db, seed_value=5, sessions=1_200)
    config = make_config(store_path)
    refs = References(tmp_path / "refs")
    first, second = AS_OF, AS_OF + timedelta(minutes=3)
    if straddled == "incremental":
        refresh(config, fresh_db, "nightly", AS_OF - timedelta(hours=1), full=True)
    inserting, updating = _open_writes(fresh_db, first)
    try:
        if straddled == "incremental":
            incremental(store_path, fresh_db, first)
            # Still open at the next refresh too: its watermark must not pass them.
            first += timedelta(minutes=1)
            incremental(store_path, fresh_db, first)
        else:
            refresh(config, fresh_db, "nightly", first, full=True)
        assert_same_store(store_path, refs.build(fresh_db, first), what="with writes in flight")
    finally:
        inserting.commit()
        updating.commit()
        inserting.close()
        updating.close()
    incremental(store_path, fresh_db, second)
    assert_same_store(store_path, refs.build(fresh_db, second), what="after the writes committed")
    assert_bodies(fresh_db, config, second, what="after the writes committed")


@pytest.mark.slow
def test_a_transaction_committing_while_the_incremental_reads(fresh_db: str, store_path: Path, tmp_path: Path) -> None:
    """A commit during the refresh lands either in it or in the next one, never in neither."""
    seed_small(fresh_db, seed_value=9, sessions=1_200)
    refs = References(tmp_path / "refs")
    refresh(make_config(store_path), fresh_db, "nightly", AS_OF - timedelta(hours=1), full=True)
    inserting, updating = _open_writes(fresh_db, AS_OF)
    committed = threading.Event()

    def commit_soon() -> None:
        inserting.commit()
        updating.commit()
        committed.set()

    timer = threading.Timer(0.3, commit_soon)
    timer.start()
    try:
        incremental(store_path, fresh_db, AS_OF)
    finally:
        timer.join()
        inserting.close()
        updating.close()
    assert committed.is_set()
    incremental(store_path, fresh_db, AS_OF + timedelta(minutes=1))
    assert_same_store(store_path, refs.build(fresh_db, AS_OF + timedelta(minutes=1)), what="after a mid-read commit")


@pytest.mark.slow
@pytest.mark.parametrize("index", ["started_at indexed", "no index on started_at"])
def test_deletes_at_the_edges_of_the_narrowing(fresh_db: str, store_path: Path, tmp_path: Path, index: str) -> None:
    """Deleted sessions are found whether the day is narrowed over the index (hours, minutes) or by id buckets.

    Deletes at a UTC midnight and just before it, two of three sessions of one minute, and a
    delete whose minute also gains an insert (its count alone would not drop).
    """
    seed_small(fresh_db, seed_value=13, sessions=1_200)
    config = make_config(store_path)
    day = (AS_OF - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    minute = day + timedelta(hours=9, minutes=41)
    moments = [
        day,
        day - timedelta(microseconds=1),
        minute,
        minute + timedelta(seconds=20),
        minute + timedelta(seconds=59),
    ]
    moments.append(day + timedelta(hours=15, minutes=2, seconds=30))
    with database.connect(fresh_db) as conn:
        app = App(conn)
        if index != "started_at indexed":
            conn.execute("DROP INDEX ix_sessions_started_at")
        placed = [app.insert_session(moment, completed_minutes=3.0) for moment in moments]
        conn.commit()
    refresh(config, fresh_db, "nightly", AS_OF, full=True)
    with database.connect(fresh_db) as conn:
        app = App(conn)
        gone = [placed[0], placed[1], placed[2], placed[4], placed[5]]
        conn.execute("DELETE FROM session_ratings WHERE session_id = ANY(%s)", (gone,))
        conn.execute("DELETE FROM sessions WHERE id = ANY(%s)", (gone,))
        app.insert_session(moments[5] + timedelta(seconds=10), completed_minutes=1.0)
        conn.commit()
    later = AS_OF + timedelta(minutes=5)
    incremental(store_path, fresh_db, later)
    assert_same_store(store_path, References(tmp_path / "refs").build(fresh_db, later), what=f"deletes, {index}")
    assert_bodies(fresh_db, config, later, what=f"deletes, {index}")
