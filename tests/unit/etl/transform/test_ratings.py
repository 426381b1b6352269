"""Tests of etl.transform.ratings: CSAT per window, the newest comments, ratings per day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from etl.transform.ratings import daily_ratings, recent_comments, window_ratings
from tests.unit.etl.transform.frames import AS_OF, RATINGS, UTC, assert_rows

T = AS_OF - timedelta(hours=1)


def ratings(rows: list[tuple[str, str, int, str | None, datetime]]) -> pl.LazyFrame:
    """(rating_id, tree_id, rating, comment, created_at) rows of the ratings extracts."""
    return pl.LazyFrame(rows, schema=RATINGS, orient="row")


# --- window_ratings ---------------------------------------------------------------------


def test_window_ratings_mean_and_count_per_window() -> None:
    frame = ratings(
        [
            ("r1", "t1", 5, None, T),
            ("r2", "t1", 4, None, AS_OF - timedelta(days=7)),  # on the 7d edge: in
            ("r3", "t1", 1, None, AS_OF - timedelta(days=7, microseconds=1)),  # 30d only
            ("r4", "t2", 2, "", AS_OF - timedelta(days=20)),  # 30d only
            ("r5", "t3", 3, None, AS_OF - timedelta(days=40)),  # in no window: no row
            ("r6", "t2", 5, None, AS_OF + timedelta(minutes=5)),  # future: in every window
        ]
    )
    expected = pl.DataFrame(
        [
            ("t1", 4.5, 2, "7d"),
            ("t2", 5.0, 1, "7d"),
            ("t1", 10 / 3, 3, "30d"),
            ("t2", 3.5, 2, "30d"),
        ],
        schema={"tree_id": pl.String, "avg_csat": pl.Float64, "total_ratings": pl.Int64, "period": pl.String},
        orient="row",
    )
    result = window_ratings(frame, AS_OF, {"7d": 7, "30d": 30})
    assert_rows(result, expected, by=["period", "tree_id"], whole=True)


# --- recent_comments --------------------------------------------------------------------

COMMENT_SCHEMA = {
    "tree_id": pl.String,
    "rank": pl.Int32,
    "rating_id": pl.String,
    "rating": pl.Int32,
    "comment": pl.String,
    "created_at": RATINGS["created_at"],
}


@pytest.mark.parametrize(
    ("comment", "kept"),
    [
        pytest.param(None, False, id="null-excluded"),
        pytest.param("", False, id="empty-excluded"),
        pytest.param(" ", True, id="space-kept"),
        pytest.param("\t\n", True, id="whitespace-kept"),
        pytest.param("Great", True, id="text-kept"),
    ],
)
def test_recent_comments_non_empty_means_not_null_and_not_empty(comment: str | None, kept: bool) -> None:
    frame = ratings([("r1", "t1", 4, comment, T)])
    rows = [("t1", 1, "r1", 4, comment, T)] if kept else []
    expected = pl.DataFrame(rows, schema=COMMENT_SCHEMA, orient="row")
    assert_rows(recent_comments(frame), expected, by=["tree_id", "rank"], whole=True)


def test_recent_comments_newest_ten_per_tree_any_age_ties_by_id_desc() -> None:
    # t1 has twelve comments: r01..r10 a minute apart, r7b at the same time as r07 (ties go
    # by id desc: 'r7b' > 'r07'), and a year-old one; r10 and the year-old one drop. t2's
    # single year-old comment stays: comments are not window-filtered.
    rows = [(f"r{i:02d}", "t1", 4, f"comment {i}", T - timedelta(minutes=i)) for i in range(1, 11)]
    rows += [
        ("r7b", "t1", 5, "tied", T - timedelta(minutes=7)),
        ("rold", "t1", 1, "old", AS_OF - timedelta(days=365)),
        ("r99", "t2", 3, "old", AS_OF - timedelta(days=365)),
    ]
    frame = ratings(rows)
    expected = pl.DataFrame(
        {
            "tree_id": ["t1"] * 10 + ["t2"],
            "rank": [*range(1, 11), 1],
            "rating_id": ["r01", "r02", "r03", "r04", "r05", "r06", "r7b", "r07", "r08", "r09", "r99"],
        },
        schema={"tree_id": pl.String, "rank": pl.Int32, "rating_id": pl.String},
    )
    assert_rows(recent_comments(frame), expected, by=["tree_id", "rank"])


# --- daily_ratings ----------------------------------------------------------------------


def test_daily_ratings_count_and_sum_per_utc_day() -> None:
    frame = ratings(
        [
            ("r1", "t1", 5, None, datetime(2026, 11, 18, 23, 59, 59, 999999, tzinfo=UTC)),
            ("r2", "t1", 2, "", datetime(2026, 11, 18, 0, 0, tzinfo=UTC)),
            ("r3", "t1", 4, None, datetime(2026, 11, 19, 0, 0, tzinfo=UTC)),
            ("r4", "t2", 1, None, datetime(2026, 11, 19, 12, 0, tzinfo=UTC)),
        ]
    )
    expected = pl.DataFrame(
        [
            ("t1", date(2026, 11, 18), 2, 7),
            ("t1", date(2026, 11, 19), 1, 4),
            ("t2", date(2026, 11, 19), 1, 1),
        ],
        schema={"tree_id": pl.String, "day": pl.Date, "ratings": pl.Int64, "rating_sum": pl.Int64},
        orient="row",
    )
    assert_rows(daily_ratings(frame), expected, by=["tree_id", "day"], whole=True)
