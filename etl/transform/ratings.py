"""Session ratings: CSAT per window, the newest comments, per-day rating history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from etl.transform.common import top_n, utc_day, window_start


def window_ratings(ratings: pl.LazyFrame, as_of: datetime, periods: Mapping[str, int]) -> pl.LazyFrame:
    """One row per (period, tree) with ratings created in the window: mean and count."""
    parts = [
        ratings.filter(pl.col("created_at") >= window_start(as_of, days))
        .group_by("tree_id")
        .agg(
            pl.col("rating").cast(pl.Float64).mean().alias("avg_csat"),
            pl.len().cast(pl.Int64).alias("total_ratings"),
        )
        .with_columns(period=pl.lit(period))
        for period, days in periods.items()
    ]
    return pl.concat(parts)


def recent_comments(candidates: pl.LazyFrame) -> pl.LazyFrame:
    """Each tree's 10 newest ratings with a non-empty comment (whitespace counts); ties: id desc.

    Not window-filtered. The author is not carried.
    """
    commented = candidates.filter(pl.col("comment").is_not_null() & (pl.col("comment") != ""))
    return top_n(commented, "tree_id", ["created_at", "rating_id"], [True, True]).select(
        "tree_id", "rank", "rating_id", pl.col("rating").cast(pl.Int32), "comment", "created_at"
    )


def daily_ratings(ratings: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (tree, UTC day of created_at): count and sum of ratings."""
    return (
        ratings.with_columns(utc_day("created_at"))
        .group_by("tree_id", "day")
        .agg(
            pl.len().cast(pl.Int64).alias("ratings"),
            pl.col("rating").cast(pl.Int64).sum().alias("rating_sum"),
        )
    )


FACT_RATING_COLUMNS = ("rating_id", "session_id", "tree_id", "rating", "comment", "created_at", "day")


def fact_ratings(ratings: pl.LazyFrame) -> pl.LazyFrame:
    """fact_ratings: the rating rows as read (extract_session_ratings.sql), with their UTC day."""
    return ratings.with_columns(utc_day("created_at")).select(FACT_RATING_COLUMNS)
