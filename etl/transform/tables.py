"""Assemble every store table from the extracted frames (pure: frames in, frames out)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from etl.transform import dimensions, history, ids, quality, ratings, steps, window


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
    Account, user and tree ids come out as one ids.id_type Enum (ordered like the ids).
    """
    step_frames = [step_ratings["tree_id"]] if step_ratings is not None else []
    id_enum = ids.id_type(
        sessions["tree_id"],
        sessions["user_id"],
        users["user_id"],
        users["account_id"],
        trees["tree_id"],
        trees["account_id"],
        *step_frames,
    )
    sessions = ids.encode(sessions, id_enum, ["tree_id", "user_id"])
    coded_users = ids.encode(users, id_enum, ["user_id", "account_id"])
    coded_trees = ids.encode(trees, id_enum, ["tree_id", "account_id"])
    nodes = steps.tree_nodes(trees)
    coded_nodes = ids.encode(nodes, id_enum, ["tree_id"])
    if step_ratings is not None:
        step_ratings = ids.encode(step_ratings, id_enum, ["tree_id"])
    s, t, u = sessions.lazy(), coded_trees.lazy(), coded_users.lazy()
    step_lazy = step_ratings.lazy() if step_ratings is not None else None
    plans = {
        "users": dimensions.users(users.lazy()),
        "trees": dimensions.trees(trees.lazy()),
        "window_summary": window.window_summary(s, t, as_of, periods),
        "window_time_series": window.window_time_series(s, t, as_of, periods),
        "window_top_flows": window.window_top_flows(s, t, as_of, periods),
        "window_top_engineers": window.window_top_engineers(s, t, u, as_of, periods),
        "window_step_feedback": steps.window_step_feedback(s, step_lazy, coded_nodes.lazy(), as_of, periods),
        "window_ratings": ratings.window_ratings(session_ratings.lazy(), as_of, periods),
        "recent_comments": ratings.recent_comments(comment_candidates.lazy()),
        "daily_sessions": history.daily_sessions(s, t),
        "daily_ratings": ratings.daily_ratings(session_ratings.lazy()),
    }
    collected = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    collected["tree_nodes"] = nodes
    collected["data_quality"] = quality.data_quality(
        sessions, coded_users, coded_trees, coded_nodes, session_ratings, step_ratings, as_of
    )
    return collected


def daily_sessions(sessions: pl.DataFrame, trees: pl.DataFrame) -> pl.DataFrame:
    """daily_sessions rows of a range of older sessions (history, read in chunks)."""
    id_enum = ids.id_type(sessions["tree_id"], sessions["user_id"], trees["tree_id"], trees["account_id"])
    coded = ids.encode(sessions, id_enum, ["tree_id", "user_id"])
    coded_trees = ids.encode(trees, id_enum, ["tree_id", "account_id"])
    return history.daily_sessions(coded.lazy(), coded_trees.lazy()).collect()
