"""fact_sessions and the additive per-day step feedback (etl/transform/facts.py, steps.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from etl.transform.facts import fact_sessions, no_ratings
from etl.transform.steps import daily_helpful, daily_step_feedback, daily_step_visits, step_counts, window_step_feedback
from tests.unit.etl.transform.frames import RATED, SESSIONS, STEP_RATINGS, TIMESTAMP, TREES, UTC, assert_rows, extracted

DAY = datetime(2026, 10, 5, 23, 59, 59, 999999, tzinfo=UTC)  # the last microsecond of a UTC day
NEXT = DAY + timedelta(microseconds=1)

TREE_FRAME = pl.LazyFrame([("t1", "a1", "Flow", None)], schema=TREES, orient="row")


def extract(rows: list[tuple[Any, ...]]) -> pl.LazyFrame:
    """SESSIONS rows (tree, user, started, duration, outcome, type, elements, node_ids, last) as extracted."""
    return extracted(pl.DataFrame(rows, schema=SESSIONS, orient="row")).lazy()


FACT_ROWS = [
    ("t1", "u1", DAY, 2.5, "resolved", "array", 3, ["a", "b"], None),  # s0: completed, one element ignored
    ("t1", "u2", NEXT, None, None, "array", 2, ["a", "b"], "b"),  # s1: incomplete, drops off at b
    ("t9", "u1", NEXT, -1.0, "solved", "object", None, [], None),  # s2: tree gone, not an array, negative
    ("t1", "u3", NEXT, None, "escalated", None, None, [], None),  # s3: decisions NULL
]


def test_one_row_per_session_with_its_account_counts_dropoff_and_newest_rating() -> None:
    rated = pl.DataFrame([("s0", 4, NEXT), ("s3", 1, DAY)], schema=RATED, orient="row")
    expected = pl.DataFrame(
        [
            ("s0", "t1", "u1", "a1", DAY, date(2026, 10, 5), 2.5, "resolved", 3, 2, None, 4, NEXT),
            ("s1", "t1", "u2", "a1", NEXT, date(2026, 10, 6), None, None, 2, 2, "b", None, None),
            ("s2", "t9", "u1", None, NEXT, date(2026, 10, 6), -1.0, "solved", 0, 0, None, None, None),
            ("s3", "t1", "u3", "a1", NEXT, date(2026, 10, 6), None, "escalated", 0, 0, None, 1, DAY),
        ],
        schema={
            "session_id": pl.String,
            "tree_id": pl.String,
            "user_id": pl.String,
            "account_id": pl.String,
            "started_at": TIMESTAMP,
            "day": pl.Date,
            "duration_minutes": pl.Float64,
            "outcome": pl.String,
            "decision_count": pl.Int32,
            "visit_count": pl.Int32,
            "dropoff_node_id": pl.String,
            "rating": pl.Int32,
            "rated_at": TIMESTAMP,
        },
        orient="row",
    )
    result = fact_sessions(extract(FACT_ROWS), TREE_FRAME, rated.lazy())
    assert_rows(result, expected, by=["session_id"])
    completed_at = result.select("session_id", "completed_at").collect().sort("session_id")
    assert completed_at["completed_at"].to_list() == [
        DAY + timedelta(minutes=2.5),
        None,
        NEXT - timedelta(minutes=1),
        None,
    ]


def test_without_ratings_every_rating_is_null() -> None:
    result = fact_sessions(extract(FACT_ROWS), TREE_FRAME, no_ratings().lazy()).collect()
    assert result["rating"].null_count() == result.height == 4


STEP_ROWS = [
    ("t1", "u1", DAY, 2.0, "resolved", "array", 3, ["a", "b", "a"], None),
    ("t1", "u2", DAY, None, None, "array", 2, ["a", "b"], "b"),
    ("t1", "u2", NEXT, None, None, "array", 1, ["a"], "a"),
    ("t1", "u2", NEXT, None, None, "array", 2, ["c"], None),  # raw last element no visit: no drop-off
]
STEP_KEYS = ["tree_id", "node_id", "day"]
STEP_SCHEMA = {
    "tree_id": pl.String,
    "node_id": pl.String,
    "day": pl.Date,
    "visits": pl.Int64,
    "dropoffs": pl.Int64,
    "helpful_yes": pl.Int64,
    "helpful_no": pl.Int64,
}


def test_step_feedback_per_day_with_helpfulness_by_the_rating_day() -> None:
    ratings = pl.LazyFrame(
        [("t1", "a", True, DAY), ("t1", "a", False, NEXT), ("t1", "z", None, NEXT)], schema=STEP_RATINGS, orient="row"
    )
    visits = daily_step_visits(extract(STEP_ROWS))
    result = daily_step_feedback(visits, daily_helpful(ratings, pl.String()))
    d1, d2 = date(2026, 10, 5), date(2026, 10, 6)
    expected = pl.DataFrame(
        [
            ("t1", "a", d1, 3, 0, 1, 0),
            ("t1", "b", d1, 2, 1, 0, 0),
            ("t1", "a", d2, 1, 1, 0, 1),
            ("t1", "c", d2, 1, 0, 0, 0),
            ("t1", "z", d2, 0, 0, 0, 0),  # a rating neither helpful nor not: a row, counted in neither
        ],
        schema=STEP_SCHEMA,
        orient="row",
    )
    assert_rows(result, expected, by=STEP_KEYS, whole=True)


def test_per_day_step_feedback_sums_to_the_window_figures() -> None:
    ratings = pl.LazyFrame([("t1", "a", True, DAY), ("t1", "b", False, NEXT)], schema=STEP_RATINGS, orient="row")
    as_of = NEXT + timedelta(days=1)
    window = window_step_feedback(
        step_counts(extract(STEP_ROWS), as_of, {"7d": 7}),
        ratings,
        pl.LazyFrame(schema=dict.fromkeys(["tree_id", "node_id", "node_title"], pl.String())),
        as_of,
        {"7d": 7},
    )
    days = daily_step_feedback(daily_step_visits(extract(STEP_ROWS)), daily_helpful(ratings, pl.String()))
    summed = (
        days.group_by("tree_id", "node_id")
        .agg(pl.col("visits", "dropoffs", "helpful_yes", "helpful_no").sum())
        .filter(pl.col("visits") > 0)
    )
    expected = window.select("tree_id", "node_id", "visits", "dropoffs", "helpful_yes", "helpful_no").collect()
    assert_rows(summed, expected, by=["tree_id", "node_id"])


def test_no_step_ratings_table_gives_no_helpful_rows() -> None:
    assert daily_helpful(None, pl.Categorical()).collect().height == 0
