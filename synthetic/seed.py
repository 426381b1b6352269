"""`flowmetrics seed`: synthetic source data (users, trees, sessions, ratings) with skewed
tenants, flows and people and, unless clean, the dirty rows DESIGN.md says real data holds.

Writes only to the database it is given, and refuses one whose sessions table already has
rows unless appending. Loads with COPY; generation is vectorised (numpy, Polars) and streamed
in chunks of sessions, never a Python loop per session. Deterministic for a given seed,
anchor and arguments. Never computes metrics, and the ETL never imports it.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import psycopg
from psycopg.copy import QueuedLibpqWriter

from etl import database
from etl.errors import SourceError
from synthetic import SOURCE_SCHEMA
from synthetic.chunks import CHUNK_SESSIONS, session_chunk
from synthetic.sessions import DAY_US, DIRTY_MIN, DIRTY_MIN_SESSIONS, SESSION_DIRTY, Dirt, Window, assign_kinds
from synthetic.trees import Ints, World, build_world

Bools = npt.NDArray[np.bool_]


_COLUMNS = {
    "users": ("id", "account_id", "name", "email", "is_active", "is_team_admin", "is_super_admin"),
    "trees": ("id", "account_id", "name", "tree_structure"),
    "sessions": ("id", "tree_id", "user_id", "started_at", "completed_at", "outcome", "decisions"),
    "session_ratings": ("id", "session_id", "tree_id", "user_id", "rating", "comment", "created_at"),
    "step_ratings": ("id", "session_id", "tree_id", "node_id", "helpful", "user_id", "created_at"),
}
_CSV_TIMESTAMP = "%Y-%m-%d %H:%M:%S%.6f+00"
"""How COPY receives the timestamps (csv, UTC)."""


@dataclass(frozen=True)
class SeedReport:
    """What one seed run inserted (dirty rows are included in the table counts)."""

    accounts: int
    users: int
    trees: int
    sessions: int
    session_ratings: int
    step_ratings: int
    dirty_rows: int
    seconds: float


def seed(
    url: str,
    *,
    sessions: int = 10_000,
    accounts: int = 5,
    days: int = 90,
    seed: int = 42,
    clean: bool = False,
    now: datetime | None = None,
    append: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SeedReport:
    """Create the source tables if missing and load synthetic data, in one transaction.

    Sessions start within [now - days, now) (a few dirty ones just after now). `now`
    defaults to today's UTC midnight, so reruns on the same day give the same data. With
    append=True a further, independent set of accounts is added next to existing data.
    """
    _check_arguments(sessions=sessions, accounts=accounts, days=days, seed=seed)
    clock = time.perf_counter()
    anchor_us = _anchor_us(now)
    window = Window(start_us=anchor_us - days * DAY_US, now_us=anchor_us)
    say = progress or (lambda _message: None)
    with database.connect(url) as conn:
        try:
            counts = _load(conn, url, window, sessions, accounts, seed, clean, append, say)
        except psycopg.Error as exc:
            raise database.translate(exc, url) from exc
    seconds = time.perf_counter() - clock
    say(f"done ({seconds:.1f} s)")
    return SeedReport(accounts=accounts, seconds=seconds, **counts)


def _check_arguments(**values: int) -> None:
    minimum = {"sessions": 0, "accounts": 1, "days": 1, "seed": 0}
    for name, value in values.items():
        if value < minimum[name]:
            raise ValueError(f"seed: {name}={value} is invalid; use {name} >= {minimum[name]}")


def _anchor_us(now: datetime | None) -> int:
    """Microseconds since the epoch of `now` (naive means UTC), default today's UTC midnight."""
    if now is None:
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    # Integer arithmetic: a float timestamp would lose microseconds.
    return (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _load(
    conn: psycopg.Connection[tuple[object, ...]],
    url: str,
    window: Window,
    sessions: int,
    accounts: int,
    seed: int,
    clean: bool,
    append: bool,
    say: Callable[[str], None],
) -> dict[str, int]:
    tables, indexes = _schema_statements()
    with conn.cursor() as cur:
        created = _create_tables(cur, tables)
        existing = _count_sessions(cur)
        if existing and not append:
            raise SourceError(
                f"{database.redact(url)} already has {existing} sessions; seed into a fresh "
                "database, or pass --append to add more"
            )
        # The existing row count keeps an append from repeating the ids of the first run.
        world_seq, kinds_seq, chunks_seq = np.random.SeedSequence([seed, existing]).spawn(3)
        world, users, trees = build_world(np.random.default_rng(world_seq), accounts, sessions, clean)
        _copy_all(cur, "users", [users], freeze="users" in created)
        say(f"users {users.height}")
        _copy_all(cur, "trees", [trees], freeze="trees" in created)
        say(f"trees {trees.height}")

        dirt = Dirt(enabled=not clean, floor=DIRTY_MIN if sessions >= DIRTY_MIN_SESSIONS else 0)
        kinds = assign_kinds(np.random.default_rng(kinds_seq), sessions, dirt.shares(SESSION_DIRTY), dirt.floor)
        ratings, steps, dirty_ratings = _load_sessions(
            cur, world, kinds, window, chunks_seq, dirt, "sessions" in created, say
        )
        _copy_all(cur, "session_ratings", [ratings], freeze="session_ratings" in created)
        _copy_all(cur, "step_ratings", [steps], freeze="step_ratings" in created)
        say(f"session_ratings {ratings.height}, step_ratings {steps.height}")

        _create_indexes(cur, indexes, say)
    dirty = world.dirty_rows + int(np.count_nonzero(kinds)) + dirty_ratings
    return {
        "users": users.height,
        "trees": trees.height,
        "sessions": sessions,
        "session_ratings": ratings.height,
        "step_ratings": steps.height,
        "dirty_rows": dirty,
    }


def _load_sessions(
    cur: psycopg.Cursor[tuple[object, ...]],
    world: World,
    kinds: Ints,
    window: Window,
    chunks_seq: np.random.SeedSequence,
    dirt: Dirt,
    freeze: bool,
    say: Callable[[str], None],
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """One COPY for all sessions, chunk by chunk: the next chunk is generated while the
    server parses this one. Returns the ratings, step ratings and how many are dirty."""
    # An empty run still makes one (empty) chunk, so the ratings frames have their schema.
    starts = range(0, max(kinds.size, 1), CHUNK_SESSIONS)
    ratings: list[pl.DataFrame] = []
    steps: list[pl.DataFrame] = []
    dirty = 0
    clock = time.perf_counter()
    with _copy_into(cur, "sessions", freeze=freeze) as send:
        for start, chunk_seq in zip(starts, chunks_seq.spawn(len(starts)), strict=True):
            rng = np.random.default_rng(chunk_seq)
            chunk = session_chunk(rng, world, kinds[start : start + CHUNK_SESSIONS], window, dirt)
            send(chunk.sessions)
            # Ratings wait for the sessions COPY to end: a fraction of the rows, kept in memory.
            ratings.append(chunk.ratings)
            steps.append(chunk.step_ratings)
            dirty += chunk.dirty_rows
            say(f"sessions {start + chunk.sessions.height} ({time.perf_counter() - clock:.1f} s)")
    say(f"sessions {kinds.size} loaded ({time.perf_counter() - clock:.1f} s)")
    return pl.concat(ratings, how="vertical"), pl.concat(steps, how="vertical"), dirty


def _schema_statements() -> tuple[list[str], list[str]]:
    """source_schema.sql split into table statements and index statements."""
    text = SOURCE_SCHEMA.read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [part.strip() for part in code.split(";") if part.strip()]
    indexes = [s for s in statements if re.match(r"CREATE\s+(UNIQUE\s+)?INDEX\b", s, re.IGNORECASE)]
    return [s for s in statements if s not in indexes], indexes


def _create_tables(cur: psycopg.Cursor[tuple[object, ...]], statements: list[str]) -> set[str]:
    """Run the table statements; returns the tables that did not exist before."""
    missing = {
        table for table in _COLUMNS if cur.execute("SELECT to_regclass(%s) IS NULL", (table,)).fetchone() == (True,)
    }
    for statement in statements:
        cur.execute(statement.encode())  # our own file, not user input
    return missing


def _count_sessions(cur: psycopg.Cursor[tuple[object, ...]]) -> int:
    row = cur.execute("SELECT count(*) FROM sessions").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def _create_indexes(cur: psycopg.Cursor[tuple[object, ...]], statements: list[str], say: Callable[[str], None]) -> None:
    # Building an index once over loaded rows is several times faster than keeping it up
    # to date row by row during COPY; ANALYZE gives the ETL's queries real statistics.
    clock = time.perf_counter()
    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for statement in statements:
        cur.execute(statement.encode())
    # The app inserts a session when it starts, so its table lies in started_at order;
    # generated rows come in random order. CLUSTER (on source_schema.sql's index) lays
    # them out as the app's are: reading a range of days then touches only its own pages.
    cur.execute("CLUSTER sessions USING ix_sessions_started_at")
    cur.execute("ANALYZE users, trees, sessions, session_ratings, step_ratings")
    say(f"indexes, order and statistics ({time.perf_counter() - clock:.1f} s)")


@contextmanager
def _copy_into(
    cur: psycopg.Cursor[tuple[object, ...]], table: str, *, freeze: bool
) -> Iterator[Callable[[pl.DataFrame], None]]:
    """A COPY ... FROM STDIN (csv) that frames can be sent into, in the table's column order.

    FREEZE (allowed when the table was created in this transaction) writes rows already
    frozen, so the first reader does not rewrite every page to set hint bits.
    """
    columns = _COLUMNS[table]
    options = "FORMAT csv, FREEZE" if freeze else "FORMAT csv"
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN ({options})"
    # The queued writer sends from a thread, so the next chunk is built meanwhile.
    with cur.copy(statement.encode(), writer=QueuedLibpqWriter(cur)) as copy:

        def send(frame: pl.DataFrame) -> None:
            buffer = io.BytesIO()
            frame.select(columns).write_csv(buffer, include_header=False, datetime_format=_CSV_TIMESTAMP)
            copy.write(buffer.getbuffer())

        yield send


def _copy_all(cur: psycopg.Cursor[tuple[object, ...]], table: str, frames: list[pl.DataFrame], *, freeze: bool) -> None:
    with _copy_into(cur, table, freeze=freeze) as send:
        for frame in frames:
            send(frame)
