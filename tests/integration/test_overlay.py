"""The incremental refresh's overlay (etl/store.py): what it writes, what serves, what replaces it.

The incremental publishes METRICS_DB.overlay on top of the base store; the API serves the
overlay, analysts' METRICS_DB stays the base until the next hourly or nightly, which
removes the overlay. An overlay that does not lie on the current base, or cannot be read,
is ignored, and the incremental over the base alone is still exact.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from etl import database
from etl.config import Config
from etl.store import HISTORY_TABLES, REPLACED_PREFIX, UNIT_KEYS, current_store, overlay_path, resolve_store
from jobs.status import render_status
from metrics_api.reader import StoreReader
from synthetic.seed import seed
from tests.incremental import (
    AS_OF,
    SEED_ANCHOR,
    App,
    References,
    assert_same_store,
    make_config,
    refresh,
)


def _meta(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {str(k): str(v) for k, v in con.sql("SELECT key, value FROM store_meta").fetchall()}
    finally:
        con.close()


def _days_held(path: Path) -> set[str]:
    """The days of the per-day tables an overlay file holds rows of."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        union = " UNION ".join(f"SELECT DISTINCT day FROM {table}" for table in HISTORY_TABLES)
        return {row[0].isoformat() for row in con.sql(union).fetchall()}
    finally:
        con.close()


def _nightly(url: str, store_path: Path, tmp_path: Path, *, seed_value: int) -> tuple[Config, References]:
    """A seeded source and its store from a nightly --full at AS_OF; references beside it."""
    seed(url, sessions=1_000, accounts=2, days=120, seed=seed_value, now=SEED_ANCHOR)
    config = make_config(store_path)
    refresh(config, url, "nightly", AS_OF, full=True)
    return config, References(tmp_path / "refs")


def _insert_session(url: str, started_at: datetime) -> None:
    """The app saves one session, in a transaction of its own."""
    with database.connect(url) as conn:
        App(conn).insert_session(started_at)
        conn.commit()


def _facts(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.sql("SELECT count(*) FROM fact_sessions").fetchall()[0][0])
    finally:
        con.close()


def _replaced(path: Path) -> dict[str, int]:
    """Keys per table of the base's rows an overlay file replaces (tables with any)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        counts = {t: int(con.sql(f"SELECT count(*) FROM {REPLACED_PREFIX}{t}").fetchall()[0][0]) for t in UNIT_KEYS}
        return {table: count for table, count in counts.items() if count}
    finally:
        con.close()


@pytest.mark.slow
def test_the_incremental_publishes_an_overlay_that_serves_until_the_next_base(
    fresh_db: str, store_path: Path, tmp_path: Path
) -> None:
    config, refs = _nightly(fresh_db, store_path, tmp_path, seed_value=5)
    base = resolve_store(store_path)

    first_at = AS_OF + timedelta(minutes=1)
    _insert_session(fresh_db, SEED_ANCHOR - timedelta(days=1, hours=2))
    record = refresh(config, fresh_db, "incremental", first_at)
    assert record.fallback is None, record.fallback

    # The base is untouched: analysts' METRICS_DB is still the nightly's file.
    current = current_store(store_path)
    assert resolve_store(store_path) == base == current.base
    assert current.overlay is not None and current.overlay.name.startswith("metrics.duckdb.overlay.v")
    meta = _meta(current.overlay)
    assert meta["base_version"] == base.name and meta["as_of"] == first_at.isoformat()
    assert _meta(base)["as_of"] == AS_OF.isoformat()
    # It holds what the new session changed (no session crossed a window's start in that
    # minute): its fact row; its day's rows of its account, user and tree (one key each) and
    # of its tree's step feedback; in each of the three periods its account's, its user's and
    # its tree's summary and time series, its account narrowed to its user's too, its
    # account's and its user's top flows, its account's top engineers, its tree's step feedback.
    first_day = (SEED_ANCHOR - timedelta(days=1, hours=2)).date()
    assert _days_held(current.overlay) <= {first_day.isoformat()}
    assert _facts(current.overlay) == 1
    first_keys = {
        "fact_sessions": 1,
        "daily_sessions": 3,
        "daily_step_feedback": 1,
        "window_summary": 12,
        "window_time_series": 12,
        "window_top_flows": 6,
        "window_top_engineers": 3,
        "window_step_feedback": 3,
    }
    assert _replaced(current.overlay) == first_keys
    assert meta["replaced_keys"] == str(sum(first_keys.values()))

    # The API serves the overlay; `flowmetrics status` shows both.
    snapshot = StoreReader(store_path).snapshot()
    assert snapshot.path == current.overlay and snapshot.as_of == first_at
    status = render_status(config)
    # The data-quality history records the store the API serves, not the base under it.
    recorded = json.loads(config.quality_log.read_text().splitlines()[-1])
    assert recorded["run_id"] == record.run_id and recorded["built_at"] == meta["built_at"]
    assert f"-> {base.name}" in status
    assert f"overlay (the API serves it): {current.overlay.name}, 41 keys changed since the base" in status

    # A second incremental keeps the first's days and adds its own.
    second_at = first_at + timedelta(minutes=1)
    _insert_session(fresh_db, SEED_ANCHOR - timedelta(days=9))
    refresh(config, fresh_db, "incremental", second_at)
    second = current_store(store_path)
    assert second.base == base and second.overlay not in (None, current.overlay)
    assert second.overlay is not None and _facts(second.overlay) == 2  # the first's session is carried over
    assert _days_held(second.overlay) <= {first_day.isoformat(), (SEED_ANCHOR - timedelta(days=9)).date().isoformat()}
    assert _replaced(second.overlay) == {table: 2 * count for table, count in first_keys.items()}
    assert_same_store(store_path, refs.build(fresh_db, second_at), what="two overlays on one base")

    # The hourly publishes a new base and removes the overlay; the API serves the base.
    hourly_at = second_at + timedelta(minutes=1)
    refresh(config, fresh_db, "hourly", hourly_at)
    after = current_store(store_path)
    assert after.base != base and after.overlay is None
    assert not overlay_path(store_path).is_symlink()
    assert not list(store_path.parent.glob("metrics.duckdb.overlay.v*"))
    assert StoreReader(store_path).snapshot().path == after.base
    assert "overlay" not in render_status(config)
    assert_same_store(store_path, refs.build(fresh_db, hourly_at), what="the hourly after two overlays")


@pytest.mark.slow
def test_an_overlay_on_another_base_or_damaged_is_ignored_and_the_incremental_stays_exact(
    fresh_db: str, store_path: Path, tmp_path: Path
) -> None:
    config, refs = _nightly(fresh_db, store_path, tmp_path, seed_value=6)
    _insert_session(fresh_db, SEED_ANCHOR - timedelta(days=2))
    refresh(config, fresh_db, "incremental", AS_OF + timedelta(minutes=1))
    stale = current_store(store_path).overlay
    assert stale is not None
    kept = tmp_path / stale.name
    shutil.copyfile(stale, kept)

    # A nightly replaces the base; the old overlay put back beside it lies on another base.
    refresh(config, fresh_db, "nightly", AS_OF + timedelta(minutes=2))
    shutil.copyfile(kept, stale)
    overlay_path(store_path).symlink_to(stale.name)
    assert current_store(store_path).overlay is None, "an overlay on another base is not the current store"
    assert StoreReader(store_path).snapshot().path == resolve_store(store_path)

    _insert_session(fresh_db, SEED_ANCHOR - timedelta(days=4))
    at = AS_OF + timedelta(minutes=3)
    record = refresh(config, fresh_db, "incremental", at)
    assert record.fallback is None, record.fallback
    assert_same_store(store_path, refs.build(fresh_db, at), what="incremental over a stale overlay")

    # A damaged overlay (truncated after publishing) is ignored the same way: the base serves.
    served = current_store(store_path).overlay
    assert served is not None
    with open(served, "r+b") as file:
        file.truncate(4096)
    assert current_store(store_path).overlay is None
    later = at + timedelta(minutes=1)
    record = refresh(config, fresh_db, "incremental", later)
    assert record.status == "success" and record.fallback is None, record
    assert_same_store(store_path, refs.build(fresh_db, later), what="incremental over a damaged overlay")
