"""Where the published store lives and how to open it; shared by publish, the API and the CLI.

The path in METRICS_DB is a symlink to a versioned file beside it
(`metrics.duckdb` -> `metrics.duckdb.v20261125T101500123456Z`). Publishing replaces the
symlink with an atomic rename, so a reader sees either the old or the new store, never a
mix, and each version has its own path (DuckDB caches open databases by path within one
process). This module never writes a store.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from etl.config import DEFAULT_STORAGE_VERSION
from etl.errors import StoreUnavailable

SCHEMA_VERSION = "3"
VERSION_MARK = ".v"


def version_prefix(metrics_db: Path) -> str:
    return metrics_db.name + VERSION_MARK


def resolve_store(metrics_db: Path) -> Path:
    """The versioned file METRICS_DB points at (or METRICS_DB itself if it is a plain file)."""
    try:
        target = metrics_db.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise StoreUnavailable(f"no store at {metrics_db}: run `flowmetrics refresh --mode nightly` first") from None
    return target


def store_identity(metrics_db: Path) -> tuple[int, int] | None:
    """(device, inode) of the current store file; changes exactly when a new store is published."""
    try:
        st = os.stat(metrics_db)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def open_store(metrics_db: Path) -> tuple[Path, duckdb.DuckDBPyConnection]:
    """Open the current store read-only; returns the versioned path and the connection."""
    target = resolve_store(metrics_db)
    try:
        return target, duckdb.connect(str(target), read_only=True)
    except duckdb.Error as exc:
        raise StoreUnavailable(f"cannot open the store {target}: {exc}") from exc


def create_store(path: Path, storage_version: str = DEFAULT_STORAGE_VERSION) -> duckdb.DuckDBPyConnection:
    """A new store file written in `storage_version` (an existing file keeps its own format)."""
    return duckdb.connect(str(path), config={"storage_compatibility_version": storage_version})


def schema_version(metrics_db: Path) -> str | None:
    """The schema version the published store was written with; None if there is none to read."""
    return published_meta(metrics_db).get("schema_version")


def published_meta(metrics_db: Path) -> dict[str, str]:
    """The published store's store_meta (schema_version, storage_version, ...); empty if none."""
    try:
        _, con = open_store(metrics_db)
    except StoreUnavailable:
        return {}
    try:
        return {str(k): str(v) for k, v in con.sql("SELECT key, value FROM store_meta").fetchall()}
    except duckdb.Error:
        return {}
    finally:
        con.close()


def stored_schema_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The schema_version in an open store's store_meta."""
    rows = con.sql("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchall()
    return str(rows[0][0]) if rows else None
