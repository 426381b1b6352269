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
from etl.store import SCHEMA_VERSION, create_store, stored_schema_version

# Tables whose older days an hourly refresh keeps from the previous store.
HISTORY_TABLES = (
    "daily_sessions",
    "daily_ratings",
    "daily_step_feedback",
    "fact_sessions",
    "fact_ratings",
    "fact_step_ratings",
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
    building: Path, previous: Path, before: date, storage_version: str, rebuilt: Collection[date] = ()
) -> Start:
    """Create `building` holding the rows of HISTORY_TABLES older than `before` from `previous`.

    The rows of the days in `rebuilt` are left out too: the refresh writes them again.
    """
    if _file_can_be_copied(previous, storage_version):
        shutil.copyfile(previous, building)
        con = duckdb.connect(str(building))
        try:
            return Start(con, _empty_rebuilt(con, before, rebuilt), copied_file=True)
        except BaseException:
            con.close()
            raise
    con = create_store(building, storage_version)
    try:
        con.execute(statements.read("store.sql"))
        return Start(con, _copy_older_rows(con, previous, before, rebuilt), copied_file=False)
    except BaseException:
        con.close()
        raise


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


def _copy_older_rows(con: duckdb.DuckDBPyConnection, previous: Path, before: date, rebuilt: Collection[date]) -> int:
    """Insert the rows of HISTORY_TABLES older than `before` from `previous`; returns them.

    The previous store is attached read-only (readers keep it open; DuckDB lets many read).
    Rows keep their stored order (sorted by key within each part written).
    """
    con.execute(f"ATTACH '{_quoted(previous)}' AS previous (READ_ONLY)")
    try:
        copied = 0
        for table in HISTORY_TABLES:
            con.execute(
                f"INSERT INTO {table} SELECT * FROM previous.{table} "
                "WHERE day < ? AND day NOT IN (SELECT unnest(?::DATE[]))",
                [before, list(rebuilt)],
            )
            copied += int(con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0])
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


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
