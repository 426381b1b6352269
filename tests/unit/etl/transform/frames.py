"""Schemas of the extracted frames and one comparison helper shared by the unit tests.

The schemas restate what etl/sql/extract_*.sql hands the transforms; nothing here
computes a metric.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import polars as pl
from polars.testing import assert_frame_equal

UTC = timezone.utc
TIMESTAMP = pl.Datetime("us", "UTC")

# A reference time with microseconds, so window edges are exact to the microsecond.
AS_OF = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)

# extract_sessions.sql, but for session_id and completed_at (`extracted` adds them); the
# rollups read only its first five columns.
SESSIONS: dict[str, pl.DataType] = {
    "tree_id": pl.String(),
    "user_id": pl.String(),
    "started_at": TIMESTAMP,
    "duration_minutes": pl.Float64(),
    "outcome": pl.String(),
    "decisions_type": pl.String(),
    "decision_elements": pl.Int32(),
    "node_ids": pl.List(pl.String()),
    "last_node_id": pl.String(),
}
HISTORY_SESSIONS = {
    name: SESSIONS[name] for name in ("tree_id", "user_id", "started_at", "duration_minutes", "outcome")
}
RATED: dict[str, pl.DataType] = {"session_id": pl.String(), "rating": pl.Int32(), "rated_at": TIMESTAMP}


def extracted(sessions: pl.DataFrame) -> pl.DataFrame:
    """SESSIONS rows with the columns of extract_sessions.sql they leave out: session ids s0,
    s1, ... in row order, and completed_at = started_at + duration_minutes."""
    completed = pl.col("started_at") + pl.duration(microseconds=(pl.col("duration_minutes") * 60e6).round())
    return sessions.select(
        pl.format("s{}", pl.int_range(pl.len())).alias("session_id"),
        "tree_id",
        "user_id",
        "started_at",
        completed.alias("completed_at"),
        pl.exclude("tree_id", "user_id", "started_at"),
    )


TREES: dict[str, pl.DataType] = {
    "tree_id": pl.String(),
    "account_id": pl.String(),
    "name": pl.String(),
    "tree_structure": pl.String(),
}
USERS: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "account_id": pl.String(),
    "name": pl.String(),
    "is_active": pl.Boolean(),
    "is_team_admin": pl.Boolean(),
    "is_super_admin": pl.Boolean(),
}
RATINGS: dict[str, pl.DataType] = {
    "rating_id": pl.String(),
    "tree_id": pl.String(),
    "rating": pl.Int32(),
    "comment": pl.String(),
    "created_at": TIMESTAMP,
}
STEP_RATINGS: dict[str, pl.DataType] = {
    "tree_id": pl.String(),
    "node_id": pl.String(),
    "helpful": pl.Boolean(),
    "created_at": TIMESTAMP,
}
NODES: dict[str, pl.DataType] = {"tree_id": pl.String(), "node_id": pl.String(), "node_title": pl.String()}


def assert_rows(
    actual: pl.LazyFrame | pl.DataFrame, expected: pl.DataFrame, by: list[str], *, whole: bool = False
) -> None:
    """actual equals expected: schema first, then exact values (floats bit for bit).

    Without `whole`, actual is first cut to expected's columns (a test states only the
    columns its rule is about). Both sides are sorted by `by`: the streaming engine does
    not keep row order.
    """
    frame = actual.collect() if isinstance(actual, pl.LazyFrame) else actual
    if not whole:
        frame = frame.select(expected.columns)
    assert frame.schema == expected.schema
    assert_frame_equal(frame.sort(by), expected.sort(by), check_exact=True)


def gathered(built: Iterator[tuple[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """The tables an assembly yields, each table's parts (one per day range) concatenated."""
    parts: dict[str, list[pl.DataFrame]] = {}
    for name, frame in built:
        parts.setdefault(name, []).append(frame)
    return {name: pl.concat(frames) for name, frames in parts.items()}


def with_read_ids(ratings: pl.DataFrame) -> pl.DataFrame:
    """RATINGS or STEP_RATINGS rows with the ids the extract also reads (session, step rating)."""
    if "rating_id" in ratings.columns:
        return ratings.with_columns(session_id=pl.format("s-{}", "rating_id"))
    return ratings.with_columns(step_rating_id=pl.format("sr{}", pl.int_range(pl.len())))
