"""Tests of etl.transform.history: sessions per (scope, scope_id, UTC day), fed in chunks."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from etl.transform.history import daily_sessions
from tests.unit.etl.transform.frames import HISTORY_SESSIONS, TREES, UTC, assert_rows

TREE_FRAME = pl.LazyFrame(
    {"tree_id": ["t1", "t2"], "account_id": ["a1", "a2"], "name": ["One", "Two"], "tree_structure": [None, None]},
    schema=TREES,
)
LAST_MICROSECOND = datetime(2026, 11, 18, 23, 59, 59, 999999, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
SESSION_ROWS = [
    ("t1", "u1", LAST_MICROSECOND, 2.0, "resolved"),
    ("t1", "u2", MIDNIGHT, None, "escalated"),  # not completed: still in the outcome count
    ("t1", "u2", datetime(2026, 11, 19, 10, 0, tzinfo=UTC), 4.0, "solved"),  # unknown outcome
    ("t9", "u1", datetime(2026, 11, 19, 11, 0, tzinfo=UTC), 1.0, "workaround"),  # deleted tree
    ("t2", "u3", datetime(2026, 11, 21, 8, 0, tzinfo=UTC), -1.5, None),  # negative duration
]
KEYS = ["scope", "scope_id", "day"]
SCHEMA = {
    "scope_id": pl.String,
    "day": pl.Date,
    "sessions": pl.Int64,
    "completed_sessions": pl.Int64,
    "active_engineers": pl.Int64,
    "resolved": pl.Int64,
    "escalated": pl.Int64,
    "workaround": pl.Int64,
    "unresolved": pl.Int64,
    "median_duration_minutes": pl.Float64,
    "scope": pl.String,
}


def sessions(rows: list[tuple[str, str, datetime, float | None, str | None]]) -> pl.LazyFrame:
    """(tree_id, user_id, started_at, duration_minutes, outcome) rows of the history extract."""
    return pl.LazyFrame(rows, schema=HISTORY_SESSIONS, orient="row")


def test_daily_sessions_whole_frame_per_scope_and_utc_day() -> None:
    d18, d19, d21 = date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 21)
    expected = pl.DataFrame(
        [
            ("a1", d18, 1, 1, 1, 1, 0, 0, 0, 2.0, "account"),
            ("a1", d19, 2, 1, 1, 0, 1, 0, 0, 4.0, "account"),  # t9's session is in no account
            ("a2", d21, 1, 1, 1, 0, 0, 0, 0, -1.5, "account"),
            ("u1", d18, 1, 1, 1, 1, 0, 0, 0, 2.0, "user"),
            ("u1", d19, 1, 1, 1, 0, 0, 1, 0, 1.0, "user"),
            ("u2", d19, 2, 1, 1, 0, 1, 0, 0, 4.0, "user"),
            ("u3", d21, 1, 1, 1, 0, 0, 0, 0, -1.5, "user"),
            ("t1", d18, 1, 1, 1, 1, 0, 0, 0, 2.0, "tree"),
            ("t1", d19, 2, 1, 1, 0, 1, 0, 0, 4.0, "tree"),
            ("t9", d19, 1, 1, 1, 0, 0, 1, 0, 1.0, "tree"),
            ("t2", d21, 1, 1, 1, 0, 0, 0, 0, -1.5, "tree"),
        ],
        schema=SCHEMA,
        orient="row",
    )
    assert_rows(daily_sessions(sessions(SESSION_ROWS), TREE_FRAME), expected, by=KEYS, whole=True)


def test_daily_sessions_median_and_engineers_per_day() -> None:
    day = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    frame = sessions(
        [
            ("t1", "u1", day, 0.1, None),
            ("t1", "u2", day, 0.5, None),
            ("t1", "u2", day, None, None),
        ]
    )
    expected = pl.DataFrame(
        [("tree", "t1", date(2026, 11, 19), 3, 2, 2, 0.30000000000000004)],
        schema={
            "scope": pl.String,
            "scope_id": pl.String,
            "day": pl.Date,
            "sessions": pl.Int64,
            "completed_sessions": pl.Int64,
            "active_engineers": pl.Int64,
            "median_duration_minutes": pl.Float64,
        },
        orient="row",
    )
    result = daily_sessions(frame, TREE_FRAME).filter(pl.col("scope") == "tree")
    assert_rows(result, expected, by=KEYS)


@pytest.mark.parametrize(
    "split_at",
    [
        pytest.param(MIDNIGHT, id="split-at-the-midnight-between-two-sessions"),
        pytest.param(datetime(2026, 11, 20, tzinfo=UTC), id="split-at-an-empty-midnight"),
        pytest.param(datetime(2026, 11, 1, tzinfo=UTC), id="first-chunk-empty"),
    ],
)
def test_chunks_fed_separately_equal_all_fed_together(split_at: datetime) -> None:
    everything = sessions(SESSION_ROWS)
    chunks = [everything.filter(pl.col("started_at") < split_at), everything.filter(pl.col("started_at") >= split_at)]
    together = daily_sessions(everything, TREE_FRAME).collect()
    separately = pl.concat([daily_sessions(chunk, TREE_FRAME).collect() for chunk in chunks])
    assert_rows(separately, together, by=KEYS, whole=True)
