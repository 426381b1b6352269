"""Where the published store lives and how to open it; shared by publish, the API and the CLI.

The path in METRICS_DB is a symlink to a versioned file beside it
(`metrics.duckdb` -> `metrics.duckdb.v20261125T101500123456Z`). Publishing replaces the
symlink with an atomic rename, so a reader sees either the old or the new store, never a
mix, and each version has its own path (DuckDB caches open databases by path within one
process). This module never writes a store.

The incremental refresh publishes an overlay beside it, `METRICS_DB.overlay` (a symlink
to `metrics.duckdb.overlay.v<stamp>` in the same way). Of each table in UNIT_KEYS it holds
only the keys changed since the base store it lies on: their rows, and the keys themselves
in a table `replaced_<table>` of its own (the base's rows of those keys are replaced, or
removed when the overlay has none); every other table it holds whole. The base plus its
overlay is the current
store (`open_current`); an overlay on another base, of another `overlay_version`, or one
that cannot be read, is ignored: the base alone is then the current store, and a refresh
finds again what the overlay held (the base's watermark is older).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from etl.config import DEFAULT_STORAGE_VERSION
from etl.errors import StoreUnavailable

SCHEMA_VERSION = "3"
VERSION_MARK = ".v"
OVERLAY_MARK = ".overlay"
REPLACED_PREFIX = "replaced_"
"""An overlay's own tables: `replaced_<table>` holds the keys of `table` it replaces."""
OVERLAY_VERSION = "3"
"""How an overlay holds its rows (store_meta `overlay_version`); one of another is ignored."""

HISTORY_TABLES = (
    "daily_sessions",
    "daily_ratings",
    "daily_step_feedback",
    "fact_sessions",
    "fact_ratings",
    "fact_step_ratings",
)
"""The tables with a `day` kept for all time: a refresh keeps the days it does not rebuild."""
UNIT_KEYS: dict[str, tuple[str, ...]] = {
    "fact_sessions": ("session_id",),
    "fact_ratings": ("rating_id",),
    "fact_step_ratings": ("step_rating_id",),
    "daily_sessions": ("scope", "scope_id", "day"),
    "daily_ratings": ("tree_id", "day"),
    "daily_step_feedback": ("tree_id", "day"),
    "window_summary": ("period", "scope", "scope_id", "engineer_id"),
    "window_time_series": ("period", "scope", "scope_id", "engineer_id"),
    "window_top_flows": ("period", "scope", "scope_id"),
    "window_top_engineers": ("period", "scope", "scope_id"),
    "window_step_feedback": ("period", "tree_id"),
    "window_ratings": ("period", "tree_id"),
    "recent_comments": ("tree_id",),
}
"""Per table an overlay holds in part, the columns of the key it replaces the base's rows by."""


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
    attached and a view per table: of a table in UNIT_KEYS, the base's rows but of the keys
    the overlay replaces, plus the overlay's rows; of every other table, the overlay's.
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
        for table in tables:
            if table.startswith(REPLACED_PREFIX):
                continue
            rows = current_rows(table, "base", "overlay") if table in UNIT_KEYS else f"SELECT * FROM overlay.{table}"
            con.execute(f"CREATE VIEW {table} AS {rows}")
        return con
    except BaseException:
        con.close()
        raise


def current_rows(table: str, base: str, overlay: str) -> str:
    """SQL for the rows of `table` (in UNIT_KEYS) of a base and its overlay, attached by these names."""
    keys = ", ".join(UNIT_KEYS[table])
    return (
        f"SELECT * FROM {base}.{table} ANTI JOIN {overlay}.{REPLACED_PREFIX}{table} USING ({keys}) "
        f"UNION ALL SELECT * FROM {overlay}.{table}"
    )


def overlay_ddl() -> list[str]:
    """The statements creating an overlay's own tables, in a file holding the store's (etl/sql/store.sql)."""
    created = []
    for table, keys in UNIT_KEYS.items():
        replaced = f"{REPLACED_PREFIX}{table}"
        created += [
            f"CREATE TABLE {replaced} AS SELECT {', '.join(keys)} FROM {table} LIMIT 0",
            f"COMMENT ON TABLE {replaced} IS 'Grain: one row per key ({', '.join(keys)}) of {table} this overlay "
            "replaces: the base''s rows of the key are not part of the current store, the overlay''s are.'",
        ]
    return created


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
