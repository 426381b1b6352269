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

When the previous store has an overlay (etl.store), the overlay's days come from the
overlay, the others from the base. An incremental refresh starts its overlay with
`start_overlay`: an empty file holding the previous overlay's days it does not rebuild.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from etl import statements
from etl.errors import PublishError
from etl.store import (
    HISTORY_TABLES,
    SCHEMA_VERSION,
    Current,
    create_store,
    quoted,
    stored_schema_version,
)

MAX_FREE_SHARE = 0.10
"""A previous file with more free blocks than this share of its blocks is not copied."""
MIN_COPY_BYTES = 64 * 2**20
"""A smaller previous file is not copied: its rows are (a 5 MB store copied came out 1.4x
the size of one built from scratch; at 10M sessions, within 1%)."""


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
            kept = _empty_rebuilt(con, before, [*rebuilt, *over])
            return Start(con, kept + _copy_overlay_rows(con, previous, _kept(over, before, rebuilt)), copied_file=True)
        except BaseException:
            con.close()
            raise
    con = create_store(building, storage_version)
    try:
        con.execute(statements.read("store.sql"))
        copied = _copy_older_rows(con, previous.base, before, [*rebuilt, *over])
        return Start(con, copied + _copy_overlay_rows(con, previous, _kept(over, before, rebuilt)), copied_file=False)
    except BaseException:
        con.close()
        raise


def start_overlay(
    building: Path, previous: Current, storage_version: str, rebuilt: Collection[date]
) -> tuple[Start, set[date]]:
    """Create an overlay file holding the previous overlay's days not in `rebuilt`.

    Returns the start and the days the new overlay holds (the previous overlay's and `rebuilt`).
    """
    con = create_store(building, storage_version)
    try:
        con.execute(statements.read("store.sql"))
        over = previous.overlay_days
        rows = _copy_overlay_rows(con, previous, _kept(over, date.max, rebuilt))
        return Start(con, rows, copied_file=False), over | set(rebuilt)
    except BaseException:
        con.close()
        raise


def _kept(over: set[date], before: date, rebuilt: Collection[date]) -> list[date]:
    """The overlay's days older than `before` that are not rebuilt: those whose rows are carried over."""
    left_out = set(rebuilt)
    return sorted(day for day in over if day < before and day not in left_out)


def _copy_overlay_rows(con: duckdb.DuckDBPyConnection, previous: Current, days: list[date]) -> int:
    """Insert the overlay's rows of HISTORY_TABLES on `days`; returns them."""
    if previous.overlay is None or not days:
        return 0
    return _insert_from(con, previous.overlay, "day IN (SELECT unnest(?::DATE[]))", [days])


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
                f"DELETE FROM {table} WHERE day >= ? OR day IN (SELECT unnest(?::DATE[]))", [before, list(rebuilt)]
            )
            kept += int(con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        else:
            con.execute(f"DELETE FROM {table}")
    # Frees the emptied row groups now, so the rows written next reuse their blocks.
    con.execute("CHECKPOINT")
    return kept


def _copy_older_rows(con: duckdb.DuckDBPyConnection, previous: Path, before: date, left_out: Collection[date]) -> int:
    """Insert the rows of HISTORY_TABLES older than `before` from `previous`, but of `left_out`; returns them."""
    return _insert_from(
        con, previous, "day < ? AND day NOT IN (SELECT unnest(?::DATE[]))", [before, sorted(set(left_out))]
    )


def _insert_from(con: duckdb.DuckDBPyConnection, previous: Path, where: str, params: list[object]) -> int:
    """Insert the rows of HISTORY_TABLES of `previous` that match `where`; returns them.

    The previous file is attached read-only (readers keep it open; DuckDB lets many read).
    Rows keep their stored order (sorted by key within each part written).
    """
    con.execute(f"ATTACH '{quoted(previous)}' AS previous (READ_ONLY)")
    try:
        copied = 0
        for table in HISTORY_TABLES:
            inserted = con.execute(f"INSERT INTO {table} SELECT * FROM previous.{table} WHERE {where}", params)
            copied += int(inserted.fetchall()[0][0])
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
