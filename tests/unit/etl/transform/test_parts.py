"""Tests of etl.transform.parts: every store table built from one small, dirty source."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import polars as pl
import pytest

from etl.transform import ids
from etl.transform.assembly import DayRange, WindowRatings, window_tables
from etl.transform.parts import Dimensions, Rollups, window_part
from jobs.plan import lookback_start, window_chunks
from tests.unit.etl.transform.frames import (
    AS_OF,
    RATINGS,
    SESSIONS,
    STEP_RATINGS,
    TREES,
    USERS,
    assert_rows,
    extracted,
    gathered,
    with_read_ids,
)

PERIODS = {"7d": 7, "30d": 30, "90d": 90}

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
    "daily_step_feedback": ["tree_id", "node_id", "day"],
    "fact_sessions": ["session_id"],
    "fact_ratings": ["rating_id"],
    "fact_step_ratings": ["step_rating_id"],
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
        [("u1", "a1", "Ann", True, True, False), ("u2", "a1", None, True, False, False)],
        schema=USERS,
        orient="row",
    )
    trees = pl.DataFrame(
        [("t1", "a1", "Flow", json.dumps({"id": "a", "children": [{"id": "b"}]})), ("t2", "a1", "Empty", "[]")],
        schema=TREES,
        orient="row",
    )
    ratings = with_read_ids(
        pl.DataFrame([("r1", "t1", 4, " ", T), ("r2", "t1", 2, None, T)], schema=RATINGS, orient="row")
    )
    step_ratings = with_read_ids(
        pl.DataFrame([("t1", "a", True, T), ("t1", "q", False, T)], schema=STEP_RATINGS, orient="row")
    )
    candidates = ratings.filter(pl.col("comment").is_not_null() & (pl.col("comment") != ""))
    built = window_tables(
        Dimensions.of(users, trees),
        AS_OF,
        PERIODS,
        rated=None,
        step_ratings=step_ratings if with_step_ratings else None,
        ranges=[DayRange(lookback_start(AS_OF), None, extracted(sessions))],
        window_ratings=lambda: WindowRatings(ratings, candidates),
    )
    return gathered(built)


@pytest.mark.parametrize(
    "with_step_ratings", [pytest.param(True, id="with-step-ratings"), pytest.param(False, id="without-step-ratings")]
)
def test_every_table_is_built_and_unique_on_its_grain(with_step_ratings: bool) -> None:
    built = build(with_step_ratings=with_step_ratings)
    assert sorted(built) == sorted(GRAINS)
    for name, keys in GRAINS.items():
        assert built[name].height > 0 or (name == "fact_step_ratings" and not with_step_ratings), name
        assert not built[name].select(keys).is_duplicated().any(), name


def test_a_window_built_range_by_range_equals_it_built_whole() -> None:
    # A refresh reads the lookback in ranges of whole days (jobs.plan.window_chunks),
    # builds each range's part, writes its per-day rows and combines the rest.
    since = lookback_start(AS_OF)
    rows = []
    for i in range(400):
        started = since + timedelta(hours=5.5 * i, microseconds=i)
        if i % 97 == 0:
            started = AS_OF + timedelta(days=i % 3, seconds=1)  # sessions after as_of
        outcome = ["resolved", "escalated", None, "solved", "unresolved", "workaround"][i % 6]
        duration = None if i % 5 == 0 else float(i % 37) - 2.0
        nodes = ["a", "b", "zz"][: i % 4]
        last = None if duration is not None or not nodes else nodes[-1]
        rows.append((f"t{i % 3}", f"u{i % 7}", started, duration, outcome, "array", len(nodes) + i % 2, nodes, last))
    sessions = extracted(pl.DataFrame(rows, schema=SESSIONS, orient="row"))
    users = pl.DataFrame(
        [(f"u{i}", f"a{i % 2}", f"User {i}", True, False, False) for i in range(6)], schema=USERS, orient="row"
    )
    trees = pl.DataFrame(
        [(f"t{i}", f"a{i % 2}", f"Flow {i}", json.dumps({"id": "a", "children": [{"id": "b"}]})) for i in range(2)],
        schema=TREES,
        orient="row",
    )
    ratings = with_read_ids(
        pl.DataFrame(
            [(f"r{i}", f"t{i % 3}", i % 5 + 1, None, since + timedelta(days=i)) for i in range(90)],
            schema=RATINGS,
            orient="row",
        )
    )
    periods = {"7d": 7, "30d": 30, "90d": 90}
    dims = Dimensions.of(users, trees)
    ranges = window_chunks(since, AS_OF)
    assert len(ranges) > 2 and ranges[-1][1] is None
    at = pl.col("started_at")
    coded = ids.sessions(sessions)  # the parts take sessions coded, as window_tables codes them
    parts = [
        window_part(coded.filter(at >= start, at < end if end else True), dims, AS_OF, periods) for start, end in ranges
    ]
    assert sum(p.rollups.sessions.height for p in parts) == sessions.height
    whole = window_part(coded, dims, AS_OF, periods)

    def same(left: pl.DataFrame, right: pl.DataFrame) -> None:
        assert_rows(left, right, sorted(right.columns), whole=True)

    same(pl.concat([p.time_series for p in parts]), whole.time_series)
    same(pl.concat([p.daily_sessions for p in parts]), whole.daily_sessions)
    same(pl.concat([p.fact_sessions for p in parts]), whole.fact_sessions)
    same(pl.concat([p.daily_step_feedback for p in parts]), whole.daily_step_feedback)
    assert whole.fact_sessions.height == sessions.height and whole.daily_step_feedback.height > 0
    combined = Rollups.combine([p.rollups for p in parts])
    assert combined.quality == whole.rollups.quality
    same(combined.sessions, whole.rollups.sessions)

    def assembled(ranges: list[DayRange]) -> dict[str, pl.DataFrame]:
        return gathered(
            window_tables(
                dims,
                AS_OF,
                periods,
                rated=None,
                step_ratings=None,
                ranges=ranges,
                window_ratings=lambda: WindowRatings(ratings, ratings.head(0)),
            )
        )

    by_range = assembled(
        [DayRange(start, end, sessions.filter(at >= start, at < end if end else True)) for start, end in ranges]
    )
    at_once = assembled([DayRange(since, None, sessions)])
    assert sorted(by_range) == sorted(at_once)
    for name, frame in by_range.items():
        same(frame, at_once[name])


def test_the_dimensions_hold_one_copy_each_with_categorical_ids() -> None:
    users = pl.DataFrame([("u1", "a1", "Ann", True, False, False)], schema=USERS, orient="row")
    trees = pl.DataFrame([("t1", "a1", "Flow", json.dumps({"id": "a"}))], schema=TREES, orient="row")
    dims = Dimensions.of(users, trees)
    assert [field.name for field in dataclasses.fields(Dimensions)] == ["users", "trees", "nodes"]
    coded = {"users": ["user_id", "account_id"], "trees": ["tree_id", "account_id"], "nodes": ["tree_id"]}
    for name, columns in coded.items():
        frame = getattr(dims, name)
        assert [column for column, dtype in frame.schema.items() if dtype == pl.Categorical] == columns, name
    # Their text is the extract's: the store gets it as it was read.
    assert dims.users.with_columns(pl.col(coded["users"]).cast(pl.String)).equals(users)
    assert dims.trees.with_columns(pl.col(coded["trees"]).cast(pl.String)).equals(trees)
