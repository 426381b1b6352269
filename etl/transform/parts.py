"""The builders etl.transform.assembly puts together: table parts from extracted frames (pure).

`window_part` turns a day range of the window's sessions into what can be computed row by
row or day by day (per-day rows, counts) plus the few columns the rollups need, so the
wide frame with node lists can be dropped. The rollups whose medians and distinct counts
need the whole window start from the parts' `Rollups` combined: `session_tables` from
sessions alone, `rating_tables` once the ratings are read. Account, user and tree ids are
Categorical (etl/transform/ids.py): the builders take frames coded once where they enter
the transform (`Dimensions.of`, and ids.sessions / ids.step_ratings in
etl.transform.assembly) and code nothing themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from etl.transform import dimensions, facts, history, ids, quality, ratings, steps, window

# The columns of the window sessions that the whole-window rollups need.
ROLLUP_COLUMNS = ("tree_id", "user_id", "started_at", "duration_minutes", "outcome")


@dataclass(frozen=True)
class Dimensions:
    """Users, trees and tree nodes with Categorical ids, read once per refresh.

    One copy of each: the published users, trees and tree_nodes tables are built from
    these coded frames too (the store gets their text, etl/transform/ids.py).
    """

    users: pl.DataFrame  # Categorical user_id, account_id
    trees: pl.DataFrame  # Categorical tree_id, account_id
    nodes: pl.DataFrame  # steps.tree_nodes of the trees; Categorical tree_id

    @classmethod
    def of(cls, users: pl.DataFrame, trees: pl.DataFrame) -> Dimensions:
        """The dimensions as extracted, coded: the one place their ids are coded."""
        return cls(
            users=ids.encode(users, ["user_id", "account_id"]),
            trees=ids.encode(trees, ["tree_id", "account_id"]),
            nodes=ids.encode(steps.tree_nodes(trees), ["tree_id"]),
        )


@dataclass(frozen=True)
class Rollups:
    """What the whole-window rollups need from the window's sessions (or from a part)."""

    step_counts: pl.DataFrame  # visits and drop-offs (steps.step_counts; keys may repeat)
    quality: dict[str, int]  # quality.SESSION_RULES counts
    sessions: pl.DataFrame  # ROLLUP_COLUMNS

    @classmethod
    def combine(cls, parts: Sequence[Rollups]) -> Rollups:
        """The rollup inputs of disjoint parts of the window, as one."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            step_counts=pl.concat([p.step_counts for p in parts]),
            quality={rule: sum(p.quality[rule] for p in parts) for rule in parts[0].quality},
            sessions=pl.concat([p.sessions for p in parts]),
        )


@dataclass(frozen=True)
class WindowPart:
    """What some whole days of the window's sessions give row by row and day by day.

    Every day's rows depend only on that day's sessions, so the per-day rows of disjoint
    day ranges are complete as they are, and can be written as soon as they are built.
    """

    time_series: pl.DataFrame  # window_time_series rows of these days
    daily_sessions: pl.DataFrame  # daily_sessions rows of these days
    fact_sessions: pl.DataFrame  # fact_sessions rows of these days
    daily_step_feedback: pl.DataFrame  # daily_step_feedback rows of these days
    rollups: Rollups


def window_part(
    sessions: pl.DataFrame,
    dims: Dimensions,
    as_of: datetime,
    periods: Mapping[str, int],
    *,
    rated: pl.DataFrame | None = None,
    helpful: pl.DataFrame | None = None,
) -> WindowPart:
    """`sessions` holds whole UTC days of the window (a range of them, or all), coded (ids.sessions).

    `rated` holds the newest rating of (at least) these sessions; `helpful` the
    helpful_days rows of the same days (none when absent).
    """
    s, t = sessions.lazy(), dims.trees.lazy()
    time_series, daily, counts, fact, step_days = pl.collect_all(
        [
            window.window_time_series(s, t, as_of, periods),
            history.daily_sessions(s, t),
            steps.step_counts(s, as_of, periods),
            *_per_session(s, t, rated, helpful),
        ]
    )
    rollups = Rollups(
        step_counts=counts,
        quality=quality.session_counts(sessions, dims.users, dims.trees, dims.nodes, as_of),
        sessions=sessions.select(ROLLUP_COLUMNS),
    )
    return WindowPart(
        time_series=time_series,
        daily_sessions=daily,
        fact_sessions=fact,
        daily_step_feedback=step_days,
        rollups=rollups,
    )


def _per_session(
    coded: pl.LazyFrame, trees: pl.LazyFrame, rated: pl.DataFrame | None, helpful: pl.DataFrame | None
) -> list[pl.LazyFrame]:
    """The fact_sessions and daily_step_feedback plans of some whole days of sessions."""
    helpful_rows = helpful if helpful is not None else helpful_days(None)
    return [
        facts.fact_sessions(coded, trees, (rated if rated is not None else facts.no_ratings()).lazy()),
        steps.daily_step_feedback(steps.daily_step_visits(coded), helpful_rows.lazy()),
    ]


def helpful_days(step_ratings: pl.DataFrame | None) -> pl.DataFrame:
    """Coded step ratings (ids.step_ratings) per (tree, node, UTC day), for window_part/history_part."""
    rows = step_ratings.lazy() if step_ratings is not None else None
    return steps.daily_helpful(rows, pl.Categorical()).collect()


def helpful_only(helpful: pl.DataFrame) -> pl.DataFrame:
    """daily_step_feedback rows of helpful_days rows on days without sessions."""
    zero = pl.lit(0, pl.Int64)
    return helpful.with_columns(visits=zero, dropoffs=zero).select(steps.DAILY_STEP_COLUMNS)


def days_between(frame: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    """Rows whose `day` is in [start, end); None is no bound."""
    day = pl.col("day")
    bounds = [*([day >= start] if start else []), *([day < end] if end else [])]
    return frame.filter(bounds) if bounds else frame


def session_tables(
    rollups: Rollups, dims: Dimensions, as_of: datetime, periods: Mapping[str, int]
) -> dict[str, pl.DataFrame]:
    """The whole-window rollups of sessions alone (they need no ratings), and the dimensions.

    `rollups` covers the lookback (from a UTC midnight at or before as_of - the largest period).
    """
    sessions = rollups.sessions.lazy()
    t, u = dims.trees.lazy(), dims.users.lazy()
    plans = {
        "users": dimensions.users(dims.users.lazy()),
        "trees": dimensions.trees(dims.trees.lazy()),
        "window_summary": window.window_summary(sessions, t, as_of, periods),
        "window_top_flows": window.window_top_flows(sessions, t, as_of, periods),
        "window_top_engineers": window.window_top_engineers(sessions, t, u, as_of, periods),
    }
    built = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    built["tree_nodes"] = dims.nodes
    return built


def rating_tables(
    *,
    rollups: Rollups,
    dims: Dimensions,
    session_ratings: pl.DataFrame,
    comment_candidates: pl.DataFrame,
    step_ratings: pl.DataFrame | None,
    as_of: datetime,
    periods: Mapping[str, int],
) -> dict[str, pl.DataFrame]:
    """The tables that need the ratings: step feedback, ratings, comments, data quality.

    `session_ratings` covers the lookback, so the per-day ratings of those days are complete;
    `step_ratings` are coded (ids.step_ratings).
    """
    plans = {
        "window_step_feedback": steps.window_step_feedback(
            rollups.step_counts.lazy(),
            step_ratings.lazy() if step_ratings is not None else None,
            dims.nodes.lazy(),
            as_of,
            periods,
        ),
        "window_ratings": ratings.window_ratings(session_ratings.lazy(), as_of, periods),
        "recent_comments": ratings.recent_comments(comment_candidates.lazy()),
        "daily_ratings": ratings.daily_ratings(session_ratings.lazy()),
    }
    built = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    built["data_quality"] = quality.quality_table(
        rollups.quality, dims.users, dims.trees, dims.nodes, session_ratings, step_ratings
    )
    return built


def history_part(
    sessions: pl.DataFrame, dims: Dimensions, *, rated: pl.DataFrame, helpful: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """daily_sessions, fact_sessions and daily_step_feedback rows of a range of older sessions.

    History is read in chunks of whole days; `sessions` are coded (ids.sessions), `helpful`
    holds the helpful_days rows of the chunk's days, `rated` the newest rating of (at least)
    its sessions.
    """
    s, t = sessions.lazy(), dims.trees.lazy()
    daily, fact, step_days = pl.collect_all([history.daily_sessions(s, t), *_per_session(s, t, rated, helpful)])
    return {"daily_sessions": daily, "fact_sessions": fact, "daily_step_feedback": step_days}
