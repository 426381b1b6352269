"""The published store as the start of a refresh: its fact rows, counts and metadata.

An incremental refresh reads what the source changed and takes everything else from the
store it replaces: the fact tables hold every source row a refresh needs, as it was read
(etl/sql/store.sql), so a day can be rebuilt from them alone. Queries live in
etl/sql/previous.sql. Read-only: readers of the published file are never disturbed.
Never computes metrics. DuckDB errors become StoreDamaged here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from etl import statements
from etl.errors import FlowmetricsError
from etl.store import SCHEMA_VERSION, current_store, open_current

FACT_TABLES = {"sessions": "fact_sessions", "session_ratings": "fact_ratings", "step_ratings": "fact_step_ratings"}
"""The store's copy of each source table whose changes a refresh finds."""


_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


class StoreDamaged(FlowmetricsError):
    """The published store cannot be read back; a refresh recomputes from the source."""


class PreviousStore:
    """The current store (the base and its overlay, etl.store), open read-only for one refresh."""

    def __init__(self, metrics_db: Path) -> None:
        self.current = current_store(metrics_db)
        self.path = self.current.served
        self._con: duckdb.DuckDBPyConnection | None = None
        self._cursor_lock = threading.Lock()  # reads may come from two threads, each on a cursor
        self.meta: dict[str, str] = {}

    def __enter__(self) -> PreviousStore:
        try:
            self._con = open_current(self.current)
            self.meta = {str(k): str(v) for k, v in self._con.sql("SELECT key, value FROM store_meta").fetchall()}
        except duckdb.Error as exc:
            self.__exit__()
            raise StoreDamaged(f"the published store {self.path.name} cannot be read: {_first_line(exc)}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def schema_version(self) -> str | None:
        return self.meta.get("schema_version")

    def is_current_schema(self) -> bool:
        return self.schema_version == SCHEMA_VERSION

    # Reads: each takes the ids to leave out (rows that changed or went away).

    def sessions_started_in(self, start: datetime, end: datetime | None, excluded: Iterable[str]) -> pl.DataFrame:
        """The extract's rows of sessions started in [start, end) (no end: unbounded)."""
        return self._frame("sessions", [start, end or _LAST, True, True], excluded=excluded)

    def sessions_on_days(self, days: Iterable[date], excluded: Iterable[str]) -> pl.DataFrame:
        return self._frame("sessions", [_FIRST, _LAST, False, True], excluded=excluded, days=days)

    def sessions_listed(self, ids: Iterable[str], excluded: Iterable[str] = ()) -> pl.DataFrame:
        """The extract's rows of the sessions with these ids, but the excluded."""
        return self._frame("sessions", [_FIRST, _LAST, True, False], excluded=excluded, listed=ids)

    def ratings(self, excluded: Iterable[str]) -> pl.DataFrame:
        return self._frame("ratings", [], excluded=excluded)

    def step_ratings(self, excluded: Iterable[str]) -> pl.DataFrame:
        return self._frame("step_ratings", [], excluded=excluded)

    def day_counts(self, source_table: str, excluded: Iterable[str]) -> pl.DataFrame:
        """Rows per day of the store's copy of `source_table`, but the excluded."""
        return self._frame(f"{FACT_TABLES[source_table]}_per_day", [], excluded=excluded)

    def ids_on_days(self, source_table: str, days: Iterable[date]) -> set[str]:
        return set(self.rows_on_days(source_table, days)["id"].to_list())

    def rows_on_days(self, source_table: str, days: Iterable[date]) -> pl.DataFrame:
        """`id`, `day` and `at` (the time the day is of) of the store's rows of `source_table` on these days."""
        return self._frame(f"{FACT_TABLES[source_table]}_ids_on_days", [], days=days)

    def days_of(self, source_table: str, ids: Iterable[str]) -> set[date]:
        """The days of the store's rows of `source_table` with these ids."""
        return set(self._frame(f"{FACT_TABLES[source_table]}_days_of", [], listed=ids)["day"].to_list())

    def rated_sessions_of(self, rating_ids: Iterable[str]) -> set[str]:
        return set(self._frame("rated_sessions_of", [], listed=rating_ids)["id"].to_list())

    def days_of_trees(self, tree_ids: Iterable[str]) -> set[date]:
        return set(self._frame("days_of_trees", [], listed=tree_ids)["day"].to_list())

    def session_versions(self, ids: Iterable[str]) -> pl.DataFrame:
        """`id`, tree_id, user_id, account_id and day of the listed sessions as stored."""
        return self._frame("session_versions", [], listed=ids)

    def rating_versions(self, ids: Iterable[str]) -> pl.DataFrame:
        """`id`, tree_id and day of the listed session ratings as stored."""
        return self._frame("rating_versions", [], listed=ids)

    def step_rating_versions(self, ids: Iterable[str]) -> pl.DataFrame:
        """`id`, tree_id and day of the listed step ratings as stored."""
        return self._frame("step_rating_versions", [], listed=ids)

    def sessions_of_trees(self, tree_ids: Iterable[str]) -> set[str]:
        return set(self._frame("sessions_of_trees", [], listed=tree_ids)["id"].to_list())

    def trees(self) -> pl.DataFrame:
        return self._frame("trees", [])

    def rows(
        self,
        query: str,
        params: list[Any] | None = None,
        *,
        excluded: Iterable[str] = (),
        listed: Iterable[str] = (),
        days: Iterable[date] = (),
        **tables: pl.DataFrame,
    ) -> pl.DataFrame:
        """The rows of `query` (etl/sql/previous.sql) with the registered tables it reads.

        `excluded`, `listed` (ids as text) and `days` are registered as one-column tables
        (`id`, `id`, `day`); every other table by its keyword (`keys`, `scopes`).
        """
        return self._frame(query, params or [], excluded=excluded, days=days, listed=listed, tables=tables)

    def _frame(
        self,
        query: str,
        params: list[Any],
        *,
        excluded: Iterable[str] = (),
        days: Iterable[date] = (),
        listed: Iterable[str] = (),
        tables: dict[str, pl.DataFrame] | None = None,
    ) -> pl.DataFrame:
        con = self._connection()
        with self._cursor_lock:
            cursor = con.cursor()
        try:
            with _registered(cursor, excluded=excluded, days=days, listed=listed, tables=tables or {}):
                frame: pl.DataFrame = cursor.sql(statements.named("previous.sql")[query], params=params or None).pl()
        except duckdb.Error as exc:
            raise StoreDamaged(f"reading {query} from {self.path.name} failed: {_first_line(exc)}") from exc
        finally:
            cursor.close()
        return frame.with_columns(
            pl.col(name).dt.convert_time_zone("UTC")
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
        )

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreDamaged("the published store is not open")
        return self._con


@contextmanager
def _registered(
    cursor: duckdb.DuckDBPyConnection,
    *,
    excluded: Iterable[str],
    days: Iterable[date],
    listed: Iterable[str],
    tables: dict[str, pl.DataFrame],
) -> Iterator[None]:
    tables = {
        "excluded": pl.DataFrame({"id": list(excluded)}, schema={"id": pl.String()}),
        "days": pl.DataFrame({"day": list(days)}, schema={"day": pl.Date()}),
        "listed": pl.DataFrame({"id": list(listed)}, schema={"id": pl.String()}),
        **tables,
    }
    for name, frame in tables.items():
        cursor.register(name, frame.to_arrow())
    try:
        yield
    finally:
        for name in tables:
            cursor.unregister(name)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
