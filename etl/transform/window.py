"""Window rollups for the dashboards: summary, time series, top flows, top engineers.

Input `sessions` is the window extract (tree_id, user_id, started_at, duration_minutes,
outcome); each function filters it per period (started_at >= as_of - N days).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, time, timedelta

import polars as pl

from etl.scopes import ACCOUNT, ACCOUNT_ENGINEER, NO_ENGINEER, SCOPE_KEYS, USER
from etl.transform.common import (
    completed,
    median_minutes,
    outcome_counts,
    rate,
    shown_name,
    started_in,
    top_n,
    tree_name,
    utc_day,
    window_start,
)

KEYS = ["scope_id", "engineer_id"]


def in_window(sessions: pl.LazyFrame, as_of: datetime, days: int) -> pl.LazyFrame:
    return sessions.filter(started_in(as_of, days))


def scoped(sessions: pl.LazyFrame, trees: pl.LazyFrame, scope: str) -> pl.LazyFrame:
    """Sessions of a scope kind, keyed by scope_id and engineer_id ('' unless narrowed).

    Account scopes keep only sessions whose tree belongs to an account (the tree exists).
    """
    if scope in (ACCOUNT, ACCOUNT_ENGINEER):
        sessions = sessions.join(trees.select("tree_id", "account_id"), on="tree_id", how="inner")
    scope_column, engineer_column = SCOPE_KEYS[scope]
    engineer = pl.col(engineer_column) if engineer_column else label(NO_ENGINEER, sessions)
    return sessions.with_columns(pl.col(scope_column).alias("scope_id"), engineer.alias("engineer_id"))


def label(text: str, sessions: pl.LazyFrame) -> pl.Expr:
    """A constant text column (period, scope, the empty engineer) typed as the ids are.

    Ids may be text or Categorical (etl/transform/ids.py); as Categorical, the labels of the
    large tables stay 4-byte codes through sorting and publishing too.
    """
    return pl.lit(text).cast(sessions.collect_schema()["user_id"])


def _per_scope(
    sessions: pl.LazyFrame,
    trees: pl.LazyFrame,
    as_of: datetime,
    periods: Mapping[str, int],
    build: Callable[[pl.LazyFrame], pl.LazyFrame],
    scopes: Collection[str],
) -> pl.LazyFrame:
    parts = [
        _all_scopes(in_window(sessions, as_of, days), trees, build, period, scopes) for period, days in periods.items()
    ]
    return pl.concat(parts, how="diagonal")


def _all_scopes(
    sessions: pl.LazyFrame,
    trees: pl.LazyFrame,
    build: Callable[[pl.LazyFrame], pl.LazyFrame],
    period: str,
    scopes: Collection[str] = tuple(SCOPE_KEYS),
) -> pl.LazyFrame:
    """`build` over each of the scope kinds `scopes` of `sessions`, labelled with `period` and the scope."""
    parts = [
        build(scoped(sessions, trees, scope)).with_columns(period=label(period, sessions), scope=label(scope, sessions))
        for scope in scopes
    ]
    return pl.concat(parts, how="diagonal")


def summarize(scoped_sessions: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Totals, completion, active engineers, outcomes among completed, median per key."""
    counts = scoped_sessions.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("total_sessions"),
        completed().sum().cast(pl.Int64).alias("completed_sessions"),
        pl.col("user_id").n_unique().cast(pl.Int64).alias("active_engineers"),
        *outcome_counts(among_completed=True),
        median_minutes(),
    )
    return counts.with_columns(rate("completed_sessions", "total_sessions").alias("completion_rate"))


def window_summary(
    sessions: pl.LazyFrame,
    trees: pl.LazyFrame,
    as_of: datetime,
    periods: Mapping[str, int],
    scopes: Collection[str] = tuple(SCOPE_KEYS),
) -> pl.LazyFrame:
    """One row per (period, scope, scope_id, engineer_id) with sessions in the window (of `scopes`)."""
    return _per_scope(sessions, trees, as_of, periods, lambda s: summarize(s, KEYS), scopes)


def daily_counts(scoped_sessions: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Sessions and each outcome (completed or not) per key and UTC day of started_at."""
    return (
        scoped_sessions.with_columns(utc_day("started_at"))
        .group_by([*keys, "day"])
        .agg(pl.len().cast(pl.Int64).alias("sessions"), *outcome_counts(among_completed=False))
    )


def window_time_series(
    sessions: pl.LazyFrame,
    trees: pl.LazyFrame,
    as_of: datetime,
    periods: Mapping[str, int],
    scopes: Collection[str] = tuple(SCOPE_KEYS),
) -> pl.LazyFrame:
    """One row per (period, scope, scope_id, engineer_id, day) with sessions (of `scopes`); no zero days.

    Only the widest period is counted from all its sessions. A narrower window starts
    inside it, so its days after the first are the widest's rows; only its first, partial
    day is counted from that day's sessions.
    """

    def counts(scoped_sessions: pl.LazyFrame) -> pl.LazyFrame:
        return daily_counts(scoped_sessions, KEYS)

    widest_period = max(periods, key=lambda period: periods[period])
    widest = _all_scopes(in_window(sessions, as_of, periods[widest_period]), trees, counts, widest_period, scopes)
    parts = [widest]
    for period, days in periods.items():
        if period == widest_period:
            continue
        start = window_start(as_of, days).astimezone(UTC)
        first_day = start.date()
        next_day = datetime.combine(first_day + timedelta(days=1), time(), tzinfo=UTC)
        opening = sessions.filter(pl.col("started_at") >= start, pl.col("started_at") < next_day)
        days_after = widest.filter(pl.col("day") > first_day).with_columns(period=label(period, sessions))
        parts += [_all_scopes(opening, trees, counts, period, scopes), days_after]
    return pl.concat(parts, how="diagonal")


def _ranked_groups(scoped_sessions: pl.LazyFrame, item: str) -> pl.LazyFrame:
    keys = ["scope_id", item]
    counts = scoped_sessions.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("sessions"),
        completed().sum().cast(pl.Int64).alias("completed_sessions"),
        median_minutes(),
    )
    return counts.with_columns(rate("completed_sessions", "sessions").alias("completion_rate"))


def window_top_flows(
    sessions: pl.LazyFrame,
    trees: pl.LazyFrame,
    as_of: datetime,
    periods: Mapping[str, int],
    scopes: Collection[str] = (ACCOUNT, USER),
) -> pl.LazyFrame:
    """Top 10 trees by sessions per account and per user (of `scopes`; sessions whose tree exists).

    Ties: tree name in code-point order, then tree id.
    """
    names = trees.select("tree_id", tree_name().alias("tree_name"))
    parts = []
    for period, days in periods.items():
        windowed = in_window(sessions, as_of, days)
        for scope in scopes:
            groups = _ranked_groups(scoped(windowed, trees, scope), "tree_id").join(names, on="tree_id", how="inner")
            ranked = top_n(groups, "scope_id", ["sessions", "tree_name", "tree_id"], [True, False, False])
            parts.append(ranked.with_columns(period=label(period, sessions), scope=label(scope, sessions)))
    return pl.concat(parts, how="diagonal")


def window_top_engineers(
    sessions: pl.LazyFrame,
    trees: pl.LazyFrame,
    users: pl.LazyFrame,
    as_of: datetime,
    periods: Mapping[str, int],
) -> pl.LazyFrame:
    """Top 10 users by sessions per account (sessions whose user exists).

    The name is shown as "Unknown" when NULL or empty (the app wrote `row.name or "Unknown"`);
    ties: that shown name in code-point order, then user id.
    """
    shown = shown_name()
    names = users.select("user_id", shown.alias("name"))
    parts = []
    for period, days in periods.items():
        windowed = in_window(sessions, as_of, days)
        groups = _ranked_groups(scoped(windowed, trees, ACCOUNT), "user_id").join(names, on="user_id", how="inner")
        ranked = top_n(groups, "scope_id", ["sessions", "name", "user_id"], [True, False, False])
        parts.append(ranked.with_columns(period=label(period, sessions), scope=label(ACCOUNT, sessions)))
    return pl.concat(parts, how="diagonal")
