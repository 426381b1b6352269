"""Per-day history for analysts: sessions per (scope, scope_id, UTC day), for all time."""

from __future__ import annotations

import polars as pl

from etl.scopes import ACCOUNT, TREE, USER
from etl.transform.common import completed, median_minutes, outcome_counts, utc_day
from etl.transform.window import label, scoped

HISTORY_SCOPES = (ACCOUNT, USER, TREE)


def daily_sessions(sessions: pl.LazyFrame, trees: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (scope, scope_id, day) with sessions; days never span two inputs.

    Callers may feed disjoint time ranges separately (bounded memory): each day's rows
    depend only on that day's sessions.
    """
    with_day = sessions.with_columns(utc_day("started_at"))
    keys = ["scope_id", "day"]
    parts = []
    for scope in HISTORY_SCOPES:
        part = scoped(with_day, trees, scope)
        counts = part.group_by(keys).agg(
            pl.len().cast(pl.Int64).alias("sessions"),
            completed().sum().cast(pl.Int64).alias("completed_sessions"),
            pl.col("user_id").n_unique().cast(pl.Int64).alias("active_engineers"),
            *outcome_counts(among_completed=False),
            median_minutes(),
        )
        parts.append(counts.with_columns(scope=label(scope, sessions)))
    return pl.concat(parts)
