"""Tests of etl.transform.tables: every store table built from one small, dirty source."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest

from etl.transform.tables import all_window_tables
from tests.unit.frames import AS_OF, RATINGS, SESSIONS, STEP_RATINGS, TREES, USERS

T = AS_OF - timedelta(hours=1)
GRAINS = {
    "users": ["user_id"],
    "trees": ["tree_id"],
    "tree_nodes": ["tree_id", "node_id"],
    "window_summary": ["period", "scope", "scope_id", "engineer_id"],
    "window_time_series": ["period", "scope", "scope_id", "engineer_id", "day"],
    "window_top_flows": ["period", "scope", "scope_id", "rank"],
    "window_top_engineers": ["period", "scope_id", "rank"],
    "window_step_feedback": ["period", "tree_id", "node_id"],
    "window_ratings": ["period", "tree_id"],
    "recent_comments": ["tree_id", "rank"],
    "daily_sessions": ["scope", "scope_id", "day"],
    "daily_ratings": ["tree_id", "day"],
    "data_quality": ["check_name"],
}


def build(*, with_step_ratings: bool) -> dict[str, pl.DataFrame]:
    sessions = pl.DataFrame(
        [
            ("t1", "u1", T, 2.0, "resolved", "array", 3, ["a", "b"], None),
            ("t1", "u2", T, None, None, "array", 2, ["a", "zz"], "zz"),
            ("t9", "u9", AS_OF + timedelta(hours=1), -1.0, "solved", "object", None, [], None),
            ("t1", "u1", AS_OF - timedelta(days=40), None, "escalated", None, None, [], None),
        ],
        schema=SESSIONS,
        orient="row",
    )
    users = pl.DataFrame(
        [("u1", "a1", "Ann", "ann@x", True, True, False), ("u2", "a1", None, "n@x", True, False, False)],
        schema=USERS,
        orient="row",
    )
    trees = pl.DataFrame(
        [("t1", "a1", "Flow", json.dumps({"id": "a", "children": [{"id": "b"}]})), ("t2", "a1", "Empty", "[]")],
        schema=TREES,
        orient="row",
    )
    ratings = pl.DataFrame([("r1", "t1", 4, " ", T), ("r2", "t1", 2, None, T)], schema=RATINGS, orient="row")
    step_ratings = pl.DataFrame([("t1", "a", True, T), ("t1", "q", False, T)], schema=STEP_RATINGS, orient="row")
    return all_window_tables(
        sessions=sessions,
        users=users,
        trees=trees,
        session_ratings=ratings,
        comment_candidates=ratings.filter(pl.col("comment").is_not_null() & (pl.col("comment") != "")),
        step_ratings=step_ratings if with_step_ratings else None,
        as_of=AS_OF,
        periods={"7d": 7, "30d": 30, "90d": 90},
    )


@pytest.mark.parametrize(
    "with_step_ratings", [pytest.param(True, id="with-step-ratings"), pytest.param(False, id="without-step-ratings")]
)
def test_every_table_is_built_and_unique_on_its_grain(with_step_ratings: bool) -> None:
    built = build(with_step_ratings=with_step_ratings)
    assert sorted(built) == sorted(GRAINS)
    for name, keys in GRAINS.items():
        assert built[name].height > 0, name
        assert not built[name].select(keys).is_duplicated().any(), name
