"""Read the app's tables from PostgreSQL straight into Polars, over ADBC (Arrow, no rows in Python).

Only the columns and rows a refresh needs; the queries live in etl/sql/extract_*.sql.
Never computes metrics. Driver errors become SourceError here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import polars as pl

from etl import statements
from etl.database import libpq_url, translate
from etl.errors import SourceError

_PARAM = re.compile(r"(?<![:\w]):(since|start|end)\b")


def bind(query: str, **params: datetime | None) -> str:
    """Inline timestamp parameters as typed literals (only aware datetimes are accepted).

    None stands for no bound: '-infinity' for a start, 'infinity' for an end.
    """

    def literal(match: re.Match[str]) -> str:
        value = params[match.group(1)]
        if value is None:
            return "'infinity'::timestamptz" if match.group(1) == "end" else "'-infinity'::timestamptz"
        if value.tzinfo is None:
            raise ValueError(f"{match.group(1)} must be timezone-aware")
        return f"'{value.astimezone(UTC).isoformat()}'::timestamptz"

    return _PARAM.sub(literal, query)


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

    def __enter__(self) -> Source:
        try:
            self._conn = adbc.connect(libpq_url(self.url))
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
        frame = self.query(name, bind(statements.read("extract_sessions.sql"), start=start, end=end))
        return frame.with_columns(pl.col("node_ids").str.json_decode(pl.List(pl.String)))

    def rated_sessions(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        """The newest rating of each session started in [start, end)."""
        return self.query("rated_sessions", bind(statements.read("extract_rated_sessions.sql"), start=start, end=end))

    def session_ratings(self, since: datetime) -> pl.DataFrame:
        return self.query("session_ratings", bind(statements.read("extract_session_ratings.sql"), since=since))

    def comment_candidates(self) -> pl.DataFrame:
        return self.query("comment_candidates", statements.read("extract_comment_candidates.sql"))

    def history_ratings(self, end: datetime) -> pl.DataFrame:
        return self.query("history_ratings", bind(statements.read("extract_history_ratings.sql"), end=end))

    def step_ratings(
        self, start: datetime | None, end: datetime | None, *, name: str = "step_ratings"
    ) -> pl.DataFrame | None:
        """Step ratings created in [start, end) (None: unbounded), or None when the optional table does not exist."""
        if not self.scalar("SELECT to_regclass('step_ratings') IS NOT NULL"):
            return None
        return self.query(name, bind(statements.read("extract_step_ratings.sql"), start=start, end=end))

    def first_session_at(self) -> datetime | None:
        """started_at of the oldest session (an index lookup)."""
        value = self.scalar("SELECT min(started_at) FROM sessions")
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _normalise_time_zones(frame: pl.DataFrame) -> pl.DataFrame:
    # ADBC labels timestamps 'UTC', psycopg and DuckDB 'Etc/UTC'; Polars refuses to mix them.
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )
