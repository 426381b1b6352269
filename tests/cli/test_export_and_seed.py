"""Exported UUIDs read as text in Polars and DuckDB alike; seed names its flag."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from etl.store import resolve_store
from jobs.cli import main

Capture = pytest.CaptureFixture[str]


def test_exported_uuids_read_as_the_same_text_in_polars_and_duckdb(
    cli_env: dict[str, str], tmp_path: Path, capsys: Capture
) -> None:
    folder = tmp_path / "export"
    assert main(["-q", "export", "--format", "parquet", str(folder)], cli_env) == 0
    schema = json.loads((folder / "schema.json").read_text())
    store = duckdb.connect(str(resolve_store(Path(cli_env["METRICS_DB"]))), read_only=True)
    checked = 0
    try:
        for table in schema["tables"]:
            parquet = str(folder / table["file"])
            for column in table["columns"]:
                name = column["name"]
                if column["type"] != "UUID":
                    assert "read_as_text" not in column
                    continue
                cast = column["read_as_text"]
                stored = sorted(
                    str(v) for (v,) in store.sql(f'SELECT "{name}"::VARCHAR FROM "{table["name"]}"').fetchall()
                )
                by_duckdb = duckdb.execute(f"SELECT {cast['duckdb']} AS v FROM read_parquet('{parquet}')").fetchall()
                frame = pl.read_parquet(parquet).select(eval(cast["polars"], {"pl": pl}))
                assert frame.schema[name] == pl.String
                assert sorted(v for (v,) in by_duckdb) == stored
                assert sorted(frame[name].to_list()) == stored
                assert stored and len(stored[0]) == 36 and stored[0].count("-") == 4
                checked += 1
    finally:
        store.close()
    assert checked >= 1, "the store has a UUID column (fact_sessions.session_id)"


def test_seed_into_a_seeded_database_names_the_flag(fresh_db: str, store_path: Path, capsys: Capture) -> None:
    env = {"DATABASE_URL": fresh_db, "METRICS_DB": str(store_path)}
    assert main(["-q", "seed", "--sessions", "50", "--accounts", "1", "--days", "5"], env) == 0
    capsys.readouterr()
    assert main(["-q", "seed", "--sessions", "50", "--accounts", "1", "--days", "5"], env) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "already has 50 sessions" in err
    assert "pass --append to add more" in err
    assert "append=True" not in err
