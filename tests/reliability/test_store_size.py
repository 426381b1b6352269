"""A bounded store: hourly refreshes on unchanged data keep the file near a nightly-built one.

An hourly refresh builds a new file and copies the older days into it; it used to start
from a copy of the previous file and delete from it, and DuckDB does not give freed blocks
back, so the file grew with every hourly run. `make soak` runs the full 24 hourlies.
"""

from __future__ import annotations

import duckdb

from etl.store import resolve_store
from jobs.history import utcnow
from jobs.refresh import run_refresh
from tests.reliability.conftest import Published

HOURLIES = 6
BOUND = 1.2
"""After any number of hourly refreshes, at most this times a nightly-built store's size."""


def history_rows(published: Published) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(resolve_store(published.config.metrics_db)), read_only=True)
    try:
        return con.sql(
            "SELECT 'sessions', scope, scope_id, day, sessions, completed_sessions, median_duration_minutes "
            "FROM daily_sessions UNION ALL "
            "SELECT 'ratings', tree_id, '', day, ratings, rating_sum, NULL FROM daily_ratings ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def test_hourly_refreshes_keep_the_store_within_bound_of_a_nightly(published: Published) -> None:
    config, url = published.config, published.url
    nightly_history = history_rows(published)
    sizes = []
    for _ in range(HOURLIES):
        record = run_refresh(config, url, mode="hourly", as_of=utcnow())
        assert record.mode == "hourly"
        sizes.append(resolve_store(config.metrics_db).stat().st_size)
    # The same data rebuilt from scratch at the last hourly's as_of.
    assert history_rows(published) == nightly_history
    run_refresh(config, url, mode="nightly", as_of=record.as_of)
    nightly = resolve_store(config.metrics_db).stat().st_size
    assert max(sizes) <= BOUND * nightly, f"hourly store sizes {sizes} against a nightly one of {nightly} bytes"
