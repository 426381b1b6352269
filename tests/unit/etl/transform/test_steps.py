"""Tests of etl.transform.steps: node titles from tree_structure, per-node step feedback.

Row order of window_step_feedback is not part of its contract (the API sorts by
dropoff_rate desc, node_id asc): results are compared sorted by their key.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest

from etl.transform.steps import node_titles, step_counts, tree_nodes, walk_nodes, window_step_feedback
from tests.unit.etl.transform.frames import AS_OF, NODES, SESSIONS, STEP_RATINGS, TREES, assert_rows

# --- walk_nodes / node_titles -----------------------------------------------------------


@pytest.mark.parametrize(
    ("structure", "titles"),
    [
        pytest.param({"id": "a", "title": "T", "question": "Q"}, {"a": "T"}, id="title-first"),
        pytest.param({"id": "a", "question": "Q"}, {"a": "Q"}, id="question-without-title"),
        pytest.param({"id": "a", "title": "", "question": "Q"}, {"a": "Q"}, id="empty-title-is-missing"),
        pytest.param({"id": "a", "title": "", "question": ""}, {"a": "Unnamed"}, id="empty-both-is-unnamed"),
        pytest.param({"id": "a"}, {"a": "Unnamed"}, id="neither-is-unnamed"),
        pytest.param({"id": "a", "title": None, "question": 5}, {"a": "Unnamed"}, id="non-string-titles-missing"),
        pytest.param({"id": "a", "title": " "}, {"a": " "}, id="whitespace-title-is-not-empty"),
        pytest.param(
            {
                "id": 7,
                "title": "x",
                "children": [{"id": None, "children": [{"id": "b", "title": "B"}]}, {"title": "y"}],
            },
            {"b": "B"},
            id="non-string-ids-skipped-children-walked",
        ),
        pytest.param(
            {
                "id": "a",
                "title": "root",
                "children": [{"id": "b", "children": [{"id": "a", "title": "deep"}]}, {"id": "a", "title": "last"}],
            },
            {"a": "last", "b": "Unnamed"},
            id="repeated-id-last-walked-depth-first-wins",
        ),
        pytest.param({"id": "a", "children": {"id": "b"}}, {"a": "Unnamed"}, id="children-object-not-list"),
        pytest.param({"id": "a", "children": "b"}, {"a": "Unnamed"}, id="children-string-not-list"),
        pytest.param({"id": "a", "children": 5}, {"a": "Unnamed"}, id="children-number-not-list"),
        pytest.param(
            {"id": "a", "children": [1, None, "x", True, [{"id": "z"}], {"id": "b", "question": "Q"}]},
            {"a": "Unnamed", "b": "Q"},
            id="non-object-children-skipped",
        ),
    ],
)
def test_node_titles(structure: Any, titles: dict[str, str]) -> None:
    assert node_titles(json.dumps(structure)) == titles


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(None, id="sql-null"),
        pytest.param("null", id="json-null"),
        pytest.param('[{"id": "a"}]', id="array"),
        pytest.param('"a"', id="string"),
        pytest.param("5", id="number"),
        pytest.param("{", id="invalid-json"),
        pytest.param("", id="empty-text"),
    ],
)
def test_root_that_is_not_an_object_has_no_nodes(text: str | None) -> None:
    assert walk_nodes(text) is None
    assert node_titles(text) == {}


def test_walk_nodes_is_depth_first_pre_order() -> None:
    structure = {
        "id": "r",
        "children": [{"id": "a", "children": [{"id": "a1"}, {"id": "a2"}]}, {"id": "b", "children": [{"id": "b1"}]}],
    }
    assert [node_id for node_id, _ in walk_nodes(json.dumps(structure)) or []] == ["r", "a", "a1", "a2", "b", "b1"]


def test_deeply_nested_tree_is_walked_without_recursion_error() -> None:
    depth = 5000
    text = "".join(f'{{"id": "n{i}", "children": [' for i in range(depth)) + "]}" * depth
    walked = walk_nodes(text)
    assert walked is not None
    assert len(walked) == depth
    assert walked[-1] == (f"n{depth - 1}", "Unnamed")


def test_tree_nodes_one_row_per_tree_and_node() -> None:
    trees = pl.DataFrame(
        {
            "tree_id": ["t1", "t2", "t3"],
            "account_id": ["a1", "a1", "a1"],
            "name": ["One", "Two", "Three"],
            "tree_structure": [
                json.dumps(
                    {"id": "a", "title": "A", "children": [{"id": "b", "question": "B?"}, {"id": "a", "title": "A2"}]}
                ),
                json.dumps({"id": "a", "title": "Other tree"}),
                "[]",
            ],
        },
        schema=TREES,
    )
    expected = pl.DataFrame(
        {"tree_id": ["t1", "t1", "t2"], "node_id": ["a", "b", "a"], "node_title": ["A2", "B?", "Other tree"]},
        schema=NODES,
    )
    assert_rows(tree_nodes(trees), expected, by=["tree_id", "node_id"], whole=True)


# --- window_step_feedback ---------------------------------------------------------------

STEP_SESSIONS = {
    name: SESSIONS[name] for name in ("tree_id", "started_at", "duration_minutes", "node_ids", "last_node_id")
}
T = AS_OF - timedelta(hours=1)
NODE_FRAME = pl.LazyFrame(
    {"tree_id": ["t1", "t1", "t1"], "node_id": ["a", "b", "c"], "node_title": ["Start", "Check", "Done"]},
    schema=NODES,
)
FEEDBACK_KEYS = ["period", "tree_id", "node_id"]
FEEDBACK_SCHEMA = {
    "tree_id": pl.String,
    "node_id": pl.String,
    "visits": pl.Int64,
    "dropoffs": pl.Int64,
    "helpful_yes": pl.Int64,
    "helpful_no": pl.Int64,
    "node_title": pl.String,
    "period": pl.String,
    "dropoff_rate": pl.Float64,
    "helpful_rate": pl.Float64,
}


def step_sessions(rows: list[tuple[str, datetime, float | None, list[str], str | None]]) -> pl.LazyFrame:
    """(tree_id, started_at, duration_minutes, node_ids, last_node_id) rows of the window extract."""
    return pl.LazyFrame(rows, schema=STEP_SESSIONS, orient="row")


def step_ratings(rows: list[tuple[str, str, bool, datetime]]) -> pl.LazyFrame:
    return pl.LazyFrame(rows, schema=STEP_RATINGS, orient="row")


def feedback(rows: list[tuple[Any, ...]], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={c: FEEDBACK_SCHEMA[c] for c in columns}, orient="row")


SESSION_ROWS = [
    ("t1", T, 3.0, ["a", "b", "a"], None),  # completed: visits only
    ("t1", T, None, ["a", "b"], "b"),  # drops off at b
    ("t1", AS_OF - timedelta(days=7), None, ["a"], None),  # raw last element was no visit
    ("t1", T, None, [], None),  # decisions NULL or []: nothing
    ("t1", AS_OF - timedelta(days=10), None, ["c"], "c"),  # in 30d only
    ("t1", T, None, ["x"], "x"),  # node not in the tree
    ("t2", T, 1.0, ["a"], None),  # same node id, another tree without nodes
]
RATING_ROWS = [
    ("t1", "a", True, T),
    ("t1", "a", False, T),
    ("t1", "a", True, AS_OF - timedelta(days=8)),  # 30d only
    ("t1", "b", False, AS_OF - timedelta(days=7)),  # exactly on the 7d edge: in
    ("t1", "b", True, AS_OF - timedelta(days=7, microseconds=1)),  # just before it: 30d only
    ("t1", "c", True, T),  # c is visited in 30d only
    ("t2", "b", True, T),  # b is never visited in t2
    ("t3", "a", True, T),  # a tree without sessions
]


@pytest.mark.parametrize("reverse", [pytest.param(False, id="as-given"), pytest.param(True, id="rows-reversed")])
def test_step_feedback_whole_frame(reverse: bool) -> None:
    order = reversed if reverse else list
    sessions = step_sessions(list(order(SESSION_ROWS)))
    ratings = step_ratings(list(order(RATING_ROWS)))
    expected = feedback(
        [
            ("t1", "a", 4, 0, 1, 1, "Start", "7d", 0.0, 0.5),
            ("t1", "b", 2, 1, 0, 1, "Check", "7d", 0.5, 0.0),
            ("t1", "x", 1, 1, 0, 0, "Unknown Step", "7d", 1.0, 0.0),
            ("t2", "a", 1, 0, 0, 0, "Unknown Step", "7d", 0.0, 0.0),
            ("t1", "a", 4, 0, 2, 1, "Start", "30d", 0.0, 2 / 3),
            ("t1", "b", 2, 1, 1, 1, "Check", "30d", 0.5, 0.5),
            ("t1", "c", 1, 1, 1, 0, "Done", "30d", 1.0, 1.0),
            ("t1", "x", 1, 1, 0, 0, "Unknown Step", "30d", 1.0, 0.0),
            ("t2", "a", 1, 0, 0, 0, "Unknown Step", "30d", 0.0, 0.0),
        ],
        list(FEEDBACK_SCHEMA),
    )
    result = window_step_feedback(
        step_counts(sessions, AS_OF, {"7d": 7, "30d": 30}), ratings, NODE_FRAME, AS_OF, {"7d": 7, "30d": 30}
    )
    assert_rows(result, expected, by=FEEDBACK_KEYS, whole=True)


@pytest.mark.parametrize(
    ("duration", "node_ids", "last_node_id", "rows"),
    [
        pytest.param(None, ["a", "b"], "b", [("a", 1, 0, 0.0), ("b", 1, 1, 1.0)], id="incomplete-drops-at-last"),
        pytest.param(None, ["b", "a", "b"], "b", [("a", 1, 0, 0.0), ("b", 2, 1, 0.5)], id="repeats-are-visits"),
        pytest.param(None, ["a", "b"], None, [("a", 1, 0, 0.0), ("b", 1, 0, 0.0)], id="raw-last-not-a-visit"),
        pytest.param(2.0, ["a", "b"], None, [("a", 1, 0, 0.0), ("b", 1, 0, 0.0)], id="completed-no-dropoff"),
        pytest.param(2.0, ["a", "b"], "b", [("a", 1, 0, 0.0), ("b", 1, 0, 0.0)], id="completed-ignores-last-node"),
        pytest.param(-2.0, ["a"], None, [("a", 1, 0, 0.0)], id="negative-duration-is-completed"),
        pytest.param(None, [], None, [], id="no-elements-no-rows"),
    ],
)
def test_visits_and_dropoffs(
    duration: float | None, node_ids: list[str], last_node_id: str | None, rows: list[tuple[Any, ...]]
) -> None:
    sessions = step_sessions([("t1", T, duration, node_ids, last_node_id)])
    expected = feedback(rows, ["node_id", "visits", "dropoffs", "dropoff_rate"])
    result = window_step_feedback(step_counts(sessions, AS_OF, {"7d": 7}), None, NODE_FRAME, AS_OF, {"7d": 7})
    assert_rows(result, expected, by=["node_id"])


def test_without_step_ratings_helpfulness_is_zero() -> None:
    sessions = step_sessions([("t1", T, None, ["a", "b"], "b")])
    expected = feedback(
        [("t1", "a", 0, 0, 0.0), ("t1", "b", 0, 0, 0.0)],
        ["tree_id", "node_id", "helpful_yes", "helpful_no", "helpful_rate"],
    )
    result = window_step_feedback(step_counts(sessions, AS_OF, {"7d": 7}), None, NODE_FRAME, AS_OF, {"7d": 7})
    assert_rows(result, expected, by=["tree_id", "node_id"])


def test_helpful_counts_only_ratings_in_the_window_of_visited_nodes_of_the_tree() -> None:
    sessions = step_sessions([("t1", T, 1.0, ["a"], None)])
    ratings = step_ratings(
        [
            ("t1", "a", True, AS_OF + timedelta(days=1)),  # future: in (no upper bound)
            ("t1", "a", False, AS_OF - timedelta(days=7)),
            ("t1", "a", False, AS_OF - timedelta(days=7, microseconds=1)),  # out
            ("t2", "a", False, T),  # another tree
            ("t1", "b", True, T),  # not visited: no row
        ]
    )
    expected = feedback([("t1", "a", 1, 1, 0.5)], ["tree_id", "node_id", "helpful_yes", "helpful_no", "helpful_rate"])
    result = window_step_feedback(step_counts(sessions, AS_OF, {"7d": 7}), ratings, NODE_FRAME, AS_OF, {"7d": 7})
    assert_rows(result, expected, by=["tree_id", "node_id"])


def test_sessions_before_the_window_are_not_visits() -> None:
    sessions = step_sessions(
        [("t1", AS_OF - timedelta(days=7, microseconds=1), None, ["a"], "a"), ("t1", T, None, ["b"], "b")]
    )
    expected = feedback([("t1", "b", 1, 1)], ["tree_id", "node_id", "visits", "dropoffs"])
    result = window_step_feedback(step_counts(sessions, AS_OF, {"7d": 7}), None, NODE_FRAME, AS_OF, {"7d": 7})
    assert_rows(result, expected, by=["tree_id", "node_id"])
