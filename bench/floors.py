"""The benchmark's floors: the source rows a refresh needs, drained with a binary COPY.

- **raw floor** (`raw_queries`): the raw columns of `sessions`, `session_ratings` and
  `step_ratings` (etl.contract's), all rows for a nightly, the lookback's for the others.
  It does not depend on the tree: what any refresh must at least read.
- **own floor** (`extraction_queries`): the queries that tree's refresh runs, with the
  work they do inside PostgreSQL (the decode of `decisions`, the joins).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from bench.common import ANCHOR
from etl import database, statements
from etl.contract import OPTIONAL, REQUIRED
from etl.extract import compose
from jobs.plan import history_chunks, lookback_start

RAW_DAY_COLUMNS = {"sessions": "started_at", "session_ratings": "created_at", "step_ratings": "created_at"}
"""The column a table's lookback is taken on."""


def raw_queries(mode: str) -> list[str]:
    """`SELECT <raw columns> FROM <table> [WHERE in the lookback]` per source table a refresh reads."""
    since = lookback_start(ANCHOR).isoformat()
    queries = []
    for table, day_column in RAW_DAY_COLUMNS.items():
        columns = ", ".join({**REQUIRED, **OPTIONAL}[table])
        where = "" if mode == "nightly" else f" WHERE {day_column} >= '{since}'::timestamptz"
        queries.append(f"SELECT {columns} FROM {table}{where}")
    return queries


def extraction_queries(url: str, mode: str) -> list[list[str]]:
    """The queries a refresh of this mode runs, with the same columns, rows and parameters.

    One list per source connection: the window's queries, and for nightly the older
    history's, which the refresh reads on a second connection at the same time. The
    window's sessions are one query here; the refresh reads the same rows in 10-day ranges.
    """
    since = lookback_start(ANCHOR)
    window = [
        statements.read("extract_users.sql"),
        statements.read("extract_trees.sql"),
        compose("extract_rated_sessions.sql", start=since, end=None),
        compose("extract_step_ratings.sql", start=since, end=None),
        compose("extract_sessions.sql", start=since, end=None),
        compose("extract_session_ratings.sql", since=since),
        statements.read("extract_comment_candidates.sql"),
    ]
    if mode != "nightly":
        return [window]
    with database.connect(url) as conn:
        row = conn.execute("SELECT min(started_at) FROM sessions").fetchone()
    first = row[0] if row else None
    chunks = history_chunks(first, since)
    history = [
        compose("extract_rated_sessions.sql", start=chunks[0][0] if chunks else since, end=since),
        compose("extract_step_ratings.sql", start=None, end=since),
    ]
    history += [compose("extract_sessions.sql", start=s, end=e) for s, e in chunks]
    history.append(compose("extract_session_ratings.sql", rows="rows_created_before.sql", end=since))
    return [window, history]


def copy_floor(url: str, queries: list[str]) -> tuple[float, int]:
    """Seconds to drain `COPY (query) TO STDOUT (FORMAT binary)` for every query, unparsed."""
    total_bytes = 0
    with psycopg.connect(database.libpq_url(url)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        started = time.perf_counter()
        for query in queries:
            with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
                for block in copy:
                    total_bytes += len(block)
        return time.perf_counter() - started, total_bytes


def concurrent_floor(url: str, streams: list[list[str]]) -> float:
    """Seconds until every stream is drained, each on its own connection, all at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(streams)) as pool:
        list(pool.map(lambda queries: copy_floor(url, queries), streams))
    return time.perf_counter() - started


def measure_floors(url: str, streams: list[list[str]]) -> dict[str, Any]:
    """The floor as defined (every query drained in turn on one connection) and, when the
    refresh reads on more than one connection, the same queries drained on as many at once."""
    serial, copied = copy_floor(url, [q for queries in streams for q in queries])
    floors: dict[str, Any] = {"serial": serial, "mib": copied / 2**20}
    if len(streams) > 1:
        floors["concurrent"] = concurrent_floor(url, streams)
    return floors
