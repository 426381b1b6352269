"""Shared metric building blocks, each rule stated once: the outcome list, the UTC day, the
window filter, completion and the drop-off, the shown names, the median, rates, ranking."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

OUTCOMES = ("resolved", "escalated", "workaround", "unresolved")

UNKNOWN_NAME = "Unknown"
"""An engineer's name as shown when NULL or empty (the app wrote `row.name or "Unknown"`)."""


def shown_name(column: str = "name") -> pl.Expr:
    """The name as the dashboards show it: UNKNOWN_NAME when NULL or empty."""
    return pl.when(pl.col(column).is_null() | (pl.col(column) == "")).then(pl.lit(UNKNOWN_NAME)).otherwise(column)


def shown_name_of(name: str | None) -> str:
    """shown_name for one value (the page's own lookups)."""
    return name or UNKNOWN_NAME


def tree_name(column: str = "name") -> pl.Expr:
    """A tree's name as the flow lists show it: '' when NULL."""
    return pl.col(column).fill_null("")


def utc_day(column: str) -> pl.Expr:
    """The UTC calendar day of a timestamp column, as `day` (timestamps are UTC-aware)."""
    return pl.col(column).dt.date().alias("day")


def window_start(as_of: datetime, days: int) -> datetime:
    """A session is in a window when started_at >= as_of - N days (no upper bound)."""
    return as_of - timedelta(days=days)


def started_in(as_of: datetime, days: int) -> pl.Expr:
    """The window filter: started_at >= as_of - N days (no upper bound)."""
    return pl.col("started_at") >= window_start(as_of, days)


def completed() -> pl.Expr:
    """Completed means completed_at is set; the extract carries it as a non-null duration."""
    return pl.col("duration_minutes").is_not_null()


def dropped_off() -> pl.Expr:
    """An incomplete session whose raw last decision element names a node (last_node_id)."""
    return ~completed() & pl.col("last_node_id").is_not_null()


def outcome_counts(*, among_completed: bool) -> list[pl.Expr]:
    """Counts of each known outcome; unknown or NULL outcomes count in none."""
    exprs = []
    for outcome in OUTCOMES:
        hit = pl.col("outcome") == outcome
        if among_completed:
            hit = hit & completed()
        exprs.append(hit.fill_null(False).sum().cast(pl.Int64).alias(outcome))
    return exprs


def median_minutes() -> pl.Expr:
    """Interpolated median of duration_minutes in a group, as PostgreSQL's percentile_cont(0.5).

    percentile_cont takes rows floor((n-1)/2) and ceil((n-1)/2) of the sorted values and
    returns lo + (hi - lo) * 0.5; Polars' linear quantile is that same formula in the same
    floating-point order (tests/unit/etl/transform/test_common.py checks it bit for bit against the
    explicit formula). Incomplete sessions (NULL duration) are ignored; a group without a
    completed session gets NULL.
    """
    return pl.col("duration_minutes").quantile(0.5, interpolation="linear").alias("median_duration_minutes")


def median_reference(values: list[float]) -> float:
    """percentile_cont(0.5) written out, for tests: lo + (hi - lo) * 0.5 over the sorted values."""
    ordered = sorted(values)
    lo, hi = ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]
    return lo if lo == hi else lo + (hi - lo) * 0.5


def rate(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator as a float, 0.0 when the denominator is 0."""
    return (
        pl.when(pl.col(denominator) > 0)
        .then(pl.col(numerator).cast(pl.Float64) / pl.col(denominator).cast(pl.Float64))
        .otherwise(0.0)
    )


def top_n(frame: pl.LazyFrame, group: str, order: list[str], descending: list[bool], n: int = 10) -> pl.LazyFrame:
    """The first n rows per group in the given order, with rank 1..n."""
    return (
        frame.sort([group, *order], descending=[False, *descending])
        .with_columns((pl.int_range(pl.len()).over(group) + 1).cast(pl.Int32).alias("rank"))
        .filter(pl.col("rank") <= n)
    )
