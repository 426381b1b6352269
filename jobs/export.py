"""`flowmetrics export --format parquet DIR`: every store table as a Parquet file, plus its schema.

For tools that do not speak DuckDB. Reads the published store (read-only) and writes only
inside DIR: `<table>.parquet` for each table and `schema.json` with the data dictionary's
comments. Each file is written under a temporary name and renamed into place, so a reader
of DIR never sees half a file; files of DIR that are not the export's are left alone.

A UUID column stays Parquet's UUID (16 bytes): DuckDB reads it as UUID, Polars and pyarrow
as 16 bytes of binary. Its entry in schema.json has `read_as_text`: the one expression per
reader that gives the usual text form, as the store's other ids have it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from etl.errors import FlowmetricsError
from etl.store import open_store

FORMATS = ("parquet",)
SCHEMA_FILE = "schema.json"
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ExportError(FlowmetricsError):
    """The export folder cannot be written, or a table could not be exported."""


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    tables: dict[str, int]  # rows per table
    store: Path


def export_store(metrics_db: Path, folder: Path, *, fmt: str = "parquet") -> ExportResult:
    """Write every table of the published store into `folder` as `fmt`, with schema.json."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    target = _writable_folder(folder)
    path, con = open_store(metrics_db)
    try:
        schema = _schema(con, path)
        rows = {}
        for table in schema["tables"]:
            rows[table["name"]] = _export_table(con, table["name"], target)
        _write_atomically(target / SCHEMA_FILE, json.dumps(schema, indent=2, default=str).encode() + b"\n")
    finally:
        con.close()
    return ExportResult(folder=target, tables=rows, store=path)


def _writable_folder(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"the export folder {folder} is a file; give a folder (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {folder}: {exc.strerror}; choose another DIR") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"the export folder {folder} is not writable; check its permissions or choose another DIR")
    return folder.resolve()


def _schema(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, Any]:
    """Tables and columns with their types and COMMENT ON text: the data dictionary, as JSON."""
    tables = con.sql(
        "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database() ORDER BY table_name"
    ).fetchall()
    columns = con.sql(
        "SELECT table_name, column_name, data_type, is_nullable, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() ORDER BY table_name, column_index"
    ).fetchall()
    meta = dict(con.sql("SELECT key, value FROM store_meta").fetchall())
    return {
        "store": path.name,
        "store_meta": meta,
        "tables": [
            {
                "name": name,
                "file": f"{name}.parquet",
                "comment": comment,
                "columns": [
                    {"name": c, "type": t, "nullable": bool(nullable), "comment": m, **_read_as_text(c, t)}
                    for table, c, t, nullable, m in columns
                    if table == name
                ],
            }
            for name, comment in tables
        ],
    }


def _read_as_text(column: str, data_type: str) -> dict[str, dict[str, str]]:
    """For a UUID column, each reader's expression giving its text form (8-4-4-4-12 hex digits)."""
    if data_type != "UUID":
        return {}
    groups = r'"^(.{8})(.{4})(.{4})(.{4})(.{12})$", "${1}-${2}-${3}-${4}-${5}"'
    return {
        "read_as_text": {
            "duckdb": f'"{column}"::VARCHAR',
            "polars": f'pl.col("{column}").bin.encode("hex").str.replace(r{groups})',
        }
    }


def _export_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> int:
    if not _TABLE_NAME.match(table):  # names become file names: nothing may lead outside DIR
        raise ExportError(f"table name {table!r} cannot be a file name; the store is not one flowmetrics wrote")
    final = folder / f"{table}.parquet"
    partial = folder / f".{table}.parquet.partial"
    try:
        quoted = str(partial).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM \"{table}\") TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)")
        os.replace(partial, final)
    except (duckdb.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"exporting {table} to {final} failed: {exc}") from exc
    return int(con.sql(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"writing {path} failed: {exc.strerror}") from exc
