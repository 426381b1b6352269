"""Dirty-input rules in one place: what the ETL saw and did, counted into data_quality.

Nothing here raises on dirty rows; every rule is a count over the rows this refresh read.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from etl.transform.common import OUTCOMES, completed
from etl.transform.steps import walk_nodes

RULES: dict[str, str] = {
    "decisions_null": "sessions (in the lookback) whose decisions is NULL: no visits, no drop-off",
    "decisions_not_array": "decisions that is not a JSON array: treated as having no elements",
    "decision_elements_ignored": "array elements that are not objects with a non-empty string node_id: not visits",
    "decision_nodes_not_in_tree": "visits of node ids absent from the tree: titled Unknown Step",
    "sessions_unknown_tree": "sessions whose tree does not exist: left out of team and top-flow figures",
    "sessions_unknown_user": "sessions whose user does not exist: left out of top engineers",
    "completed_before_started": "sessions with completed_at before started_at: negative duration kept, as the app did",
    "outcome_unknown": "sessions with an outcome outside resolved/escalated/workaround/unresolved: in no outcome count",
    "completed_without_outcome": "completed sessions with NULL outcome: in no outcome count",
    "sessions_in_future": "sessions started after as_of: inside every window (windows have no upper bound)",
    "users_without_name": "users with a NULL or empty name: shown as Unknown",
    "tree_structure_not_object": "trees whose tree_structure is not a JSON object: every node is Unknown Step",
    "tree_node_ids_repeated": "node ids repeated within a tree_structure: the last node walked gives the title",
    "step_ratings_unknown_node": "step ratings (in the lookback) of nodes absent from the tree: counted as the app did",
    "comments_whitespace_only": "ratings (in the lookback) whose comment is only whitespace: shown as non-empty",
}


RATING_RULES = ("comments_whitespace_only",)
STEP_RATING_RULES = ("step_ratings_unknown_node",)
"""Besides SESSION_RULES, the rules that count rows of the lookback's ratings and step
ratings: like those, each count is a sum over rows, so the rows that changed correct it."""

SESSION_RULES = (
    "decisions_null",
    "decisions_not_array",
    "decision_elements_ignored",
    "completed_before_started",
    "outcome_unknown",
    "completed_without_outcome",
    "sessions_in_future",
    "decision_nodes_not_in_tree",
    "sessions_unknown_tree",
    "sessions_unknown_user",
)


def data_quality(
    sessions: pl.DataFrame,
    users: pl.DataFrame,
    trees: pl.DataFrame,
    nodes: pl.DataFrame,
    ratings: pl.DataFrame,
    step_ratings: pl.DataFrame | None,
    as_of: datetime,
) -> pl.DataFrame:
    """One row per rule with the number of rows it applied to."""
    return quality_table(
        session_counts(sessions, users, trees, nodes, as_of), users, trees, nodes, ratings, step_ratings
    )


def session_counts(
    sessions: pl.DataFrame, users: pl.DataFrame, trees: pl.DataFrame, nodes: pl.DataFrame, as_of: datetime
) -> dict[str, int]:
    """The SESSION_RULES counts of these sessions."""
    s = sessions.lazy()
    node_keys = nodes.lazy().select("tree_id", "node_id")
    found = s.select(
        pl.col("decisions_type").is_null().sum().alias("decisions_null"),
        (pl.col("decisions_type").is_not_null() & (pl.col("decisions_type") != "array"))
        .sum()
        .alias("decisions_not_array"),
        (pl.col("decision_elements") - pl.col("node_ids").list.len())
        .fill_null(0)
        .sum()
        .alias("decision_elements_ignored"),
        (pl.col("duration_minutes") < 0).fill_null(False).sum().alias("completed_before_started"),
        (pl.col("outcome").is_not_null() & ~pl.col("outcome").is_in(OUTCOMES)).sum().alias("outcome_unknown"),
        (completed() & pl.col("outcome").is_null()).sum().alias("completed_without_outcome"),
        (pl.col("started_at") > as_of).sum().alias("sessions_in_future"),
    ).collect()
    counts = {name: int(found[name][0]) for name in found.columns}
    visits = s.select("tree_id", pl.col("node_ids").alias("node_id")).explode("node_id").drop_nulls("node_id")
    counts["decision_nodes_not_in_tree"] = _height(visits.join(node_keys, on=["tree_id", "node_id"], how="anti"))
    counts["sessions_unknown_tree"] = _height(s.join(trees.lazy(), on="tree_id", how="anti"))
    counts["sessions_unknown_user"] = _height(s.join(users.lazy(), on="user_id", how="anti"))
    return counts


def quality_table(
    session_rule_counts: dict[str, int],
    users: pl.DataFrame,
    trees: pl.DataFrame,
    nodes: pl.DataFrame,
    ratings: pl.DataFrame,
    step_ratings: pl.DataFrame | None,
) -> pl.DataFrame:
    """data_quality from the session counts and the other inputs of the refresh."""
    counts = dict(session_rule_counts)
    node_keys = nodes.lazy().select("tree_id", "node_id")
    counts["users_without_name"] = users["name"].null_count() + int((users["name"] == "").sum())
    walks = [walk_nodes(structure) for structure in trees["tree_structure"]]
    counts["tree_structure_not_object"] = sum(walk is None for walk in walks)
    counts["tree_node_ids_repeated"] = sum(
        len(walk) - len({node_id for node_id, _ in walk}) for walk in walks if walk is not None
    )
    counts["step_ratings_unknown_node"] = (
        0
        if step_ratings is None
        else _height(step_ratings.lazy().join(node_keys, on=["tree_id", "node_id"], how="anti"))
    )
    comment = pl.col("comment")
    counts["comments_whitespace_only"] = int(
        ratings.select(((comment != "") & (comment.str.strip_chars() == "")).fill_null(False).sum()).item()
    )
    return pl.DataFrame(
        {"check_name": list(RULES), "rows": [counts[name] for name in RULES], "rule": list(RULES.values())},
        schema={"check_name": pl.String, "rows": pl.Int64, "rule": pl.String},
    )


def _height(frame: pl.LazyFrame) -> int:
    return int(frame.select(pl.len()).collect().item())
