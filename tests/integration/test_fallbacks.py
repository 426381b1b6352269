"""When a refresh cannot vouch for the store it recomputes from the source, says why, and is exact.

Each case breaks one thing an incremental relies on (the store itself, its schema, its
watermark, the source tables' identity), then asserts that the run's fallback names the
reason and that its store equals a nightly full at the same as_of, bodies included.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from etl import database
from etl.runs import RunRecord, read_runs
from etl.store import resolve_store
from synthetic.seed import seed
from tests.incremental import (
    AS_OF,
    SEED_ANCHOR,
    App,
    References,
    assert_bodies,
    assert_same_store,
    make_config,
    refresh,
    store_meta,
    write_store,
)

LATER = AS_OF + timedelta(hours=1, minutes=3, seconds=2)
HEADER_BYTES = 3 * 4096
"""DuckDB's file header and its two database headers; blocks follow."""


def seed_small(url: str) -> None:
    seed(url, sessions=900, accounts=2, days=150, seed=13, now=SEED_ANCHOR)


def small_changes(url: str) -> None:
    """A few app writes, so that a fallback that kept the old store would show."""
    with database.connect(url) as conn:
        app = App(conn)
        app.insert_session(LATER - timedelta(hours=3))
        done = app.session("completed_at IS NULL AND started_at >= %(lo)s", lo=LATER - timedelta(days=30))
        app.update_session(done, "completed_at = started_at + interval '5 minutes', outcome = 'workaround'")
        gone = app.session("started_at >= %(lo)s", lo=LATER - timedelta(days=60))
        conn.execute("DELETE FROM sessions WHERE id = %s", (gone,))
        app.rate(app.session("started_at >= %(lo)s", lo=LATER - timedelta(days=5)), 3, "ok", LATER - timedelta(hours=1))
        conn.commit()


def refresh_after(url: str, store_path: Path, breaking: Callable[[Path], None], mode: str) -> RunRecord:
    """A nightly full at AS_OF, `breaking` done to its store, a few app writes, then a `mode` refresh at LATER."""
    seed_small(url)
    refresh(make_config(store_path), url, "nightly", AS_OF, full=True)
    breaking(store_path)
    small_changes(url)
    return refresh(make_config(store_path), url, mode, LATER)


def assert_exact_fallback(
    record: RunRecord, keyword: str | None, url: str, store_path: Path, tmp_path: Path, *, bodies: bool = True
) -> None:
    """The run fell back, named `keyword` (None: any reason) in its record and refresh_runs, and is exact."""
    assert record.status == "success", record
    assert record.fallback is not None, f"{record.mode} did not fall back"
    assert keyword is None or keyword in record.fallback.lower(), (
        f"expected a fallback naming {keyword!r}, got {record.fallback!r}"
    )
    recorded = [r for r in read_runs(make_config(store_path).runs_log) if r.run_id == record.run_id]
    assert recorded and recorded[-1].fallback == record.fallback, "refresh_runs does not say why it fell back"
    published = duckdb.connect(str(resolve_store(store_path)), read_only=True)
    try:
        rows = published.execute("SELECT fallback FROM refresh_runs WHERE run_id = ?", [record.run_id]).fetchall()
    finally:
        published.close()
    assert rows == [(record.fallback,)], rows
    reference = References(tmp_path / "refs").build(url, record.as_of)
    assert_same_store(store_path, reference, what=f"{record.mode} after a fallback ({record.fallback})")
    if bodies:
        assert_bodies(url, make_config(store_path), record.as_of, what=f"bodies after a fallback ({record.fallback})")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["incremental", "hourly"])
def test_no_store_yet(fresh_db: str, store_path: Path, tmp_path: Path, mode: str) -> None:
    seed_small(fresh_db)
    record = refresh(make_config(store_path), fresh_db, mode, LATER)
    assert_exact_fallback(record, "no store", fresh_db, store_path, tmp_path)


def _older_version(store_path: Path) -> None:
    write_store(store_path, "UPDATE store_meta SET value = '1' WHERE key = 'schema_version'")


def _missing_table(store_path: Path) -> None:
    write_store(store_path, "UPDATE store_meta SET value = '1' WHERE key = 'schema_version'", "DROP TABLE fact_ratings")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("older", "mode"),
    [(_older_version, "incremental"), (_missing_table, "hourly")],
    ids=["version-incremental", "a table missing-hourly"],
)
def test_another_schema_version(
    fresh_db: str, store_path: Path, tmp_path: Path, older: Callable[[Path], None], mode: str
) -> None:
    record = refresh_after(fresh_db, store_path, older, mode)
    assert_exact_fallback(record, "schema", fresh_db, store_path, tmp_path, bodies=older is _older_version)


def damage_a_fact_block(store_path: Path) -> None:
    """Garbage over a block of fact_sessions (the rows an incremental builds on), mid-file."""
    version = resolve_store(store_path)
    con = duckdb.connect(str(version), read_only=True)
    try:
        query = "SELECT DISTINCT block_id FROM pragma_storage_info('fact_sessions') WHERE block_id >= 0 ORDER BY 1"
        blocks = [int(r[0]) for r in con.sql(query).fetchall()]
        sizes = con.sql("SELECT block_size FROM pragma_database_size()").fetchall()
        block_size = int(sizes[0][0])
    finally:
        con.close()
    assert blocks, "fact_sessions has no block to damage"
    offset = HEADER_BYTES + blocks[len(blocks) // 2] * block_size + 1024
    assert offset + 4096 < version.stat().st_size
    with open(version, "r+b") as file:
        file.seek(offset)
        file.write(os.urandom(4096))
    con = duckdb.connect(str(version), read_only=True)
    try:
        with pytest.raises(duckdb.Error, match="(?i)checksum|corrupt"):
            con.sql("SELECT * FROM fact_sessions").fetchall()
    finally:
        con.close()


def truncate_the_file(store_path: Path) -> None:
    version = resolve_store(store_path)
    os.truncate(version, version.stat().st_size // 2)


def garbage_header(store_path: Path) -> None:
    with open(resolve_store(store_path), "r+b") as file:
        file.write(os.urandom(HEADER_BYTES))


def dangling_link(store_path: Path) -> None:
    resolve_store(store_path).unlink()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "mode"),
    [
        (damage_a_fact_block, "incremental"),
        (damage_a_fact_block, "hourly"),
        (damage_a_fact_block, "nightly"),
        (truncate_the_file, "incremental"),
        (garbage_header, "hourly"),
    ],
    ids=[
        "a block of garbage-incremental",
        "a block of garbage-hourly",
        "a block of garbage-nightly",
        "truncated-incremental",
        "not a database-hourly",
    ],
)
def test_a_damaged_store(
    fresh_db: str, store_path: Path, tmp_path: Path, damage: Callable[[Path], None], mode: str
) -> None:
    record = refresh_after(fresh_db, store_path, damage, mode)
    assert_exact_fallback(record, "damaged", fresh_db, store_path, tmp_path, bodies=mode == "incremental")


@pytest.mark.slow
def test_a_link_to_a_missing_file_is_no_store(fresh_db: str, store_path: Path, tmp_path: Path) -> None:
    record = refresh_after(fresh_db, store_path, dangling_link, "incremental")
    assert_exact_fallback(record, None, fresh_db, store_path, tmp_path)


def _source_xmin(url: str) -> int:
    with database.connect(url) as conn:
        row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()
    assert row is not None
    return int(str(row[0]))


WATERMARKS: dict[str, Callable[[str, dict[str, str]], str | None]] = {
    "missing": lambda url, meta: None,
    "not a number": lambda url, meta: "not-a-watermark",
    "ahead of the source": lambda url, meta: str(_source_xmin(url) + 1_000_000),
}


@pytest.mark.slow
@pytest.mark.parametrize("watermark", list(WATERMARKS))
def test_an_unusable_watermark(fresh_db: str, store_path: Path, tmp_path: Path, watermark: str) -> None:
    seed_small(fresh_db)
    refresh(make_config(store_path), fresh_db, "nightly", AS_OF, full=True)
    meta = store_meta(store_path)
    assert "source_watermark" in meta, f"the store keeps no source_watermark: {sorted(meta)}"
    value = WATERMARKS[watermark](fresh_db, meta)
    statements = ["DELETE FROM store_meta WHERE key = 'source_watermark'"]
    if value is not None:
        statements.append(f"INSERT INTO store_meta VALUES ('source_watermark', '{value}')")
    write_store(store_path, *statements)
    small_changes(fresh_db)
    record = refresh(make_config(store_path), fresh_db, "incremental", LATER)
    assert_exact_fallback(record, "watermark", fresh_db, store_path, tmp_path, bodies=watermark == "missing")


@pytest.mark.slow
def test_a_store_of_another_source(
    fresh_db: str, make_database: Callable[[], str], store_path: Path, tmp_path: Path
) -> None:
    """The store was built from another database: nothing in it can be vouched for."""
    other = make_database()
    seed(other, sessions=700, accounts=2, days=150, seed=99, now=SEED_ANCHOR)
    refresh(make_config(store_path), other, "nightly", AS_OF, full=True)
    seed_small(fresh_db)
    record = refresh(make_config(store_path), fresh_db, "incremental", LATER)
    assert_exact_fallback(record, None, fresh_db, store_path, tmp_path)


REWRITES: dict[str, list[str]] = {
    "VACUUM FULL sessions": ["VACUUM FULL sessions"],
    "VACUUM FULL session_ratings": ["VACUUM FULL session_ratings"],
    "TRUNCATE step_ratings": [
        "TRUNCATE step_ratings",
        "INSERT INTO step_ratings SELECT gen_random_uuid(), s.id, s.tree_id, 'n-after-truncate', true, s.user_id, "
        "s.started_at FROM sessions s ORDER BY s.started_at DESC LIMIT 3",
    ],
    "DROP TABLE step_ratings": ["DROP TABLE step_ratings"],
    "TRUNCATE sessions": [
        "CREATE TEMP TABLE kept AS SELECT * FROM sessions WHERE md5(id::text) > '4'",
        "TRUNCATE sessions",
        "INSERT INTO sessions SELECT * FROM kept",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("rewrite", list(REWRITES))
def test_a_table_rewritten_since(fresh_db: str, store_path: Path, tmp_path: Path, rewrite: str) -> None:
    seed_small(fresh_db)
    refresh(make_config(store_path), fresh_db, "nightly", AS_OF, full=True)
    small_changes(fresh_db)
    with database.connect(fresh_db, autocommit=True) as conn:
        for statement in REWRITES[rewrite]:
            conn.execute(statement.encode())
    record = refresh(make_config(store_path), fresh_db, "incremental", LATER)
    assert_exact_fallback(record, "rewritten", fresh_db, store_path, tmp_path, bodies=rewrite.startswith("TRUNCATE"))
