"""A bounded store: hourly refreshes on unchanged data keep the file near a nightly-built one.

An hourly refresh builds a new file and copies the older days into it; it used to start
from a copy of the previous file and delete from it, and DuckDB does not give freed blocks
back, so the file grew with every hourly run; a large store still starts from a copy
(etl.publish.carry), while the copy holds few free blocks. `make soak` runs the full 24 hourlies.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from etl.publish import carry
from etl.runs import utcnow
from etl.store import resolve_store
from jobs.refresh import run_refresh
from tests.reliability.conftest import Published

HOURLIES = 6
BOUND = 1.2
"""After any number of hourly refreshes, at most this times a nightly-built store's size."""


def query(published: Published, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(resolve_store(published.config.metrics_db)), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def history_rows(published: Published) -> list[tuple[object, ...]]:
    return query(
        published,
        "SELECT 'sessions', scope, scope_id, day, sessions, completed_sessions, median_duration_minutes "
        "FROM daily_sessions UNION ALL "
        "SELECT 'ratings', tree_id, '', day, ratings, rating_sum, NULL FROM daily_ratings ORDER BY ALL",
    )


@pytest.mark.slow
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


def store_rows(published: Published) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows but the run's own records (store_meta, refresh_runs)."""
    tables = [t for (t,) in query(published, "SELECT table_name FROM duckdb_tables()")]
    skip = ("store_meta", "refresh_runs")
    return {t: query(published, f"SELECT * FROM {t} ORDER BY ALL") for t in tables if t not in skip}


@pytest.mark.slow
def test_an_hourly_from_a_copied_file_writes_what_one_from_copied_rows_does(
    published: Published, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large stores start an hourly from a copy of the previous file (MIN_COPY_BYTES, made 0
    here); the result is the same store, and a copy left with too many free blocks is not
    copied again: the next hourly copies rows and its file holds no free blocks. Both hold
    what a nightly builds from scratch."""
    config, url = published.config, published.url
    monkeypatch.setattr(carry, "MIN_COPY_BYTES", 0)
    as_of = utcnow()
    said: list[str] = []
    record = run_refresh(config, url, mode="hourly", as_of=as_of, progress=said.append)
    assert record.status == "success"
    assert any("a copy of the previous file" in line for line in said), said
    from_copy = store_rows(published)
    assert free_share(published) > carry.MAX_FREE_SHARE  # this small file: its freed blocks are a large share

    said.clear()
    run_refresh(config, url, mode="hourly", as_of=as_of, progress=said.append)
    assert any("rows copied from the previous file" in line for line in said), said
    assert store_rows(published) == from_copy
    assert free_share(published) == 0
    # And both are what a nightly at that as_of builds from scratch.
    run_refresh(config, url, mode="nightly", as_of=as_of)
    assert store_rows(published) == from_copy


def free_share(published: Published) -> float:
    [(total, free)] = query(published, "SELECT total_blocks, free_blocks FROM pragma_database_size()")
    return float(free) / float(total)
