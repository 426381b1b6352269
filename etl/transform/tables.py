"""Assemble every store table from the extracted frames (pure: frames in, frames out)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from etl.transform import dimensions, history, quality, ratings, steps, window


def window_tables(
    *,
    sessions: pl.DataFrame,
    users: pl.DataFrame,
    trees: pl.DataFrame,
    session_ratings: pl.DataFrame,
    comment_candidates: pl.DataFrame,
    step_ratings: pl.DataFrame | None,
    as_of: datetime,
    periods: Mapping[str, int],
) -> dict[str, pl.DataFrame]:
    """The dimension, window and recent-history tables of one refresh.

    `sessions` and `session_ratings` cover the lookback (from a UTC midnight at or before
    as_of - the largest period), so the per-day history of those days is complete too.
    """
    s, t, u = sessions.lazy(), trees.lazy(), users.lazy()
    nodes = steps.tree_nodes(trees)
    step_lazy = step_ratings.lazy() if step_ratings is not None else None
    plans = {
        "users": dimensions.users(u),
        "trees": dimensions.trees(t),
        "window_summary": window.window_summary(s, t, as_of, periods),
        "window_time_series": window.window_time_series(s, t, as_of, periods),
        "window_top_flows": window.window_top_flows(s, t, as_of, periods),
        "window_top_engineers": window.window_top_engineers(s, t, u, as_of, periods),
        "window_step_feedback": steps.window_step_feedback(s, step_lazy, nodes.lazy(), as_of, periods),
        "window_ratings": ratings.window_ratings(session_ratings.lazy(), as_of, periods),
        "recent_comments": ratings.recent_comments(comment_candidates.lazy()),
        "daily_sessions": history.daily_sessions(s, t),
        "daily_ratings": ratings.daily_ratings(session_ratings.lazy()),
    }
    collected = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    collected["tree_nodes"] = nodes
    collected["data_quality"] = quality.data_quality(
        sessions, users, trees, nodes, session_ratings, step_ratings, as_of
    )
    return collected
