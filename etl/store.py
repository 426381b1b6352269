"""Where the published store lives and how to open it; shared by publish, the API and the CLI.

The path in METRICS_DB is a symlink to a versioned file beside it
(`metrics.duckdb` -> `metrics.duckdb.v20261125T101500123456Z`). Publishing replaces the
symlink with an atomic rename, so a reader sees either the old or the new store, never a
mix, and each version has its own path (DuckDB caches open databases by path within one
process). This module never writes a store.

The incremental refresh publishes an overlay beside it, `METRICS_DB.overlay` (a symlink
to `metrics.duckdb.overlay.v<stamp>` in the same way): every table the API reads in full;
of the per-day tables (DAY_TABLES) only the days changed since the base store it lies on
(store_meta `overlay_days`); of the fact tables (FACT_KEYS) only the rows that changed,
with the ids of the base's rows they replace or remove (its own table `overlay_replaced`,
etl/sql/overlay.sql). The base plus its overlay is the current
store (`open_current`); an overlay on another base, of another `overlay_version`, or one
that cannot be read, is ignored: the base alone is then the current store, and a refresh
finds again what the overlay held (the base's watermark is older).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from etl import statements
from etl.config import DEFAULT_STORAGE_VERSION
from etl.errors import StoreUnavailable

SCHEMA_VERSION = "3"
VERSION_MARK = ".v"
OVERLAY_MARK = ".overlay"
REPLACED_TABLE = "overlay_replaced"
"""An overlay's own table (etl/sql/overlay.sql): which base fact rows it replaces."""
OVERLAY_VERSION = "2"
"""How an overlay holds its rows (store_meta `overlay_version`); one of another is ignored."""

DAY_TABLES = ("daily_sessions", "daily_ratings", "daily_step_feedback")
"""Rows per day: an overlay holds the days it changed, whole."""
FACT_KEYS = {"fact_sessions": "session_id", "fact_ratings": "rating_id", "fact_step_ratings": "step_rating_id"}
"""Rows per source row, by their key: an overlay holds the rows that changed."""
HISTORY_TABLES = (*DAY_TABLES, *FACT_KEYS)
"""The tables with a `day` kept for all time: a refresh keeps the days it does not rebuild."""


def version_prefix(metrics_db: Path) -> str:
    return metrics_db.name + VERSION_MARK


def resolve_store(metrics_db: Path) -> Path:
    """The versioned file METRICS_DB points at (or METRICS_DB itself if it is a plain file)."""
    try:
        target = metrics_db.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise StoreUnavailable(f"no store at {metrics_db}: run `flowmetrics refresh --mode nightly` first") from None
    return target


def overlay_path(metrics_db: Path) -> Path:
    """The symlink the incremental refresh publishes its overlay at."""
    return metrics_db.with_name(metrics_db.name + OVERLAY_MARK)


Identity = tuple[tuple[int, int], tuple[int, int] | None]
"""(device, inode) of the base file and of the overlay link's file: changes exactly when a
base or an overlay is published."""


@dataclass(frozen=True)
class Current:
    """The current store: the base version METRICS_DB points at and the overlay on it, if any."""

    base: Path
    overlay: Path | None
    identity: Identity
    """Of the files found (an overlay ignored counts too)."""
    overlay_meta: dict[str, str] = field(default_factory=dict)
    """The overlay's store_meta, read once (empty without an overlay)."""

    @property
    def served(self) -> Path:
        """The file that holds every table the API reads: the overlay if there is one."""
        return self.overlay or self.base

    @property
    def overlay_days(self) -> set[date]:
        """The days of HISTORY_TABLES the overlay holds (none without one)."""
        return overlay_days(self.overlay_meta)


def current_store(metrics_db: Path) -> Current:
    """The published base and the overlay on it (None when absent, on another base, or unreadable)."""
    base = resolve_store(metrics_db)
    try:
        base_stat = os.stat(base)
    except FileNotFoundError:  # replaced and removed meanwhile
        raise StoreUnavailable(f"the store {base} was replaced while opening it: try again") from None
    try:
        overlay = overlay_path(metrics_db).resolve(strict=True)
        overlay_stat = os.stat(overlay)
    except (FileNotFoundError, RuntimeError):
        return Current(base, None, identity_of(base_stat, None))
    meta = meta_of(overlay)
    if meta.get("base_version") != base.name or meta.get("overlay_version") != OVERLAY_VERSION:
        return Current(base, None, identity_of(base_stat, overlay_stat))
    return Current(base, overlay, identity_of(base_stat, overlay_stat), meta)


def served_stats(metrics_db: Path) -> tuple[os.stat_result, os.stat_result | None]:
    """The stats of METRICS_DB's file and of its overlay link's (None: no overlay); two stat calls.

    Raises FileNotFoundError without a store.
    """
    base = os.stat(metrics_db)
    try:
        return base, os.stat(overlay_path(metrics_db))
    except FileNotFoundError:
        return base, None


def identity_of(base: os.stat_result, overlay: os.stat_result | None) -> Identity:
    return ((base.st_dev, base.st_ino), (overlay.st_dev, overlay.st_ino) if overlay is not None else None)


def open_current(current: Current) -> duckdb.DuckDBPyConnection:
    """A read-only connection that sees the current store's tables by their names.

    Without an overlay, the base file itself. With one, an in-memory database with both
    attached and a view per table: HISTORY_TABLES from the base but for the overlay's
    days, plus the overlay's rows; every other table the overlay's.
    """
    if current.overlay is None:
        return duckdb.connect(str(current.base), read_only=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{quoted(current.base)}' AS base (READ_ONLY)")
        con.execute(f"ATTACH '{quoted(current.overlay)}' AS overlay (READ_ONLY)")
        tables = [
            row[0]
            for row in con.sql("SELECT table_name FROM duckdb_tables() WHERE database_name = 'overlay'").fetchall()
        ]
        days = overlay_days_query("overlay")
        for table in tables:
            if table in DAY_TABLES:
                kept = f"SELECT * FROM base.{table} WHERE day NOT IN ({days})"
            elif table in FACT_KEYS:
                replaced = replaced_query("overlay", table)
                kept = f"SELECT b.* FROM base.{table} b ANTI JOIN ({replaced}) r ON {key_match(table, 'b', 'r')}"
            elif table == REPLACED_TABLE:
                continue
            else:
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM overlay.{table}")
                continue
            con.execute(f"CREATE VIEW {table} AS {kept} UNION ALL SELECT * FROM overlay.{table}")
        return con
    except BaseException:
        con.close()
        raise


def overlay_days_query(database: str) -> str:
    """The days (DATE) an overlay attached as `database` holds (store_meta `overlay_days`)."""
    return (
        f"SELECT CAST(day AS DATE) FROM (SELECT unnest(string_split(value, ',')) AS day FROM {database}.store_meta "
        "WHERE key = 'overlay_days') WHERE day <> ''"
    )


def replaced_query(database: str, table: str) -> str:
    """The ids (`id`, text) of `table`'s base rows that an overlay attached as `database` replaces."""
    return f"SELECT id FROM {database}.{REPLACED_TABLE} WHERE table_name = '{table}'"


def key_match(table: str, rows: str, ids: str) -> str:
    """SQL matching the key of fact table `table`'s rows (alias `rows`) with text ids (alias `ids`).

    The ids are cast to the key's type (fact_sessions' UUID), not the keys to text.
    """
    key = FACT_KEYS[table]
    key_type = dict(statements.store_column_types()[table])[key]
    return f"{rows}.{key} = {ids}.id::{key_type}"


def overlay_days(meta: dict[str, str]) -> set[date]:
    """The days an overlay holds, from its store_meta."""
    return {date.fromisoformat(day) for day in meta.get("overlay_days", "").split(",") if day}


def quoted(path: Path) -> str:
    """A path inside a single-quoted SQL string."""
    return str(path).replace("'", "''")


def meta_of(path: Path) -> dict[str, str]:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return {}
    try:
        return {str(k): str(v) for k, v in con.sql("SELECT key, value FROM store_meta").fetchall()}
    except duckdb.Error:
        return {}
    finally:
        con.close()


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


def published_meta(metrics_db: Path) -> dict[str, str]:
    """The published base store's store_meta (schema_version, storage_version, ...); empty if none."""
    try:
        return meta_of(resolve_store(metrics_db))
    except StoreUnavailable:
        return {}


def current_meta(metrics_db: Path) -> dict[str, str]:
    """The current store's store_meta (the overlay's when there is one); empty if none."""
    try:
        current = current_store(metrics_db)
    except StoreUnavailable:
        return {}
    return current.overlay_meta or meta_of(current.base)


def stored_schema_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The schema_version in an open store's store_meta."""
    rows = con.sql("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchall()
    return str(rows[0][0]) if rows else None
