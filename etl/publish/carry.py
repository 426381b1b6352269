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

When the previous store has an overlay (etl.store), the overlay's days of DAY_TABLES and
its fact rows come from the overlay, the rest from the base. An incremental refresh starts
its overlay with `start_overlay`: an empty file holding what the previous overlay holds and
the refresh does not rebuild.
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
    DAY_TABLES,
    FACT_KEYS,
    HISTORY_TABLES,
    REPLACED_TABLE,
    SCHEMA_VERSION,
    Current,
    create_store,
    key_match,
    quoted,
    replaced_query,
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
    over = previous.overlay_days
    if _file_can_be_copied(previous.base, storage_version):
        shutil.copyfile(previous.base, building)
        con = duckdb.connect(str(building))
        try:
            kept = _empty_rebuilt(con, before, rebuilt, over)
            return Start(con, kept + _apply_overlay(con, previous, before, rebuilt), copied_file=True)
        except BaseException:
            con.close()
            raise
    con = create_store(building, storage_version)
    try:
        con.execute(statements.read("store.sql"))
        copied = _copy_older_rows(con, previous.base, before, rebuilt, over)
        return Start(con, copied + _apply_overlay(con, previous, before, rebuilt), copied_file=False)
    except BaseException:
        con.close()
        raise


def start_overlay(
    building: Path,
    previous: Current,
    storage_version: str,
    rebuilt: Collection[date],
    replaced: Mapping[str, Collection[str]],
) -> tuple[Start, set[date]]:
    """Create an overlay file holding what the previous overlay holds and this one does not rebuild.

    That is the previous overlay's days of DAY_TABLES not in `rebuilt`, and its fact rows
    whose ids are not in `replaced` (per fact table: the rows this refresh writes again or
    removes). The new overlay replaces the base rows both name. Returns the start and the
    days the new overlay holds (the previous overlay's and `rebuilt`).
    """
    con = create_store(building, storage_version)
    try:
        con.execute(statements.read("store.sql"))
        con.execute(statements.read("overlay.sql"))
        over = previous.overlay_days
        ids = _replaced_frame(replaced)
        con.register("replaced_now", ids.to_arrow())
        try:
            con.execute(f"INSERT INTO {REPLACED_TABLE} SELECT table_name, id FROM replaced_now")
            rows = 0
            if previous.overlay is not None:
                con.execute(f"ATTACH '{quoted(previous.overlay)}' AS previous (READ_ONLY)")
                try:
                    con.execute(
                        f"INSERT INTO {REPLACED_TABLE} SELECT table_name, id FROM previous.{REPLACED_TABLE} "
                        "ANTI JOIN replaced_now USING (table_name, id)"
                    )
                    rows = _insert_days(con, _kept(over, date.max, rebuilt))
                    for table in FACT_KEYS:
                        match = key_match(table, "p", "n")
                        now = f"SELECT id FROM replaced_now WHERE table_name = '{table}'"
                        rows += _inserted(
                            con,
                            f"INSERT INTO {table} SELECT p.* FROM previous.{table} p ANTI JOIN ({now}) n ON {match}",
                        )
                finally:
                    con.execute("DETACH previous")
        finally:
            con.unregister("replaced_now")
        return Start(con, rows, copied_file=False), over | set(rebuilt)
    except BaseException:
        con.close()
        raise


def _replaced_frame(replaced: Mapping[str, Collection[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "table_name": [table for table, ids in replaced.items() for _ in ids],
            "id": [str(one) for ids in replaced.values() for one in ids],
        },
        schema={"table_name": pl.String(), "id": pl.String()},
    ).unique()


def _kept(over: set[date], before: date, rebuilt: Collection[date]) -> list[date]:
    """The overlay's days older than `before` that are not rebuilt: those whose rows are carried over."""
    left_out = set(rebuilt)
    return sorted(day for day in over if day < before and day not in left_out)


def _apply_overlay(con: duckdb.DuckDBPyConnection, previous: Current, before: date, rebuilt: Collection[date]) -> int:
    """Make the base's older rows in `con` those of the current store: the overlay's replace them.

    The base's fact rows the overlay replaces are deleted, then the overlay's rows older
    than `before` and not on a `rebuilt` day are inserted (its days of DAY_TABLES were
    left out of the base's rows already). Returns the rows inserted.
    """
    if previous.overlay is None:
        return 0
    con.execute(f"ATTACH '{quoted(previous.overlay)}' AS previous (READ_ONLY)")
    try:
        for table in FACT_KEYS:
            con.execute(
                f"DELETE FROM {table} b WHERE EXISTS "
                f"(SELECT 1 FROM ({replaced_query('previous', table)}) r WHERE {key_match(table, 'b', 'r')})"
            )
        rows = _insert_days(con, _kept(previous.overlay_days, before, rebuilt))
        left_out = sorted(set(rebuilt))
        for table in FACT_KEYS:
            rows += _inserted(
                con,
                f"INSERT INTO {table} SELECT * FROM previous.{table} WHERE {_OLDER_KEPT}",
                [before, left_out],
            )
        return rows
    finally:
        con.execute("DETACH previous")


def _insert_days(con: duckdb.DuckDBPyConnection, days: list[date]) -> int:
    """Insert the rows of DAY_TABLES on `days` of the overlay attached as `previous`; returns them."""
    if not days:
        return 0
    return sum(
        _inserted(
            con, f"INSERT INTO {table} SELECT * FROM previous.{table} WHERE day IN (SELECT unnest(?::DATE[]))", [days]
        )
        for table in DAY_TABLES
    )


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


def _empty_rebuilt(
    con: duckdb.DuckDBPyConnection, before: date, rebuilt: Collection[date], over: Collection[date]
) -> int:
    """Delete every row the refresh writes again, and the base's days the overlay holds; returns the rows kept."""
    kept = 0
    for table in statements.store_columns():
        if table in HISTORY_TABLES:
            left_out = sorted({*rebuilt, *(over if table in DAY_TABLES else ())})
            con.execute(f"DELETE FROM {table} WHERE day >= ? OR day IN (SELECT unnest(?::DATE[]))", [before, left_out])
            kept += int(con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        else:
            con.execute(f"DELETE FROM {table}")
    # Frees the emptied row groups now, so the rows written next reuse their blocks.
    con.execute("CHECKPOINT")
    return kept


def _copy_older_rows(
    con: duckdb.DuckDBPyConnection, previous: Path, before: date, rebuilt: Collection[date], over: Collection[date]
) -> int:
    """Insert the rows of HISTORY_TABLES older than `before` from `previous`, but of the days
    `rebuilt` (and of DAY_TABLES on the days `over` the overlay holds); returns them.

    The previous file is attached read-only (readers keep it open; DuckDB lets many read).
    Rows keep their stored order (sorted by key within each part written).
    """
    con.execute(f"ATTACH '{quoted(previous)}' AS previous (READ_ONLY)")
    try:
        copied = 0
        for table in HISTORY_TABLES:
            left_out = sorted({*rebuilt, *(over if table in DAY_TABLES else ())})
            copied += _inserted(
                con,
                f"INSERT INTO {table} SELECT * FROM previous.{table} WHERE {_OLDER_KEPT}",
                [before, left_out],
            )
        return copied
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
