"""fact_sessions: one row per session, for questions over any range (no names, no comments).

Analysts compute exact medians, distinct counts and custom ranges from it, which the
per-day and per-window rollups cannot give. Ids only: names live in the dimensions.
"""

from __future__ import annotations

import polars as pl

from etl.transform.common import utc_day

FACT_COLUMNS = (
    "session_id",
    "tree_id",
    "user_id",
    "account_id",
    "started_at",
    "day",
    "completed_at",
    "duration_minutes",
    "outcome",
    "decision_count",
    "visit_count",
    "dropoff_node_id",
    "rating",
    "rated_at",
    "decisions_type",
    "node_ids",
)


def fact_sessions(extracted: pl.LazyFrame, trees: pl.LazyFrame, rated: pl.LazyFrame) -> pl.LazyFrame:
    """One row per extracted session (extract_sessions.sql) with its account and newest rating.

    The account comes through the tree (NULL when the tree is gone, as team figures leave
    such sessions out). duration_minutes is the extract's, PostgreSQL's `extract(epoch ...)
    / 60` as float8: the medians' input, bit for bit. A decisions value that is not an array
    has 0 elements; visits are the elements that are objects with a non-empty string
    node_id; the drop-off node is the raw last element of an incomplete session, when it is
    such an object. `rated` holds one row per rated session (extract_rated_sessions.sql).
    """
    accounts = trees.select("tree_id", "account_id")
    return (
        extracted.join(accounts, on="tree_id", how="left")
        .join(rated, on="session_id", how="left")
        .with_columns(
            utc_day("started_at"),
            pl.col("decision_elements").fill_null(0).cast(pl.Int32).alias("decision_count"),
            pl.col("node_ids").list.len().fill_null(0).cast(pl.Int32).alias("visit_count"),
            pl.col("last_node_id").alias("dropoff_node_id"),
            pl.col("rating").cast(pl.Int32),
        )
        .select(FACT_COLUMNS)
    )


def no_ratings() -> pl.DataFrame:
    """An empty `rated` frame (extract_rated_sessions.sql's columns)."""
    return pl.DataFrame(schema={"session_id": pl.String(), "rating": pl.Int32(), "rated_at": pl.Datetime("us", "UTC")})


def newest_ratings(ratings: pl.DataFrame) -> pl.DataFrame:
    """The newest rating of each rated session (ties: rating id desc), as extract_rated_sessions.sql reads it."""
    return (
        ratings.sort(["session_id", "created_at", "rating_id"], descending=[False, True, True])
        .unique("session_id", keep="first", maintain_order=True)
        .select("session_id", pl.col("rating").cast(pl.Int32), pl.col("created_at").alias("rated_at"))
    )
