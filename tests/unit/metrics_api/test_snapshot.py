"""Tests of metrics_api.snapshot: what load_snapshot takes from a real published store (the
hand-written one of tests/api/sample.py), the stores it refuses, the damage mark and the
per-version cache."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from etl.errors import StoreUnavailable
from etl.publish import PublishResult
from etl.store import SCHEMA_VERSION
from metrics_api import snapshot as snapshots
from metrics_api.snapshot import Tree, User, load_snapshot
from tests.api.conftest import publish_store
from tests.api.sample import (
    ACCOUNT_A,
    ACCOUNT_B,
    AS_OF,
    AS_OF_TEXT,
    INACTIVE_A,
    NAMELESS_A,
    SUPER_B,
    TREE_A1,
    sample_rows,
    tiny_rows,
)

BUILT_AT = AS_OF + timedelta(minutes=2)
TOTAL = "SELECT total_sessions FROM window_summary WHERE period = ? AND scope = 'account' AND scope_id = ?"


@pytest.fixture
def sample(store_path: Path) -> PublishResult:
    return publish_store(store_path, sample_rows(), as_of=AS_OF, built_at=BUILT_AT)


def set_meta(path: Path, key: str, value: str | None) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("DELETE FROM store_meta WHERE key = ?", [key])
        if value is not None:
            con.execute("INSERT INTO store_meta VALUES (?, ?)", [key, value])


def test_the_snapshot_holds_the_published_version_and_its_dimensions(store_path: Path, sample: PublishResult) -> None:
    loaded = load_snapshot(store_path)
    assert loaded.path == sample.path != store_path
    st = os.stat(sample.path)
    assert loaded.identity == ((st.st_dev, st.st_ino), None)  # no overlay
    assert loaded.file_state == (st.st_size, st.st_mtime_ns)
    rows = sample_rows()
    assert sorted(loaded.users) == sorted(u["user_id"] for u in rows["users"])
    assert loaded.users[INACTIVE_A] == User(INACTIVE_A, ACCOUNT_A, False, True, False)
    assert loaded.users[SUPER_B] == User(SUPER_B, ACCOUNT_B, True, False, True)
    assert NAMELESS_A in loaded.users  # a user without a name is still a caller
    assert loaded.trees[TREE_A1] == Tree(TREE_A1, ACCOUNT_A, "Printer offline")
    assert len(loaded.trees) == len(rows["trees"])
    assert loaded.damaged is None


def test_the_store_meta_becomes_the_as_of_and_the_headers(store_path: Path, sample: PublishResult) -> None:
    loaded = load_snapshot(store_path)
    assert loaded.meta["schema_version"] == SCHEMA_VERSION and loaded.meta["mode"] == "nightly"
    assert loaded.as_of == AS_OF and loaded.built_at == BUILT_AT
    assert loaded.headers == {
        "X-Data-As-Of": AS_OF_TEXT,  # the text the bodies' as_of serialises to, microseconds and Z
        "Last-Modified": "Fri, 20 Nov 2026 09:30:15 GMT",
        "Cache-Control": "private, no-cache",
    }
    assert loaded.raw_headers == [(k.lower().encode(), v.encode()) for k, v in loaded.headers.items()]


def test_an_as_of_without_a_zone_is_read_as_utc(store_path: Path, sample: PublishResult) -> None:
    set_meta(sample.path, "as_of", AS_OF.replace(tzinfo=None).isoformat())
    set_meta(sample.path, "built_at", None)
    loaded = load_snapshot(store_path)
    assert loaded.as_of == AS_OF and loaded.as_of.utcoffset() == timedelta(0)
    assert loaded.built_at is None


def test_the_last_run_is_the_latest_started_refresh_run(store_path: Path, sample: PublishResult) -> None:
    last_run = load_snapshot(store_path).last_run
    assert last_run is not None
    assert last_run["run_id"] == "run-2" and last_run["status"] == "success" and last_run["as_of"] == AS_OF
    publish_store(store_path, tiny_rows(3, AS_OF), as_of=AS_OF)  # no refresh_runs rows
    assert load_snapshot(store_path).last_run is None


def test_a_tree_without_a_name_is_shown_with_an_empty_name(store_path: Path) -> None:
    rows = sample_rows()
    rows["trees"][0]["name"] = None
    publish_store(store_path, rows, as_of=AS_OF)
    assert load_snapshot(store_path).trees[rows["trees"][0]["tree_id"]].name == ""


# --- Stores it refuses: each a StoreUnavailable saying what to do.


def test_no_store_yet(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no store at .*refresh --mode nightly"):
        load_snapshot(tmp_path / "metrics.duckdb")


def test_a_store_of_another_schema_version(store_path: Path, sample: PublishResult) -> None:
    set_meta(sample.path, "schema_version", "2")
    with pytest.raises(StoreUnavailable, match=rf"schema_version '2', this API reads '{SCHEMA_VERSION}'"):
        load_snapshot(store_path)


def test_a_store_without_an_as_of(store_path: Path, sample: PublishResult) -> None:
    set_meta(sample.path, "as_of", None)
    with pytest.raises(StoreUnavailable, match="no as_of in store_meta"):
        load_snapshot(store_path)


@pytest.mark.parametrize("damage", ["missing-table", "bad-as-of", "not-a-store"])
def test_a_store_it_cannot_read(store_path: Path, sample: PublishResult, damage: str) -> None:
    if damage == "not-a-store":
        sample.path.write_bytes(b"not a DuckDB file")
    else:
        with duckdb.connect(str(sample.path)) as con:
            if damage == "missing-table":
                con.execute("DROP TABLE trees")
            else:
                con.execute("UPDATE store_meta SET value = 'yesterday' WHERE key = 'as_of'")
    with pytest.raises(StoreUnavailable, match=r"(not readable|cannot open).*"):
        load_snapshot(store_path)


# --- One version, read-only, for as long as a request holds it.


def test_queries_run_on_the_snapshot_read_only(store_path: Path, sample: PublishResult) -> None:
    loaded = load_snapshot(store_path)
    with loaded.queries() as queries:
        assert queries.sql(TOTAL, ["7d", ACCOUNT_A]) == [(3,)]
        assert queries.sql("SELECT count(*) FROM users WHERE account_id = ?", [ACCOUNT_B]) == [(3,)]
    with pytest.raises(StoreUnavailable), loaded.queries() as queries:
        queries.sql("DELETE FROM users", [])
    assert loaded.damaged is not None and "read-only" in loaded.damaged


def test_a_failing_query_marks_the_version_damaged_and_keeps_the_first_reason(
    store_path: Path, sample: PublishResult
) -> None:
    loaded = load_snapshot(store_path)
    with pytest.raises(StoreUnavailable, match="changed on disk after it was published"), loaded.queries() as queries:
        queries.sql("SELECT * FROM no_such_table", [])
    assert loaded.damaged is not None and "no_such_table" in loaded.damaged
    loaded.damage("its size or modification time changed")
    assert loaded.damaged == "its size or modification time changed"


def test_a_snapshot_keeps_reading_its_version_after_later_publishes_removed_it(
    store_path: Path, sample: PublishResult
) -> None:
    loaded = load_snapshot(store_path)
    for total in (11, 12):
        publish_store(store_path, tiny_rows(total, AS_OF), as_of=AS_OF)
    assert not sample.path.exists()  # only the current and the previous version are kept
    with loaded.queries() as queries:
        assert queries.sql("SELECT count(*) FROM users", []) == [(len(sample_rows()["users"]),)]
        assert queries.sql(TOTAL, ["7d", ACCOUNT_A]) == [(3,)]
    assert load_snapshot(store_path).identity != loaded.identity


# --- The cache of rendered bodies (how a new version is warmed from it: tests/api/test_app.py).


def test_the_cache_keeps_the_most_recently_used_bodies(
    store_path: Path, sample: PublishResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "CACHE_ENTRIES", 2)
    loaded = load_snapshot(store_path)
    a, b, c = ("summary", "a"), ("summary", "b"), ("summary", "c")
    loaded.remember(a, b"A")
    loaded.remember(b, b"B")
    assert loaded.cached(a) == b"A"  # now the most recently used
    loaded.remember(c, b"C")
    assert loaded.cached(b) is None
    assert (loaded.cached(a), loaded.cached(c)) == (b"A", b"C")
    assert loaded.cached(("never", "asked")) is None


def test_the_hottest_keys_come_first_and_an_evicted_key_loses_its_hits(
    store_path: Path, sample: PublishResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "CACHE_ENTRIES", 4)
    loaded = load_snapshot(store_path)
    for key, hits in ((("cold",), 0), (("hot",), 3), (("warm",), 1), (("evicted",), 5)):
        loaded.remember(key, b"body")
        for _ in range(hits):
            loaded.cached(key)
    assert loaded.hottest() == [("evicted",), ("hot",), ("warm",), ("cold",)]
    for key in (("cold",), ("hot",), ("warm",)):
        loaded.cached(key)  # ("evicted",) is now the least recently used
    loaded.remember(("new",), b"body")
    assert loaded.hottest() == [("hot",), ("warm",), ("cold",), ("new",)]  # its hits went with it
