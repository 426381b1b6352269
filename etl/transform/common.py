"""Shared metric building blocks: the outcome list, window filters, the median, ranking."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

OUTCOMES = ("resolved", "escalated", "workaround", "unresolved")


def window_start(as_of: datetime, days: int) -> datetime:
    """A session is in a window when started_at >= as_of - N days (no upper bound)."""
    return as_of - timedelta(days=days)


def completed() -> pl.Expr:
    """Completed means completed_at is set; the extract carries it as a non-null duration."""
    return pl.col("duration_minutes").is_not_null()


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
    floating-point order (tests/unit/test_common.py checks it bit for bit against the
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
