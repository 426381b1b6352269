"""An hourly refresh's start: a new store file holding the previous store's older history.

An hourly refresh recomputes the lookback and keeps the per-day history before it. Two
ways to start its file, chosen by `start_hourly`:

- **copy the file, then empty what is rebuilt**: the previous file is copied whole and
  every row the refresh writes again is deleted (all window tables, the recent days of
  HISTORY_TABLES). Its cost follows the rows rebuilt more than the history kept: a 1M
  window inside 10M sessions of history refreshed hourly in 17-20 s, against 40 s with
  the rows copied.
- **copy the rows**: a new file with the older rows of HISTORY_TABLES inserted. Its
  cost follows the history, but the file holds no free space.

DuckDB does not give a file's freed blocks back; it reuses them. A copied file keeps the
free blocks its deletes leave (about eight of 256 KiB, whatever the size), so a file is
copied only when it is large (MIN_COPY_BYTES: below that, copying rows takes well under a
second) and holds at most MAX_FREE_SHARE of free blocks; past that, the rows are copied and
the next file is compact again. A file in another storage format is never copied (its
rows are); one of another schema version is refused (`_check_schema`).

When the previous store has an overlay (etl.store), the rows of the keys it replaces come
from the overlay, the rest from the base. An incremental refresh starts its overlay with
`start_overlay`: a new file holding what the previous overlay holds and the refresh does
not rebuild.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from etl import statements
from etl.errors import PublishError
from etl.store import (
    HISTORY_TABLES,
    REPLACED_PREFIX,
    SCHEMA_VERSION,
    UNIT_KEYS,
    Current,
    create_store,
    overlay_ddl,
    quoted,
    stored_schema_version,
)

MAX_FREE_SHARE = 0.10
"""A previous file with more free blocks than this share of its blocks is not copied."""
MIN_COPY_BYTES = 64 * 2**20
"""A smaller previous file is not copied: its rows are (a 5 MB store copied came out 1.4x
the size of one built from scratch; at 10M sessions, within 1%)."""


_OLDER_KEPT = "day < ? AND day NOT IN (SELECT unnest(?::DATE[]))"
"""Rows before a day (the first parameter) but on none of a list of days (the second)."""


@dataclass(frozen=True)
class Start:
    con: duckdb.DuckDBPyConnection
    """Open on the new file, every table created, HISTORY_TABLES holding their older rows."""
    rows: int
    """Rows carried over."""
    copied_file: bool


def start_hourly(
    building: Path, previous: Current, before: date, storage_version: str, rebuilt: Collection[date] = ()
) -> Start:
    """Create `building` holding the rows of HISTORY_TABLES older than `before` from `previous`.

    The rows of the days in `rebuilt` are left out too: the refresh writes them again.
    """
    if _file_can_be_copied(previous.base, storage_version):
        shutil.copyfile(previous.base, building)
        con = duckdb.connect(str(building))
        try:
            kept = _empty_rebuilt(con, before, rebuilt)
            return Start(con, kept + _apply_overlay(con, previous, before, rebuilt), copied_file=True)
        except BaseException:
            con.close()
            raise
    con = create_store(building, storage_version)
    try:
        con.execute(statements.read("store.sql"))
        copied = _copy_older_rows(con, previous.base, before, rebuilt)
        return Start(con, copied + _apply_overlay(con, previous, before, rebuilt), copied_file=False)
    except BaseException:
        con.close()
        raise


def start_overlay(
    building: Path, previous: Current, storage_version: str, replaced: Mapping[str, pl.DataFrame]
) -> Start:
    """Create an overlay file holding what the previous overlay holds and this one does not write again.

    `replaced` holds, per table in UNIT_KEYS, the keys this refresh writes again (their new
    rows, none for a key gone): the new overlay replaces those and the previous overlay's.
    """
    con = create_store(building, storage_version)
    try:
        con.execute(statements.read("store.sql"))
        for statement in overlay_ddl():
            con.execute(statement)
        for table, keys in UNIT_KEYS.items():
            frame = replaced.get(table)
            if frame is not None and frame.height:
                con.register("incoming", frame.select(keys).unique().to_arrow())
                try:
                    con.execute(f"INSERT INTO {REPLACED_PREFIX}{table} SELECT * FROM incoming")
                finally:
                    con.unregister("incoming")
        rows = 0
        if previous.overlay is not None:
            con.execute(f"ATTACH '{quoted(previous.overlay)}' AS previous (READ_ONLY)")
            try:
                for table, keys in UNIT_KEYS.items():
                    replaced_now, using = f"{REPLACED_PREFIX}{table}", ", ".join(keys)
                    rows += _inserted(
                        con,
                        f"INSERT INTO {table} SELECT * FROM previous.{table} ANTI JOIN {replaced_now} USING ({using})",
                    )
                    con.execute(
                        f"INSERT INTO {replaced_now} SELECT * FROM "
                        f"(SELECT * FROM previous.{replaced_now} EXCEPT SELECT * FROM {replaced_now})"
                    )
            finally:
                con.execute("DETACH previous")
        return Start(con, rows, copied_file=False)
    except BaseException:
        con.close()
        raise


def _apply_overlay(con: duckdb.DuckDBPyConnection, previous: Current, before: date, rebuilt: Collection[date]) -> int:
    """Make the base's older rows in `con` those of the current store: the overlay's replace them.

    The base's rows of the keys the overlay replaces are deleted, then the overlay's rows
    older than `before` and not on a `rebuilt` day are inserted. Returns the rows inserted.
    """
    if previous.overlay is None:
        return 0
    con.execute(f"ATTACH '{quoted(previous.overlay)}' AS previous (READ_ONLY)")
    try:
        rows = 0
        for table, keys in _history_keys():
            match = " AND ".join(f"{table}.{key} = r.{key}" for key in keys)
            con.execute(f"DELETE FROM {table} USING previous.{REPLACED_PREFIX}{table} r WHERE {match}")
            rows += _inserted(
                con,
                f"INSERT INTO {table} SELECT * FROM previous.{table} WHERE {_OLDER_KEPT}",
                [before, sorted(rebuilt)],
            )
        return rows
    finally:
        con.execute("DETACH previous")


def _history_keys() -> list[tuple[str, tuple[str, ...]]]:
    """The tables of HISTORY_TABLES an overlay holds in part, with their keys (the others it holds whole)."""
    return [(table, keys) for table, keys in UNIT_KEYS.items() if table in HISTORY_TABLES]


def _inserted(con: duckdb.DuckDBPyConnection, statement: str, params: list[object] | None = None) -> int:
    return int(con.execute(statement, params).fetchall()[0][0])


def _file_can_be_copied(previous: Path, storage_version: str) -> bool:
    con = duckdb.connect(str(previous), read_only=True)
    try:
        _check_schema(con, previous)
        meta = dict(con.sql("SELECT key, value FROM store_meta").fetchall())
        [(total, free, block)] = con.sql(
            "SELECT total_blocks, free_blocks, block_size FROM pragma_database_size()"
        ).fetchall()
    finally:
        con.close()
    return (
        meta.get("storage_version") == storage_version
        and total * block >= MIN_COPY_BYTES
        and free <= MAX_FREE_SHARE * total
    )


def _empty_rebuilt(con: duckdb.DuckDBPyConnection, before: date, rebuilt: Collection[date]) -> int:
    """Delete every row the refresh writes again; returns the rows kept."""
    kept = 0
    for table in statements.store_columns():
        if table in HISTORY_TABLES:
            con.execute(
                f"DELETE FROM {table} WHERE day >= ? OR day IN (SELECT unnest(?::DATE[]))", [before, sorted(rebuilt)]
            )
            kept += int(con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        else:
            con.execute(f"DELETE FROM {table}")
    # Frees the emptied row groups now, so the rows written next reuse their blocks.
    con.execute("CHECKPOINT")
    return kept


def _copy_older_rows(con: duckdb.DuckDBPyConnection, previous: Path, before: date, rebuilt: Collection[date]) -> int:
    """Insert the rows of HISTORY_TABLES older than `before` from `previous`, but of the days `rebuilt`; returns them.

    The previous file is attached read-only (readers keep it open; DuckDB lets many read).
    Rows keep their stored order (sorted by key within each part written).
    """
    con.execute(f"ATTACH '{quoted(previous)}' AS previous (READ_ONLY)")
    try:
        return sum(
            _inserted(
                con,
                f"INSERT INTO {table} SELECT * FROM previous.{table} WHERE {_OLDER_KEPT}",
                [before, sorted(rebuilt)],
            )
            for table in HISTORY_TABLES
        )
    finally:
        con.execute("DETACH previous")


def _check_schema(con: duckdb.DuckDBPyConnection, previous: Path) -> None:
    """The previous store must have this version's schema (after an upgrade, run a nightly)."""
    version = stored_schema_version(con)
    if version != SCHEMA_VERSION:
        raise PublishError(
            f"the published store {previous.name} has schema version {version}, this flowmetrics writes "
            f"{SCHEMA_VERSION}: run a nightly refresh to rebuild it"
        )
