"""The SQL statements shipped in etl/sql: extraction queries, the store DDL, audits."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import polars as pl

SQL_DIR = Path(__file__).parent / "sql"


@cache
def read(name: str) -> str:
    return (SQL_DIR / name).read_text()


def audits(*, whole: bool = True) -> list[tuple[str, str]]:
    """(name, query) pairs from audits.sql; each query must return zero rows.

    `whole` False: only those an overlay can pass alone (not marked `-- needs: all history`).
    """
    parts = re.split(r"^-- audit: (\S+)\s*$", read("audits.sql"), flags=re.MULTILINE)
    found = [(name, query.strip().rstrip(";")) for name, query in zip(parts[1::2], parts[2::2], strict=True)]
    return [(name, query) for name, query in found if whole or "-- needs: all history" not in query]


@cache
def named(name: str) -> dict[str, str]:
    """The `-- query: <name>` blocks of etl/sql/`name`, by name."""
    parts = re.split(r"^-- query: (\S+)\s*$", read(name), flags=re.MULTILINE)
    return {key: query.strip().rstrip(";") for key, query in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def store_column_types() -> dict[str, list[tuple[str, str]]]:
    """(column, DuckDB type) of each store table, in DDL order (parsed by DuckDB itself)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(read("store.sql"))
        rows = con.sql(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        columns.setdefault(table, []).append((column, data_type))
    return columns


_POLARS_TYPES = {
    "VARCHAR": pl.String(),
    "UUID": pl.String(),  # ids travel as text; DuckDB casts them on insert
    "BIGINT": pl.Int64(),
    "INTEGER": pl.Int32(),
    "DOUBLE": pl.Float64(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "TIMESTAMP WITH TIME ZONE": pl.Datetime("us", "UTC"),
    "VARCHAR[]": pl.List(pl.String()),
}


def store_schema(table: str) -> pl.Schema:
    """The Polars schema of a store table's rows, from its DDL."""
    return pl.Schema({name: _POLARS_TYPES[kind] for name, kind in store_column_types()[table]})


def store_columns() -> dict[str, list[str]]:
    """Column names of each store table, in DDL order."""
    return {table: [name for name, _ in columns] for table, columns in store_column_types().items()}
