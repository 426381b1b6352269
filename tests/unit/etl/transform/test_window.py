"""Tests of etl.transform.window: summary, time series, top flows and top engineers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from etl.transform.window import window_summary, window_time_series, window_top_engineers, window_top_flows
from tests.unit.etl.transform.frames import AS_OF, HISTORY_SESSIONS, TREES, USERS, assert_rows

PERIODS = {"7d": 7, "30d": 30}
T = AS_OF - timedelta(hours=1)  # a start inside every window

TREE_FRAME = pl.LazyFrame(
    {
        "tree_id": ["t1", "t2", "t3"],
        "account_id": ["a1", "a1", "a2"],
        "name": ["Printer", "VPN", "Email"],
        "tree_structure": [None, None, None],
    },
    schema=TREES,
)
USER_FRAME = pl.LazyFrame(
    {
        "user_id": ["u1", "u2", "u3"],
        "account_id": ["a1", "a1", "a2"],
        "name": ["Zoe", None, "Al"],
        "is_active": [True, True, True],
        "is_team_admin": [False, False, False],
        "is_super_admin": [False, False, False],
    },
    schema=USERS,
)


def sessions(rows: list[tuple[str, str, datetime, float | None, str | None]]) -> pl.LazyFrame:
    """(tree_id, user_id, started_at, duration_minutes, outcome) rows of the window extract."""
    return pl.LazyFrame(rows, schema=HISTORY_SESSIONS, orient="row")


def summary_frame(rows: list[tuple[object, ...]], columns: list[str]) -> pl.DataFrame:
    dtypes = {
        "period": pl.String,
        "scope": pl.String,
        "scope_id": pl.String,
        "engineer_id": pl.String,
        "median_duration_minutes": pl.Float64,
        "completion_rate": pl.Float64,
        "day": pl.Date,
    }
    return pl.DataFrame(rows, schema={c: dtypes.get(c, pl.Int64) for c in columns}, orient="row")


SUMMARY_KEYS = ["period", "scope", "scope_id", "engineer_id"]
COUNTS = ["total_sessions", "completed_sessions", "active_engineers"]
OUTCOMES = ["resolved", "escalated", "workaround", "unresolved"]


# --- window boundary --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("started_at", "periods"),
    [
        pytest.param(AS_OF - timedelta(days=7), ["7d", "30d"], id="exactly-as_of-minus-7d-is-in"),
        pytest.param(AS_OF - timedelta(days=7, microseconds=1), ["30d"], id="one-microsecond-earlier-is-out"),
        pytest.param(AS_OF - timedelta(days=30), ["30d"], id="exactly-as_of-minus-30d-is-in"),
        pytest.param(AS_OF - timedelta(days=30, microseconds=1), [], id="older-than-every-window"),
        pytest.param(AS_OF, ["7d", "30d"], id="at-as_of"),
        pytest.param(AS_OF + timedelta(hours=2), ["7d", "30d"], id="future-counts-no-upper-bound"),
    ],
)
def test_window_boundary(started_at: datetime, periods: list[str]) -> None:
    frame = sessions([("t1", "u1", started_at, 1.0, "resolved")])
    expected = summary_frame([(p, "tree", "t1", "", 1) for p in periods], [*SUMMARY_KEYS, "total_sessions"])
    summary = window_summary(frame, TREE_FRAME, AS_OF, PERIODS).filter(pl.col("scope") == "tree")
    assert_rows(summary, expected, by=SUMMARY_KEYS)


# --- summary ----------------------------------------------------------------------------


def test_summary_whole_frame() -> None:
    frame = sessions(
        [
            ("t1", "u1", T, 4.0, "resolved"),
            ("t1", "u2", T, 1.0, "escalated"),
            ("t1", "u2", T, None, "unresolved"),
        ]
    )
    columns = [
        "scope_id",
        "engineer_id",
        *COUNTS,
        *OUTCOMES,
        "median_duration_minutes",
        "completion_rate",
        "period",
        "scope",
    ]
    two_thirds = 2 / 3
    rows = [
        ("a1", "", 3, 2, 2, 1, 1, 0, 0, 2.5, two_thirds, "7d", "account"),
        ("a1", "u1", 1, 1, 1, 1, 0, 0, 0, 4.0, 1.0, "7d", "account_engineer"),
        ("a1", "u2", 2, 1, 1, 0, 1, 0, 0, 1.0, 0.5, "7d", "account_engineer"),
        ("u1", "", 1, 1, 1, 1, 0, 0, 0, 4.0, 1.0, "7d", "user"),
        ("u2", "", 2, 1, 1, 0, 1, 0, 0, 1.0, 0.5, "7d", "user"),
        ("t1", "", 3, 2, 2, 1, 1, 0, 0, 2.5, two_thirds, "7d", "tree"),
    ]
    expected = summary_frame(rows, columns)
    assert_rows(window_summary(frame, TREE_FRAME, AS_OF, {"7d": 7}), expected, by=SUMMARY_KEYS, whole=True)


def test_account_scope_drops_sessions_of_unknown_trees_user_and_tree_scopes_keep_them() -> None:
    frame = sessions([("t1", "u1", T, 1.0, "resolved"), ("t9", "u1", T, 3.0, "resolved")])
    expected = summary_frame(
        [
            ("7d", "account", "a1", "", 1),
            ("7d", "account_engineer", "a1", "u1", 1),
            ("7d", "user", "u1", "", 2),
            ("7d", "tree", "t1", "", 1),
            ("7d", "tree", "t9", "", 1),
        ],
        [*SUMMARY_KEYS, "total_sessions"],
    )
    assert_rows(window_summary(frame, TREE_FRAME, AS_OF, {"7d": 7}), expected, by=SUMMARY_KEYS)


def test_account_engineer_narrows_the_account_to_one_user() -> None:
    frame = sessions(
        [
            ("t1", "u1", T, 1.0, "resolved"),
            ("t2", "u1", T, None, None),
            ("t2", "u2", T, 2.0, "escalated"),
            ("t3", "u1", T, 5.0, "workaround"),  # another account's tree
        ]
    )
    expected = summary_frame(
        [
            ("7d", "account", "a1", "", 3, 2, 2, 1, 1, 0, 0),
            ("7d", "account", "a2", "", 1, 1, 1, 0, 0, 1, 0),
            ("7d", "account_engineer", "a1", "u1", 2, 1, 1, 1, 0, 0, 0),
            ("7d", "account_engineer", "a1", "u2", 1, 1, 1, 0, 1, 0, 0),
            ("7d", "account_engineer", "a2", "u1", 1, 1, 1, 0, 0, 1, 0),
        ],
        [*SUMMARY_KEYS, *COUNTS, *OUTCOMES],
    )
    summary = window_summary(frame, TREE_FRAME, AS_OF, {"7d": 7}).filter(pl.col("scope").str.starts_with("account"))
    assert_rows(summary, expected, by=SUMMARY_KEYS)


def test_user_scope_has_one_active_engineer_whatever_the_tree() -> None:
    frame = sessions([("t1", "u1", T, 1.0, None), ("t3", "u1", T, 2.0, None), ("t9", "u1", T, None, None)])
    expected = summary_frame([("7d", "user", "u1", "", 3, 2, 1)], [*SUMMARY_KEYS, *COUNTS])
    summary = window_summary(frame, TREE_FRAME, AS_OF, {"7d": 7}).filter(pl.col("scope") == "user")
    assert_rows(summary, expected, by=SUMMARY_KEYS)


def test_median_is_null_and_completion_zero_without_completed_sessions() -> None:
    frame = sessions([("t1", "u1", T, None, "resolved"), ("t1", "u1", T, None, None)])
    expected = summary_frame(
        [("7d", "tree", "t1", "", 2, 0, 0, None, 0.0)],
        [
            *SUMMARY_KEYS,
            "total_sessions",
            "completed_sessions",
            "resolved",
            "median_duration_minutes",
            "completion_rate",
        ],
    )
    summary = window_summary(frame, TREE_FRAME, AS_OF, {"7d": 7}).filter(pl.col("scope") == "tree")
    assert_rows(summary, expected, by=SUMMARY_KEYS)


# --- outcomes: summary among completed, time series over all ----------------------------

OUTCOME_SESSIONS = [
    ("t1", "u1", T, 1.0, "resolved"),
    ("t1", "u1", T, None, "resolved"),  # not completed
    ("t1", "u1", T, 2.0, "escalated"),
    ("t1", "u1", T, None, "workaround"),  # not completed
    ("t1", "u1", T, 3.0, "solved"),  # unknown outcome
    ("t1", "u1", T, 4.0, None),  # completed without outcome
    ("t1", "u1", T, None, None),
]


def test_summary_outcome_breakdown_counts_only_completed_known_outcomes() -> None:
    expected = summary_frame(
        [("7d", "tree", "t1", "", 7, 4, 1, 1, 0, 0)],
        [*SUMMARY_KEYS, "total_sessions", "completed_sessions", *OUTCOMES],
    )
    summary = window_summary(sessions(OUTCOME_SESSIONS), TREE_FRAME, AS_OF, {"7d": 7})
    assert_rows(summary.filter(pl.col("scope") == "tree"), expected, by=SUMMARY_KEYS)


def test_time_series_outcomes_count_all_sessions_of_the_day() -> None:
    expected = summary_frame(
        [("7d", "tree", "t1", "", T.date(), 7, 2, 1, 1, 0)],
        [*SUMMARY_KEYS, "day", "sessions", *OUTCOMES],
    )
    series = window_time_series(sessions(OUTCOME_SESSIONS), TREE_FRAME, AS_OF, {"7d": 7})
    assert_rows(series.filter(pl.col("scope") == "tree"), expected, by=SUMMARY_KEYS)


# --- time series ------------------------------------------------------------------------


def test_time_series_whole_frame_one_row_per_utc_day_with_sessions() -> None:
    day1 = datetime(2026, 11, 17, 23, 59, 59, 999999, tzinfo=AS_OF.tzinfo)
    day2 = datetime(2026, 11, 18, 0, 0, tzinfo=AS_OF.tzinfo)
    day4 = datetime(2026, 11, 20, 1, 0, tzinfo=AS_OF.tzinfo)  # 2026-11-19: no row, not zero-filled
    frame = sessions(
        [
            ("t1", "u1", day1, 1.0, "resolved"),
            ("t1", "u1", day2, None, "unresolved"),
            ("t1", "u1", day4, 2.0, "resolved"),
            ("t1", "u1", day4, 3.0, "workaround"),
        ]
    )
    columns = ["scope_id", "engineer_id", "day", "sessions", *OUTCOMES, "period", "scope"]
    rows = []
    for scope, scope_id, engineer_id in [
        ("account", "a1", ""),
        ("account_engineer", "a1", "u1"),
        ("user", "u1", ""),
        ("tree", "t1", ""),
    ]:
        rows += [
            (scope_id, engineer_id, date(2026, 11, 17), 1, 1, 0, 0, 0, "7d", scope),
            (scope_id, engineer_id, date(2026, 11, 18), 1, 0, 0, 0, 1, "7d", scope),
            (scope_id, engineer_id, date(2026, 11, 20), 2, 1, 0, 1, 0, "7d", scope),
        ]
    expected = summary_frame(rows, columns)
    series = window_time_series(frame, TREE_FRAME, AS_OF, {"7d": 7})
    assert_rows(series, expected, by=[*SUMMARY_KEYS, "day"], whole=True)


# --- top flows --------------------------------------------------------------------------

FLOW_KEYS = ["period", "scope", "scope_id", "rank"]


def test_top_flows_whole_frame() -> None:
    frame = sessions(
        [
            ("t1", "u1", T, 1.0, None),
            ("t1", "u1", T, None, None),
            ("t1", "u1", T, 5.0, None),
            ("t2", "u2", T, None, None),
        ]
    )
    expected = pl.DataFrame(
        [
            ("a1", "t1", 3, 2, 3.0, 2 / 3, "Printer", 1, "7d", "account"),
            ("a1", "t2", 1, 0, None, 0.0, "VPN", 2, "7d", "account"),
            ("u1", "t1", 3, 2, 3.0, 2 / 3, "Printer", 1, "7d", "user"),
            ("u2", "t2", 1, 0, None, 0.0, "VPN", 1, "7d", "user"),
        ],
        schema={
            "scope_id": pl.String,
            "tree_id": pl.String,
            "sessions": pl.Int64,
            "completed_sessions": pl.Int64,
            "median_duration_minutes": pl.Float64,
            "completion_rate": pl.Float64,
            "tree_name": pl.String,
            "rank": pl.Int32,
            "period": pl.String,
            "scope": pl.String,
        },
        orient="row",
    )
    assert_rows(window_top_flows(frame, TREE_FRAME, AS_OF, {"7d": 7}), expected, by=FLOW_KEYS, whole=True)


def test_top_flows_drop_sessions_of_unknown_trees_in_every_scope() -> None:
    frame = sessions([("t9", "u1", T, 1.0, None), ("t9", "u1", T, 1.0, None), ("t1", "u1", T, 1.0, None)])
    expected = pl.DataFrame(
        [("7d", "account", "a1", 1, "t1", 1), ("7d", "user", "u1", 1, "t1", 1)],
        schema={
            "period": pl.String,
            "scope": pl.String,
            "scope_id": pl.String,
            "rank": pl.Int32,
            "tree_id": pl.String,
            "sessions": pl.Int64,
        },
        orient="row",
    )
    assert_rows(window_top_flows(frame, TREE_FRAME, AS_OF, {"7d": 7}), expected, by=FLOW_KEYS)


def test_top_flows_keep_exactly_ten_with_a_deterministic_tie_break() -> None:
    # Twelve flows of one account, one session each except 'busy' (two). Ties go by name in
    # code-point order ('B' < 'a' < 'É'), then by tree id; the last two in that order drop.
    names = ["n05", "n01", "É", "a", "B", "n03", "n02", "n04", "a", "n06", "n07"]
    tree_ids = ["t05", "t01", "t99", "t12", "t20", "t03", "t02", "t04", "t11", "t06", "t07"]
    trees = pl.LazyFrame(
        {
            "tree_id": ["busy", *tree_ids],
            "account_id": ["a1"] * 12,
            "name": ["zzz", *names],
            "tree_structure": [None] * 12,
        },
        schema=TREES,
    )
    frame = sessions([("busy", "u1", T, None, None)] * 2 + [(t, "u1", T, None, None) for t in reversed(tree_ids)])
    ranked_ids = ["busy", "t20", "t11", "t12", "t01", "t02", "t03", "t04", "t05", "t06"]  # t07 and t99 drop
    expected = pl.DataFrame(
        {"rank": list(range(1, 11)), "tree_id": ranked_ids},
        schema={"rank": pl.Int32, "tree_id": pl.String},
    )
    top = window_top_flows(frame, trees, AS_OF, {"7d": 7}).filter(pl.col("scope") == "account")
    assert_rows(top, expected, by=["rank"])


# --- top engineers ----------------------------------------------------------------------

ENGINEER_KEYS = ["period", "scope_id", "rank"]


def top_engineers_7d(frame: pl.LazyFrame, users: pl.LazyFrame = USER_FRAME) -> pl.LazyFrame:
    return window_top_engineers(frame, TREE_FRAME, users, AS_OF, {"7d": 7})


def test_top_engineers_whole_frame_null_name_is_unknown() -> None:
    frame = sessions([("t1", "u1", T, 2.0, None), ("t1", "u2", T, None, None), ("t1", "u2", T, 6.0, None)])
    expected = pl.DataFrame(
        [
            ("a1", "u2", 2, 1, 6.0, 0.5, "Unknown", 1, "7d", "account"),
            ("a1", "u1", 1, 1, 2.0, 1.0, "Zoe", 2, "7d", "account"),
        ],
        schema={
            "scope_id": pl.String,
            "user_id": pl.String,
            "sessions": pl.Int64,
            "completed_sessions": pl.Int64,
            "median_duration_minutes": pl.Float64,
            "completion_rate": pl.Float64,
            "name": pl.String,
            "rank": pl.Int32,
            "period": pl.String,
            "scope": pl.String,
        },
        orient="row",
    )
    assert_rows(top_engineers_7d(frame), expected, by=ENGINEER_KEYS, whole=True)


def test_top_engineers_drop_unknown_users_and_unknown_trees() -> None:
    frame = sessions(
        [
            ("t1", "u9", T, 1.0, None),  # deleted user
            ("t1", "u9", T, 1.0, None),
            ("t9", "u1", T, 1.0, None),  # deleted tree: in no account
            ("t1", "u1", T, 1.0, None),
        ]
    )
    expected = pl.DataFrame(
        [("7d", "a1", 1, "u1", 1)],
        schema={
            "period": pl.String,
            "scope_id": pl.String,
            "rank": pl.Int32,
            "user_id": pl.String,
            "sessions": pl.Int64,
        },
        orient="row",
    )
    assert_rows(top_engineers_7d(frame), expected, by=ENGINEER_KEYS)


def test_top_engineers_order_a_null_name_as_unknown() -> None:
    # 'Al' < 'Unknown' < 'Zoe' < 'al': a NULL sorted first or last would land elsewhere.
    users = pl.LazyFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "u5"],
            "account_id": ["a1"] * 5,
            "name": ["Zoe", None, "Al", "Unknown", "al"],
            "is_active": [True] * 5,
            "is_team_admin": [False] * 5,
            "is_super_admin": [False] * 5,
        },
        schema=USERS,
    )
    frame = sessions([("t1", u, T, None, None) for u in ["u5", "u4", "u3", "u2", "u1"]])
    expected = pl.DataFrame(
        {
            "rank": [1, 2, 3, 4, 5],
            "user_id": ["u3", "u2", "u4", "u1", "u5"],
            "name": ["Al", "Unknown", "Unknown", "Zoe", "al"],
        },
        schema={"rank": pl.Int32, "user_id": pl.String, "name": pl.String},
    )
    assert_rows(top_engineers_7d(frame, users), expected, by=["rank"])


def test_time_series_of_a_narrower_window_equals_counting_it_alone() -> None:
    # The narrower windows reuse the widest's rows after their first day; their first,
    # partial day is counted apart. Sessions sit on both sides of each window's start,
    # on its first day and on the days around it.
    edges = []
    for days in (7, 30):
        start = AS_OF - timedelta(days=days)
        edges += [start - timedelta(microseconds=1), start, start + timedelta(microseconds=1)]
        edges += [start - timedelta(days=1), start + timedelta(days=1), start.replace(hour=0, minute=0)]
        edges += [start.replace(hour=23, minute=59, second=59, microsecond=999999)]
    outcomes = [*OUTCOMES, None]
    rows = [
        (f"t{1 + i % 3}", f"u{1 + i % 2}", at, None if i % 4 == 0 else float(i), outcomes[i % 5])
        for i, at in enumerate(edges * 2)
    ]
    together = window_time_series(sessions(rows), TREE_FRAME, AS_OF, {"7d": 7, "30d": 30}).collect()
    for period, days in (("7d", 7), ("30d", 30)):
        alone = window_time_series(sessions(rows), TREE_FRAME, AS_OF, {period: days}).collect()
        assert alone.height > 0
        assert_rows(together.filter(pl.col("period") == period), alone, by=[*SUMMARY_KEYS, "day"], whole=True)
