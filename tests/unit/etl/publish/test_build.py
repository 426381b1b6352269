"""Tests of etl.publish.build: StoreBuild writes a store table by table, in parts, published once or not at all."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import polars as pl
import pytest

from etl.errors import PublishError
from etl.publish import StoreBuild
from etl.publish import build as publish
from etl.publish.append import SORT_KEYS
from etl.store import resolve_store
from tests.api.conftest import publish_store, store_tables
from tests.api.sample import AS_OF, sample_rows

META = {"as_of": AS_OF.isoformat(), "built_at": AS_OF.isoformat(), "mode": "nightly"}


def read(path: Path, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(query).fetchall()
    finally:
        con.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".building" in p.name)


def test_a_table_written_in_parts_is_stored_whole_in_key_order(store_path: Path) -> None:
    tables = store_tables(sample_rows())
    series = tables.pop("window_time_series").sample(fraction=1.0, shuffle=True, seed=7)
    half = series.height // 2
    with StoreBuild(store_path) as build:
        for name, frame in tables.items():
            build.write(name, frame)
        build.write("window_time_series", series.slice(0, half))
        build.write("window_time_series", series.slice(half))
        result = build.publish(META)
    stored = read(result.path, "SELECT * FROM window_time_series")
    assert sorted(stored, key=repr) == sorted(series.rows(), key=repr)
    # Parts smaller than a batch are appended together, sorted by the lookup key as one.
    keys = SORT_KEYS["window_time_series"].split(", ")
    assert stored == pl.DataFrame(stored, schema=series.schema, orient="row").sort(keys).rows()


def test_parts_beyond_a_batch_are_appended_in_batches_each_in_key_order(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = store_tables(sample_rows())
    series = tables.pop("window_time_series").sample(fraction=1.0, shuffle=True, seed=11)
    assert series.height >= 9
    monkeypatch.setattr(publish, "BATCH_ROWS", 4)
    parts = [series.slice(i, 3) for i in range(0, series.height, 3)]
    with StoreBuild(store_path) as build:
        for name, frame in tables.items():
            build.write(name, frame)
        for part in parts:
            build.write("window_time_series", part)
        result = build.publish(META)
    stored = read(result.path, "SELECT * FROM window_time_series")
    assert sorted(stored, key=repr) == sorted(series.rows(), key=repr)
    # Two parts of 3 rows reach the batch of 4: rows 0-5 are one sorted batch, and so on.
    keys = SORT_KEYS["window_time_series"].split(", ")
    for start in range(0, series.height, 6):
        batch = stored[start : start + 6]
        assert batch == pl.DataFrame(batch, schema=series.schema, orient="row").sort(keys).rows()


def test_a_part_that_does_not_fit_its_table_fails_the_build_and_keeps_the_last_store(store_path: Path) -> None:
    previous = publish_store(store_path, sample_rows(), as_of=AS_OF).path
    tables = store_tables(sample_rows())
    bad = tables["window_summary"].with_columns(pl.lit("many").alias("total_sessions"))
    failed = "writing window_summary into the new store failed"
    with pytest.raises(PublishError, match=failed), StoreBuild(store_path) as build:
        for name, frame in {**tables, "window_summary": bad}.items():
            build.write(name, frame)
        build.publish(META)
    assert resolve_store(store_path) == previous
    assert leftovers(store_path.parent) == []


def test_categorical_ids_are_stored_as_their_text(store_path: Path) -> None:
    tables = store_tables(sample_rows())
    summary = tables["window_summary"]
    coded = summary.with_columns(pl.col("scope_id", "engineer_id").cast(pl.Categorical))
    with StoreBuild(store_path) as build:
        for name, frame in {**tables, "window_summary": coded}.items():
            build.write(name, frame)
        result = build.publish(META)
    stored = read(result.path, "SELECT scope_id, engineer_id FROM window_summary")
    assert sorted(stored) == sorted(summary.select("scope_id", "engineer_id").rows())
    types = read(result.path, "SELECT data_type FROM information_schema.columns WHERE column_name = 'scope_id'")
    assert {t for (t,) in types} == {"VARCHAR"}


def test_tables_written_from_another_thread_are_published(store_path: Path) -> None:
    tables = store_tables(sample_rows())
    history = tables.pop("daily_sessions")
    half = history.height // 2
    errors: list[BaseException] = []
    with StoreBuild(store_path) as build:

        def write_history() -> None:
            try:
                build.write("daily_sessions", history.slice(0, half))
                build.write("daily_sessions", history.slice(half))
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=write_history)
        writer.start()
        for name, frame in tables.items():
            build.write(name, frame)
        writer.join()
        result = build.publish(META)
    assert errors == []
    assert result.rows == sum(f.height for f in tables.values()) + history.height + len(META) + 1
    stored = read(result.path, "SELECT * FROM daily_sessions")
    assert sorted(stored, key=repr) == sorted(history.rows(), key=repr)


def test_leaving_the_block_without_publishing_leaves_the_last_store(store_path: Path) -> None:
    previous = publish_store(store_path, sample_rows(), as_of=AS_OF).path
    with pytest.raises(RuntimeError, match="stopped mid-build"), StoreBuild(store_path) as build:
        build.write("users", store_tables(sample_rows())["users"])
        raise RuntimeError("stopped mid-build")
    assert resolve_store(store_path) == previous
    assert leftovers(store_path.parent) == []
    assert read(store_path, "SELECT count(*) FROM users")[0][0] == len(sample_rows()["users"])


def test_a_store_missing_tables_is_not_published(store_path: Path) -> None:
    previous = publish_store(store_path, sample_rows(), as_of=AS_OF).path
    with pytest.raises(PublishError, match="no data given for store tables"), StoreBuild(store_path) as build:
        build.write("users", store_tables(sample_rows())["users"])
        build.publish(META)
    assert resolve_store(store_path) == previous
    assert leftovers(store_path.parent) == []


def test_only_store_tables_can_be_written(store_path: Path) -> None:
    with pytest.raises(PublishError, match="not a store table"), StoreBuild(store_path) as build:
        build.write("sessions", pl.DataFrame({"x": [1]}))
    assert leftovers(store_path.parent) == []


def test_an_hourly_build_keeps_only_the_older_days_of_the_current_store(store_path: Path) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    tables = store_tables(sample_rows())
    days = sorted(set(tables["daily_sessions"]["day"].to_list()))
    cut = days[len(days) // 2]
    # The recomputed days come back with other numbers; the older days must be the stored ones.
    recent = tables["daily_sessions"].filter(pl.col("day") >= cut).with_columns(pl.col("sessions") + 1000)
    with StoreBuild(store_path, history_before=cut) as build:
        for name, frame in tables.items():
            if name not in ("daily_sessions", "daily_ratings"):
                build.write(name, frame)
        build.write("daily_sessions", recent)
        result = build.publish(META)
    stored = read(result.path, "SELECT * FROM daily_sessions")
    expected = tables["daily_sessions"].filter(pl.col("day") < cut).rows() + recent.rows()
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    for name in ("users", "window_summary", "window_time_series"):  # not doubled by the copy
        assert read(result.path, f"SELECT count(*) FROM {name}")[0][0] == tables[name].height


def test_an_hourly_build_refuses_a_store_of_another_schema_version(store_path: Path) -> None:
    previous = publish_store(store_path, sample_rows(), as_of=AS_OF).path
    con = duckdb.connect(str(previous))
    con.execute("UPDATE store_meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(PublishError, match="schema version 0"), StoreBuild(store_path, history_before=AS_OF.date()):
        pass
    assert resolve_store(store_path) == previous
    assert leftovers(store_path.parent) == []
