"""Tests of etl.transform.quality: each data_quality rule counted on input built for it.

Every case adds dirty rows to one clean source and expects exactly its own rule to fire.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from etl.transform.quality import RULES, data_quality
from etl.transform.steps import tree_nodes
from tests.unit.etl.transform.frames import AS_OF, RATINGS, SESSIONS, STEP_RATINGS, TREES, USERS, assert_rows

T = AS_OF - timedelta(hours=1)
CHECK_NAMES = [
    "decisions_null",
    "decisions_not_array",
    "decision_elements_ignored",
    "decision_nodes_not_in_tree",
    "sessions_unknown_tree",
    "sessions_unknown_user",
    "completed_before_started",
    "outcome_unknown",
    "completed_without_outcome",
    "sessions_in_future",
    "users_without_name",
    "tree_structure_not_object",
    "tree_node_ids_repeated",
    "step_ratings_unknown_node",
    "comments_whitespace_only",
]

# A clean source: one user, one tree (nodes a, b), one session visiting both, one rating
# with a comment, one step rating.
CLEAN: dict[str, list[tuple[Any, ...]]] = {
    "sessions": [("t1", "u1", T, 2.0, "resolved", "array", 2, ["a", "b"], None)],
    "users": [("u1", "a1", "Ann", True, False, False)],
    "trees": [("t1", "a1", "Flow", json.dumps({"id": "a", "title": "A", "children": [{"id": "b", "title": "B"}]}))],
    "ratings": [("r1", "t1", 5, "fine", T)],
    "step_ratings": [("t1", "a", True, T)],
}
SCHEMAS = {"sessions": SESSIONS, "users": USERS, "trees": TREES, "ratings": RATINGS, "step_ratings": STEP_RATINGS}


def session(**changes: Any) -> tuple[Any, ...]:
    """The clean session row with some columns changed."""
    row = dict(zip(SESSIONS, CLEAN["sessions"][0], strict=True))
    row.update(changes)
    return tuple(row.values())


def run(extra: dict[str, list[tuple[Any, ...]]], *, with_step_ratings: bool = True) -> pl.DataFrame:
    frames = {
        name: pl.DataFrame(CLEAN[name] + extra.get(name, []), schema=SCHEMAS[name], orient="row") for name in CLEAN
    }
    return data_quality(
        frames["sessions"],
        frames["users"],
        frames["trees"],
        tree_nodes(frames["trees"]),
        frames["ratings"],
        frames["step_ratings"] if with_step_ratings else None,
        AS_OF,
    )


def expected_frame(counts: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "check_name": CHECK_NAMES,
            "rows": [counts.get(name, 0) for name in CHECK_NAMES],
            "rule": [RULES[name] for name in CHECK_NAMES],
        },
        schema={"check_name": pl.String, "rows": pl.Int64, "rule": pl.String},
    )


def test_clean_source_whole_frame_counts_nothing() -> None:
    result = run({})
    assert result["check_name"].to_list() == CHECK_NAMES  # one row per rule, in RULES order
    assert_rows(result, expected_frame({}), by=["check_name"], whole=True)


CASES = [
    pytest.param(
        {"sessions": [session(decisions_type=None, decision_elements=None, node_ids=[])]},
        {"decisions_null": 1},
        id="decisions_null",
    ),
    pytest.param(
        {
            "sessions": [
                session(decisions_type="object", decision_elements=None, node_ids=[]),
                session(decisions_type="string", decision_elements=None, node_ids=[]),
            ]
        },
        {"decisions_not_array": 2},
        id="decisions_not_array",
    ),
    pytest.param(
        # [{"node_id": "a"}, 1, {}, {"node_id": ""}, {"node_id": 5}] and [null, "x", []]
        {"sessions": [session(decision_elements=5, node_ids=["a"]), session(decision_elements=3, node_ids=[])]},
        {"decision_elements_ignored": 7},
        id="decision_elements_ignored",
    ),
    pytest.param(
        {"sessions": [session(decision_elements=3, node_ids=["a", "zz", "zz"])]},
        {"decision_nodes_not_in_tree": 2},
        id="decision_nodes_not_in_tree",
    ),
    pytest.param(
        {"sessions": [session(tree_id="t9", decision_elements=0, node_ids=[])]},
        {"sessions_unknown_tree": 1},
        id="sessions_unknown_tree",
    ),
    pytest.param(
        {"sessions": [session(user_id="u9"), session(user_id="u8")]},
        {"sessions_unknown_user": 2},
        id="sessions_unknown_user",
    ),
    pytest.param(
        {"sessions": [session(duration_minutes=-0.5), session(duration_minutes=0.0)]},
        {"completed_before_started": 1},
        id="completed_before_started",
    ),
    pytest.param(
        {
            "sessions": [
                session(outcome="solved"),
                session(outcome="Resolved"),
                session(outcome="", duration_minutes=None),  # incomplete: still an unknown outcome
            ]
        },
        {"outcome_unknown": 3},
        id="outcome_unknown",
    ),
    pytest.param(
        {"sessions": [session(outcome=None), session(outcome=None, duration_minutes=None)]},
        {"completed_without_outcome": 1},
        id="completed_without_outcome",
    ),
    pytest.param(
        {"sessions": [session(started_at=AS_OF + timedelta(microseconds=1)), session(started_at=AS_OF)]},
        {"sessions_in_future": 1},
        id="sessions_in_future",
    ),
    pytest.param(
        {"users": [("u2", "a1", None, True, False, False), ("u3", "a1", "", True, False, False)]},
        {"users_without_name": 2},
        id="users_without_name",
    ),
    pytest.param(
        {"trees": [(f"t{i}", "a1", "Bad", text) for i, text in enumerate([None, "[]", '"x"', "5", "{"], start=2)]},
        {"tree_structure_not_object": 5},
        id="tree_structure_not_object",
    ),
    pytest.param(
        {
            "trees": [
                (
                    "t2",
                    "a1",
                    "Repeats",
                    json.dumps({"id": "x", "children": [{"id": "x"}, {"id": "y", "children": [{"id": "x"}]}]}),
                )
            ]
        },
        {"tree_node_ids_repeated": 2},
        id="tree_node_ids_repeated",
    ),
    pytest.param(
        {"step_ratings": [("t1", "zz", True, T), ("t9", "a", False, T)]},
        {"step_ratings_unknown_node": 2},
        id="step_ratings_unknown_node",
    ),
    pytest.param(
        {
            "ratings": [
                ("r2", "t1", 3, " ", T),
                ("r3", "t1", 3, "\t\n", T),
                ("r4", "t1", 3, "", T),
                ("r5", "t1", 3, None, T),
                ("r6", "t1", 3, " ok ", T),
            ]
        },
        {"comments_whitespace_only": 2},
        id="comments_whitespace_only",
    ),
]


@pytest.mark.parametrize(("extra", "counts"), CASES)
def test_each_rule_counts_the_rows_built_for_it(
    extra: dict[str, list[tuple[Any, ...]]], counts: dict[str, int]
) -> None:
    assert_rows(run(extra), expected_frame(counts), by=["check_name"], whole=True)


def test_every_rule_has_a_case() -> None:
    assert sorted(case.id for case in CASES) == sorted(CHECK_NAMES) == sorted(RULES)


def test_absent_step_ratings_table_counts_no_unknown_nodes() -> None:
    result = run({"step_ratings": [("t1", "zz", True, T)]}, with_step_ratings=False)
    assert_rows(result, expected_frame({}), by=["check_name"], whole=True)
