"""Read the app's tables from PostgreSQL straight into Polars, over ADBC (Arrow, no rows in Python).

Only the columns and rows a refresh needs; the queries live in etl/sql/extract_*.sql.
Never computes metrics. Driver errors become SourceError here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import polars as pl
from psycopg import sql

from etl import statements
from etl.database import libpq_url, translate
from etl.errors import SourceError

# The default row filter of each query with a `{rows}` placeholder (etl/sql/rows_*.sql).
DEFAULT_ROWS = {
    "extract_sessions.sql": "rows_started_in.sql",
    "extract_session_ratings.sql": "rows_created_since.sql",
    "extract_step_ratings.sql": "rows_created_in.sql",
}
# The tables whose changes are found by xmin and per-day counts, and the column of their day.
DAY_COLUMNS = {"sessions": "started_at", "session_ratings": "created_at", "step_ratings": "created_at"}


def compose(name: str, rows: str | None = None, **params: Any) -> str:
    """The statement in etl/sql/`name` with its `{rows}` filter (etl/sql/`rows`) and parameters bound."""
    text = statements.read(name)
    if "{rows}" in text:
        filter_sql = statements.read(rows or DEFAULT_ROWS[name])
        text = text.replace("{rows}", " ".join(line for line in filter_sql.splitlines() if not line.startswith("--")))
    return bind(text, **params)


def bind(query: str, **params: Any) -> str:
    """`query` with its `{name}` placeholders bound by psycopg as SQL literals (psycopg.sql).

    The text goes to ADBC whole: ADBC reads a parameterless query with a binary COPY, twice
    as fast as with bound parameters (it then fetches rows). `table` and `day_column` are
    identifiers; an open `start` or `end` (None) is -infinity or infinity.
    """
    values: dict[str, sql.Composable] = {}
    for name, value in params.items():
        if name in ("table", "day_column"):
            values[name] = sql.Identifier(value)
        elif value is None and name in ("start", "end"):
            values[name] = sql.SQL("'-infinity'::timestamptz" if name == "start" else "'infinity'::timestamptz")
        elif isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
            values[name] = sql.Literal(value.astimezone(UTC))
        elif name == "xid":
            values[name] = sql.Literal(str(int(value)))
        else:
            values[name] = sql.Literal(value)
    return sql.SQL(query).format(**values).as_string(None)


@dataclass(frozen=True)
class Snapshot:
    """The source snapshot every read of one refresh shares (etl/sql/snapshot.sql)."""

    snapshot_id: str
    watermark: int
    """64-bit xid: the oldest transaction still in flight when the snapshot was taken."""
    taken_at: datetime
    identity: str
    filenodes: str


@dataclass
class ExtractStats:
    """Rows and seconds per query, for progress lines and refresh_runs."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class Source:
    """One ADBC connection to the app's database for the duration of a refresh."""

    def __init__(self, url: str, progress: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.stats = ExtractStats()
        self._say = progress or (lambda _msg: None)
        self._conn: Any = None
        self._indexed: dict[str, bool] = {}

    def __enter__(self) -> Source:
        try:
            # Autocommit: a refresh opens its one REPEATABLE READ transaction itself.
            self._conn = adbc.connect(libpq_url(self.url), autocommit=True)
        except Exception as exc:
            raise translate(exc, self.url) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            # The server may already be gone; there is nothing left to release then.
            with suppress(Exception):
                self._conn.close()
            self._conn = None

    def query(self, name: str, text: str) -> pl.DataFrame:
        started = time.perf_counter()
        with self._cursor() as cur:
            cur.execute(text)
            # The driver's record batches, copied into one buffer per column: a column
            # taken from a batch keeps the whole batch allocated (the driver's buffers are
            # up to twice what they hold), so a step keeping a few columns kept all of them.
            table = cur.fetch_arrow_table().combine_chunks()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frame = _normalise_time_zones(frame)
        seconds = time.perf_counter() - started
        self.stats.rows[name] = self.stats.rows.get(name, 0) + frame.height
        self.stats.seconds[name] = self.stats.seconds.get(name, 0.0) + seconds
        self._say(f"extract {name}: {frame.height} rows in {seconds:.2f} s")
        return frame

    def _execute(self, text: str) -> None:
        with self._cursor() as cur:
            cur.execute(text)

    def scalar(self, text: str) -> Any:
        with self._cursor() as cur:
            cur.execute(text)
            row = cur.fetchone()
        return None if row is None else row[0]

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self._conn is None:
            raise SourceError("the source connection is not open")
        cur = self._conn.cursor()
        try:
            yield cur
        except SourceError:
            raise
        except Exception as exc:  # any driver error, translated once, here
            raise translate(exc, self.url) from exc
        finally:
            cur.close()

    # The queries a refresh runs, one method per file in etl/sql.

    def users(self) -> pl.DataFrame:
        return self.query("users", statements.read("extract_users.sql"))

    def trees(self) -> pl.DataFrame:
        return self.query("trees", statements.read("extract_trees.sql"))

    def window_sessions(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        """Sessions started in [start, end) (no upper bound when end is None), node lists decoded."""
        return self._sessions("sessions", start, end)

    def history_sessions(self, start: datetime, end: datetime) -> pl.DataFrame:
        """Older sessions, as window_sessions: the sessions fact and step history need them whole."""
        return self._sessions("history_sessions", start, end)

    def _sessions(self, name: str, start: datetime, end: datetime | None) -> pl.DataFrame:
        return self._decoded(self.query(name, compose("extract_sessions.sql", start=start, end=end)))

    @staticmethod
    def _decoded(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.col("node_ids").str.json_decode(pl.List(pl.String)))

    def rated_sessions(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        """The newest rating of each session started in [start, end)."""
        return self.query("rated_sessions", compose("extract_rated_sessions.sql", start=start, end=end))

    def session_ratings(self, since: datetime) -> pl.DataFrame:
        return self.query("session_ratings", compose("extract_session_ratings.sql", since=since))

    def comment_candidates(self) -> pl.DataFrame:
        return self.query("comment_candidates", statements.read("extract_comment_candidates.sql"))

    def history_ratings(self, end: datetime) -> pl.DataFrame:
        """Session ratings created before `end`, as session_ratings."""
        return self.query(
            "history_ratings", compose("extract_session_ratings.sql", rows="rows_created_before.sql", end=end)
        )

    def has_step_ratings(self) -> bool:
        return bool(self.scalar("SELECT to_regclass('step_ratings') IS NOT NULL"))

    def step_ratings(
        self, start: datetime | None, end: datetime | None, *, name: str = "step_ratings"
    ) -> pl.DataFrame | None:
        """Step ratings created in [start, end) (None: unbounded), or None when the optional table does not exist."""
        if not self.has_step_ratings():
            return None
        return self.query(name, compose("extract_step_ratings.sql", start=start, end=end))

    # Change detection (jobs.changes): one snapshot, read-only.

    def begin_snapshot(self) -> Snapshot:
        """Open this connection's REPEATABLE READ transaction: every later read sees one snapshot."""
        self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return self._snapshot()

    def join_snapshot(self, snapshot_id: str) -> None:
        """Read from the snapshot another connection took (begin_snapshot), while it is open."""
        self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id.replace(chr(39), '')}'")

    def _snapshot(self) -> Snapshot:
        with self._cursor() as cur:
            cur.execute(statements.read("snapshot.sql"))
            snapshot_id, watermark, taken_at, identity, filenodes = cur.fetchone()
        return Snapshot(
            snapshot_id=str(snapshot_id),
            watermark=int(watermark),
            taken_at=taken_at.astimezone(UTC) if taken_at.tzinfo else taken_at.replace(tzinfo=UTC),
            identity=str(identity),
            filenodes=str(filenodes),
        )

    def changed_sessions(self, xid: int) -> pl.DataFrame:
        """Sessions with a row version at or after the watermark `xid` (32-bit), node lists decoded."""
        return self._decoded(
            self.query("changed_sessions", compose("extract_sessions.sql", rows="rows_changed.sql", xid=xid))
        )

    def changed_session_ratings(self, xid: int) -> pl.DataFrame:
        return self.query(
            "changed_session_ratings", compose("extract_session_ratings.sql", rows="rows_changed.sql", xid=xid)
        )

    def changed_step_ratings(self, xid: int) -> pl.DataFrame | None:
        if not self.has_step_ratings():
            return None
        return self.query("changed_step_ratings", compose("extract_step_ratings.sql", rows="rows_changed.sql", xid=xid))

    def day_indexed(self, table: str) -> bool:
        """Whether an index of `table` leads with its day column (range counts are then cheap)."""
        if table not in self._indexed:
            query = bind(statements.read("day_index.sql"), relation=table, column=DAY_COLUMNS[table])
            self._indexed[table] = bool(self.scalar(query))
        return self._indexed[table]

    def day_counts(self, table: str) -> pl.DataFrame:
        """Rows per UTC day of `table` (sessions, session_ratings, step_ratings)."""
        name = "day_counts_by_index.sql" if self.day_indexed(table) else "day_counts.sql"
        return self.query(f"{table}_per_day", bind(statements.read(name), **_on(table)))

    def range_counts(self, table: str, starts: list[datetime], seconds: int) -> pl.DataFrame:
        """Rows of `table` in [start, start + seconds) for each of `starts`: `n` (1-based) and `rows`."""
        query = bind(statements.read("range_counts.sql"), **_on(table), starts=_instants(starts), seconds=seconds)
        return self.query(f"{table}_range_counts", query)

    def ids_in_ranges(self, table: str, starts: list[datetime], seconds: int) -> pl.DataFrame:
        """The ids (`id`) of `table`'s rows in [start, start + seconds) for any of `starts`."""
        query = bind(statements.read("ids_in_ranges.sql"), **_on(table), starts=_instants(starts), seconds=seconds)
        return self.query(f"{table}_ids", query)

    def lost_buckets(
        self, table: str, width: int, expected: pl.DataFrame, short: list[date], start: datetime, end: datetime
    ) -> pl.DataFrame:
        """(day, bucket) of `table` with fewer rows than `expected` (day, bucket of `width`, rows) on `short` days."""
        query = bind(
            statements.read("lost_buckets.sql"),
            **_on(table),
            width=width,
            days=expected["day"].to_list(),
            buckets=expected["bucket"].to_list(),
            rows=expected["rows"].to_list(),
            short=short,
            start=start,
            end=end,
        )
        return self.query(f"{table}_lost_buckets", query)

    def ids_in_buckets(self, table: str, width: int, keys: list[str], start: datetime, end: datetime) -> pl.DataFrame:
        """The ids (`id`) of `table`'s rows under `keys` ('day/prefix' of `width` characters), in [start, end)."""
        query = bind(statements.read("ids_in_buckets.sql"), **_on(table), width=width, keys=keys, start=start, end=end)
        return self.query(f"{table}_ids", query)

    def first_session_at(self) -> datetime | None:
        """started_at of the oldest session (an index lookup)."""
        value = self.scalar("SELECT min(started_at) FROM sessions")
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _instants(values: list[datetime]) -> list[str]:
    """Timezone-aware instants as ISO text, for a `::timestamptz[]` literal."""
    if any(value.tzinfo is None for value in values):
        raise ValueError("instants must be timezone-aware")
    return [value.astimezone(UTC).isoformat() for value in values]


def _on(table: str) -> dict[str, str]:
    """The `table` and `day_column` parameters of a query on one of DAY_COLUMNS' tables."""
    return {"table": table, "day_column": DAY_COLUMNS[table]}


def _normalise_time_zones(frame: pl.DataFrame) -> pl.DataFrame:
    # ADBC labels timestamps 'UTC', psycopg and DuckDB 'Etc/UTC'; Polars refuses to mix them.
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )
