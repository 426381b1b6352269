"""The oracle (tests/reference/live_sql.py, the app's endpoint transcribed) against bodies worked out by hand.

Each test seeds a few rows, dirty ones included, into a fresh PostgreSQL and compares a
fully written expected body, key for key as the app sends it. The expected values come
from reading the app's endpoint by hand, never from the oracle itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from etl import database
from synthetic import SOURCE_SCHEMA
from tests.bodies import day, listed, step, summary
from tests.reference import live_sql

SCHEMA = SOURCE_SCHEMA
ACCOUNT_A = "aaaaaaaa-0000-0000-0000-000000000001"
ACCOUNT_B = "bbbbbbbb-0000-0000-0000-000000000002"
NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)  # 7d window starts 2024-03-08 12:00, 30d 2024-02-14 12:00

Conn = psycopg.Connection[Any]


def uid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A UTC instant in March 2024."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def conn(fresh_db: str) -> Iterator[Conn]:
    with database.connect(fresh_db, autocommit=True) as connection:
        connection.execute(SCHEMA.read_text())
        yield connection


def add_tree(conn: Conn, n: int, name: str, account: str = ACCOUNT_A, structure: Any = None) -> None:
    conn.execute(
        "INSERT INTO trees (id, account_id, name, tree_structure) VALUES (%s, %s, %s, %s)",
        (uid(n), account, name, None if structure is None else Jsonb(structure)),
    )


def add_user(conn: Conn, n: int, name: str | None, account: str = ACCOUNT_A) -> None:
    conn.execute(
        "INSERT INTO users (id, account_id, name, email) VALUES (%s, %s, %s, %s)",
        (uid(n), account, name, f"user{n}@example.com"),
    )


def add_session(
    conn: Conn,
    tree: int,
    user: int,
    started_at: datetime,
    minutes: float | None = None,
    outcome: str | None = None,
    decisions: Any = None,
) -> None:
    """`minutes` from start to completion (None: not completed); decisions None is SQL NULL."""
    completed_at = None if minutes is None else started_at + timedelta(minutes=minutes)
    if decisions is not None and not isinstance(decisions, Jsonb):
        decisions = Jsonb(decisions)
    conn.execute(
        "INSERT INTO sessions (id, tree_id, user_id, started_at, completed_at, outcome, decisions) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (uuid.uuid4(), uid(tree), uid(user), started_at, completed_at, outcome, decisions),
    )


def add_rating(conn: Conn, n: int, tree: int, rating: int, comment: str | None, created_at: datetime) -> None:
    conn.execute(
        "INSERT INTO session_ratings (id, session_id, tree_id, user_id, rating, comment, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (uid(n), uuid.uuid4(), uid(tree), uuid.uuid4(), rating, comment, created_at),
    )


def add_step_rating(conn: Conn, tree: int, node_id: str, helpful: bool, created_at: datetime) -> None:
    conn.execute(
        "INSERT INTO step_ratings (id, session_id, tree_id, node_id, helpful, user_id, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (uuid.uuid4(), uuid.uuid4(), uid(tree), node_id, helpful, uuid.uuid4(), created_at),
    )


def seed_team(conn: Conn) -> None:
    add_tree(conn, 1, "Printer")
    add_tree(conn, 2, "Router", account=ACCOUNT_B)
    add_user(conn, 11, "Ann")
    add_user(conn, 12, None)
    add_session(conn, 1, 11, at(8), minutes=10, outcome="resolved")  # exactly now - 7 days: in
    add_session(conn, 1, 11, at(8, 11, 59), minutes=1, outcome="resolved")  # a minute earlier: out of 7d
    add_session(conn, 1, 12, at(10, 9), minutes=30, outcome="escalated")
    add_session(conn, 1, 12, at(10, 23, 59), outcome="unresolved")  # not completed
    add_session(conn, 1, 11, at(20), minutes=-5, outcome="workaround")  # future, completed before it started
    add_session(conn, 1, 99, at(11, 10), minutes=20)  # deleted user, no outcome
    add_session(conn, 1, 11, at(11, 11), minutes=45, outcome="bogus")
    add_session(conn, 2, 11, at(12), minutes=1, outcome="resolved")  # another account's tree
    add_session(conn, 98, 11, at(12), minutes=1, outcome="resolved")  # deleted tree


def test_team_body_counts_the_accounts_trees_in_the_window(conn: Conn) -> None:
    seed_team(conn)

    assert live_sql.team_body(conn, ACCOUNT_A, "7d", NOW) == {
        "summary": summary(6, 5, 0.833, 20.0, 3, resolved=1, escalated=1, workaround=1),  # median of -5, 10, 20, 30, 45
        "time_series": [
            day("2024-03-08", 1, resolved=1),
            day("2024-03-10", 2, escalated=1, unresolved=1),
            day("2024-03-11", 2),
            day("2024-03-20", 1, workaround=1),
        ],
        "top_flows": [listed("tree", uid(1), "Printer", 6, 0.833, 20.0)],
        "top_engineers": [
            listed("user", uid(11), "Ann", 3, 1.0, 10.0),
            listed("user", uid(12), "Unknown", 2, 0.5, 30.0),
        ],
    }
    assert live_sql.team_body(conn, ACCOUNT_A, "30d", NOW)["summary"]["total_sessions"] == 7


def test_team_engineer_narrows_summary_and_time_series_only(conn: Conn) -> None:
    seed_team(conn)

    body = live_sql.team_body(conn, ACCOUNT_A, "7d", NOW, engineer_id=uid(12))

    assert body == {
        "summary": summary(2, 1, 0.5, 30.0, 1, escalated=1),
        "time_series": [day("2024-03-10", 2, escalated=1, unresolved=1)],
        "top_flows": [listed("tree", uid(1), "Printer", 6, 0.833, 20.0)],
        "top_engineers": [
            listed("user", uid(11), "Ann", 3, 1.0, 10.0),
            listed("user", uid(12), "Unknown", 2, 0.5, 30.0),
        ],
    }


def test_team_body_of_an_account_without_sessions(conn: Conn) -> None:
    seed_team(conn)

    assert live_sql.team_body(conn, uid(777), "90d", NOW) == {
        "summary": summary(0, 0, 0.0, 0.0, 0),
        "time_series": [],
        "top_flows": [],
        "top_engineers": [],
    }


def test_top_flows_break_ties_by_code_point_name_then_id(conn: Conn) -> None:
    add_user(conn, 11, "Ann")
    add_tree(conn, 1, "Alpha")
    add_tree(conn, 2, "Beta")
    # One session each; inserted out of order, the same name twice (id 21 before id 20).
    one_session = {21: "Same", 20: "Same", 3: "Zulu", 4: "alpha", 5: "beta", 6: "Éclair", 7: "delta", 8: "echo",
                   9: "foxtrot", 10: "golf"}  # fmt: skip
    for n, name in one_session.items():
        add_tree(conn, n, name)
        add_session(conn, n, 11, at(14, 8))
    for minutes in (1, 2, 4, 10):
        add_session(conn, 1, 11, at(14, 9), minutes=minutes)
    add_session(conn, 2, 11, at(14, 10), minutes=7)
    add_session(conn, 2, 11, at(14, 10))

    # The trees with one session each (not completed), in the order expected; "golf" and "Éclair" come 11th and 12th.
    ranked = {20: "Same", 21: "Same", 3: "Zulu", 4: "alpha", 5: "beta", 7: "delta", 8: "echo", 9: "foxtrot"}

    assert live_sql.team_body(conn, ACCOUNT_A, "7d", NOW) == {
        # completion 0.312: round(0.3125, 3), Python rounds half to even; median of 1, 2, 4, 7, 10
        "summary": summary(16, 5, 0.312, 4.0, 1),
        "time_series": [day("2024-03-14", 16)],
        "top_flows": [
            listed("tree", uid(1), "Alpha", 4, 1.0, 3.0),  # interpolated: (2 + 4) / 2
            listed("tree", uid(2), "Beta", 2, 0.5, 7.0),
            *(listed("tree", uid(n), name, 1, 0.0, 0.0) for n, name in ranked.items()),
        ],
        "top_engineers": [listed("user", uid(11), "Ann", 16, 0.312, 4.0)],
    }


def test_top_engineers_show_unknown_for_null_or_empty_names_and_skip_deleted_users(conn: Conn) -> None:
    add_tree(conn, 50, "Flow")
    add_user(conn, 1, "adam")
    add_session(conn, 50, 1, at(14, 9), minutes=3)
    add_session(conn, 50, 1, at(14, 9), minutes=6)
    one_session = {12: "Émile", 11: "hank", 10: "gina", 9: "fred", 8: "erin", 7: "dave", 6: "carl", 5: "bob",
                   4: "", 3: None, 2: "Unknown"}  # fmt: skip
    for n, name in one_session.items():
        add_user(conn, n, name)
        add_session(conn, 50, n, at(14, 10))
    add_session(conn, 50, 99, at(14, 11))  # deleted user: in the summary, not in the list

    # After the three "Unknown": the users with one session each, in the order expected; "hank" and "Émile" drop.
    ranked = {5: "bob", 6: "carl", 7: "dave", 8: "erin", 9: "fred", 10: "gina"}

    assert live_sql.team_body(conn, ACCOUNT_A, "7d", NOW) == {
        "summary": summary(14, 2, 0.143, 4.5, 13),
        "time_series": [day("2024-03-14", 14)],
        "top_flows": [listed("tree", uid(50), "Flow", 14, 0.143, 4.5)],
        "top_engineers": [
            listed("user", uid(1), "adam", 2, 1.0, 4.5),
            listed("user", uid(2), "Unknown", 1, 0.0, 0.0),  # the name "Unknown"
            listed("user", uid(3), "Unknown", 1, 0.0, 0.0),  # NULL name, shown as "Unknown"
            listed("user", uid(4), "Unknown", 1, 0.0, 0.0),  # empty name: `row.name or "Unknown"`
            *(listed("user", uid(n), name, 1, 0.0, 0.0) for n, name in ranked.items()),
        ],
    }


def test_me_body_counts_the_users_sessions_on_any_tree(conn: Conn) -> None:
    add_tree(conn, 1, "Printer")
    add_tree(conn, 2, "Router", account=ACCOUNT_B)
    add_user(conn, 11, "Ann")
    add_user(conn, 12, "Bob")
    add_session(conn, 1, 11, at(1, 10), minutes=4, outcome="resolved")
    add_session(conn, 1, 11, at(1, 11), outcome="escalated")  # not completed
    add_session(conn, 2, 11, at(2, 8), minutes=6, outcome="workaround")
    add_session(conn, 98, 11, at(2, 9), minutes=8, outcome="resolved")  # deleted tree
    add_session(conn, 1, 11, datetime(2024, 2, 14, 11, 59, tzinfo=UTC), minutes=1)  # out of 30d
    add_session(conn, 1, 12, at(1, 10), minutes=1, outcome="resolved")  # someone else

    assert live_sql.me_body(conn, uid(11), "30d", NOW) == {
        "summary": summary(4, 3, 0.75, 6.0, 1, resolved=2, workaround=1),
        "time_series": [
            day("2024-03-01", 2, resolved=1, escalated=1),
            day("2024-03-02", 2, resolved=1, workaround=1),
        ],
        "top_flows": [
            listed("tree", uid(1), "Printer", 2, 0.5, 4.0),
            listed("tree", uid(2), "Router", 1, 1.0, 6.0),
        ],
    }
    # The app reports one engineer in the personal view even without a session.
    assert live_sql.me_body(conn, uid(13), "7d", NOW)["summary"]["active_engineers"] == 1


def test_flow_body_summary_ratings_and_comments(conn: Conn) -> None:
    add_tree(conn, 1, "Reset password", structure={"id": "n1", "title": "Check account"})
    add_tree(conn, 2, "Other")
    add_session(conn, 1, 11, at(14, 9), minutes=3, outcome="resolved", decisions=[{"node_id": "n1"}])
    add_session(conn, 1, 12, at(14, 10), decisions=[{"node_id": "n1", "answer": "no"}])
    add_session(conn, 1, 11, at(1), minutes=2, outcome="resolved")  # out of 7d
    add_session(conn, 2, 11, at(14), minutes=2, outcome="resolved")  # another tree
    add_rating(conn, 1, 1, 5, "Great", at(14))
    add_rating(conn, 2, 1, 4, "", at(13))  # rated in the window; empty comment is not shown
    add_rating(conn, 3, 1, 3, "   ", at(12))  # whitespace counts as a comment
    add_rating(conn, 4, 1, 1, None, at(8))  # exactly now - 7 days
    add_rating(conn, 5, 1, 3, "Old", datetime(2024, 1, 1, tzinfo=UTC))  # out of the window, still shown
    add_rating(conn, 6, 2, 5, "Elsewhere", at(14))

    body = live_sql.flow_body(conn, uid(1).upper(), "7d", NOW)

    assert body == {
        "summary": summary(2, 1, 0.5, 3.0, 2, resolved=1),
        "avg_csat": 3.2,  # round(13 / 4, 1): Python rounds 3.25 to 3.2
        "total_ratings": 4,
        "time_series": [day("2024-03-14", 2, resolved=1)],
        "step_feedback": [step("n1", "Check account", 2, 1, 0.5)],
        "recent_comments": [
            {"rating": 5, "comment": "Great", "created_at": "2024-03-14T12:00:00Z"},
            {"rating": 3, "comment": "   ", "created_at": "2024-03-12T12:00:00Z"},
            {"rating": 3, "comment": "Old", "created_at": "2024-01-01T00:00:00Z"},
        ],
    }


def test_flow_body_without_ratings_has_null_csat(conn: Conn) -> None:
    add_tree(conn, 1, "Quiet")
    add_rating(conn, 1, 1, 5, "Long ago", datetime(2023, 6, 1, tzinfo=UTC))

    body = live_sql.flow_body(conn, uid(1), "90d", NOW)

    assert (body["avg_csat"], body["total_ratings"]) == (None, 0)
    assert body["recent_comments"] == [{"rating": 5, "comment": "Long ago", "created_at": "2023-06-01T00:00:00Z"}]


def test_recent_comments_are_the_ten_newest_ties_by_id_desc(conn: Conn) -> None:
    add_tree(conn, 1, "Printer")
    add_tree(conn, 2, "Other")
    add_rating(conn, 101, 1, 4, "tie-low", at(14, 10))
    add_rating(conn, 102, 1, 5, "tie-high", at(14, 10))
    add_rating(conn, 103, 1, 1, "", at(14, 11))
    add_rating(conn, 104, 1, 2, None, at(14, 12))
    for d in range(7, 14):
        add_rating(conn, 100 + d, 1, 3, f"day {d}", at(d))
    add_rating(conn, 120, 1, 2, "ancient", datetime(2023, 1, 1, tzinfo=UTC))
    add_rating(conn, 121, 1, 1, "too old", datetime(2022, 1, 1, tzinfo=UTC))
    add_rating(conn, 122, 2, 5, "other tree", at(15))

    assert live_sql.flow_body(conn, uid(1), "7d", NOW)["recent_comments"] == [
        {"rating": 5, "comment": "tie-high", "created_at": "2024-03-14T10:00:00Z"},
        {"rating": 4, "comment": "tie-low", "created_at": "2024-03-14T10:00:00Z"},
        {"rating": 3, "comment": "day 13", "created_at": "2024-03-13T12:00:00Z"},
        {"rating": 3, "comment": "day 12", "created_at": "2024-03-12T12:00:00Z"},
        {"rating": 3, "comment": "day 11", "created_at": "2024-03-11T12:00:00Z"},
        {"rating": 3, "comment": "day 10", "created_at": "2024-03-10T12:00:00Z"},
        {"rating": 3, "comment": "day 9", "created_at": "2024-03-09T12:00:00Z"},
        {"rating": 3, "comment": "day 8", "created_at": "2024-03-08T12:00:00Z"},
        {"rating": 3, "comment": "day 7", "created_at": "2024-03-07T12:00:00Z"},
        {"rating": 2, "comment": "ancient", "created_at": "2023-01-01T00:00:00Z"},
    ]


DIRTY_TREE = {
    "id": "root",
    "title": "Start",
    "children": [
        {
            "id": "q1",
            "title": "",
            "question": "Is it on?",
            "children": [
                {"id": "dup", "title": "First dup"},
                "not a node",
                {"id": 5, "title": "numeric id", "children": [{"id": "deep", "question": ""}]},
            ],
        },
        {"id": "dup", "title": "Second dup", "children": "not a list"},
        {"id": "blank", "title": None, "question": ""},
        {"id": "spaces", "title": "   "},
    ],
}


def test_step_feedback_walks_dirty_decisions_and_tree(conn: Conn) -> None:
    add_tree(conn, 1, "Dirty", structure=DIRTY_TREE)

    def visit(*node_ids: str) -> list[dict[str, str]]:
        return [{"node_id": n} for n in node_ids]

    add_session(conn, 1, 11, at(14), minutes=5, decisions=visit("root", "q1", "dup"))  # completed: no drop-off
    add_session(conn, 1, 11, at(14), decisions=visit("root", "q1", "q1"))  # repeats count; drops at q1
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "root"}, 1, "x", None])  # last is not an object
    add_session(conn, 1, 11, at(14), decisions=None)
    add_session(conn, 1, 11, at(14), decisions=Jsonb(None))  # JSON null
    add_session(conn, 1, 11, at(14), decisions={"node_id": "root"})  # not an array
    add_session(conn, 1, 11, at(14), decisions=[])
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "deep"}, {"step": "no node_id"}])
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "ghost"}, {"node_id": 5}])
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "spaces"}, {"node_id": ""}])
    add_session(conn, 1, 11, at(14), decisions=visit("blank"))
    add_session(conn, 1, 11, at(1), decisions=visit("root"))  # out of 7d
    add_step_rating(conn, 1, "q1", True, at(14))
    add_step_rating(conn, 1, "q1", True, at(8))  # exactly now - 7 days
    add_step_rating(conn, 1, "q1", False, at(9))
    add_step_rating(conn, 1, "q1", True, at(1))  # out of 7d
    add_step_rating(conn, 2, "q1", True, at(14))  # another tree
    add_step_rating(conn, 1, "root", False, at(10))
    add_step_rating(conn, 1, "never visited", True, at(10))

    assert live_sql.flow_body(conn, uid(1), "7d", NOW)["step_feedback"] == [
        step("blank", "Unnamed", 1, 1, 1.0),
        step("q1", "Is it on?", 3, 1, 0.333, yes=2, no=1, helpful_rate=0.667),
        step("deep", "Unnamed", 1, 0, 0.0),  # under a node whose id is not a string
        step("dup", "Second dup", 1, 0, 0.0),  # the last one walked depth-first
        step("ghost", "Unknown Step", 1, 0, 0.0),
        step("root", "Start", 3, 0, 0.0, no=1),
        step("spaces", "   ", 1, 0, 0.0),
    ]


def test_step_feedback_orders_by_rounded_dropoff_rate_then_node_id(conn: Conn) -> None:
    add_tree(conn, 1, "Loops")
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "a"}] * 44)
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "b"}] * 43)
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "c"}] * 40)

    # The app sorted the rounded rates, stably, over nodes listed in node_id order.
    assert live_sql.flow_body(conn, uid(1), "7d", NOW)["step_feedback"] == [
        step("c", "Unknown Step", 40, 1, 0.025),
        step("a", "Unknown Step", 44, 1, 0.023),  # 1/44 = 0.02273
        step("b", "Unknown Step", 43, 1, 0.023),  # 1/43 = 0.02326: higher, yet after "a"
    ]


@pytest.mark.parametrize(
    "structure",
    [None, [{"id": "a", "title": "A"}], '{"id": "a", "title": "A"}'],
    ids=["null", "array", "json-string"],
)
def test_step_titles_need_an_object_root(conn: Conn, structure: Any) -> None:
    add_tree(conn, 1, "Odd", structure=structure)
    add_session(conn, 1, 11, at(14), minutes=1, decisions=[{"node_id": "a"}])

    assert live_sql.flow_body(conn, uid(1), "7d", NOW)["step_feedback"] == [step("a", "Unknown Step", 1, 0, 0.0)]


def test_helpful_counts_are_zero_without_a_step_ratings_table(conn: Conn) -> None:
    add_tree(conn, 1, "Printer", structure={"id": "a", "title": "A"})
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "a"}])
    add_step_rating(conn, 1, "a", True, at(14))
    conn.execute("DROP TABLE step_ratings")

    assert live_sql.flow_body(conn, uid(1), "7d", NOW)["step_feedback"] == [step("a", "A", 1, 1, 1.0)]


def test_bad_questions_are_refused(conn: Conn) -> None:
    add_tree(conn, 1, "Printer")

    with pytest.raises(ValueError, match="14d"):
        live_sql.team_body(conn, ACCOUNT_A, "14d", NOW)
    with pytest.raises(ValueError, match="time zone"):
        live_sql.me_body(conn, uid(11), "7d", NOW.replace(tzinfo=None))
    with pytest.raises(LookupError, match=uid(2)):
        live_sql.flow_body(conn, uid(2), "7d", NOW)


# --- the deliberate deviations: the app's own behaviour (APP) and ours (OURS), side by side


def test_adjustment_helpful_from_step_ratings(conn: Conn) -> None:
    add_tree(conn, 1, "Printer", structure={"id": "a", "title": "A"})
    add_session(conn, 1, 11, at(14), decisions=[{"node_id": "a"}])
    add_step_rating(conn, 1, "a", True, at(14))
    add_step_rating(conn, 1, "a", False, at(13))
    add_step_rating(conn, 1, "a", True, at(12))

    app = live_sql.flow_body(conn, uid(1), "7d", NOW, adjust=live_sql.APP)["step_feedback"]
    ours = live_sql.flow_body(conn, uid(1), "7d", NOW)["step_feedback"]

    assert app == [step("a", "A", 1, 1, 1.0)]  # the app always sent 0, 0, 0.0
    assert ours == [step("a", "A", 1, 1, 1.0, yes=2, no=1, helpful_rate=0.667)]


@pytest.mark.parametrize(
    ("decisions", "structure", "app_error"),
    [
        ([{"node_id": "a"}, "not an object"], {"id": "a", "title": "A"}, AttributeError),
        ({"node_id": "a"}, {"id": "a", "title": "A"}, AttributeError),  # an object, not an array
        ([{"node_id": "a"}, {"node_id": 5}], {"id": "a", "title": "A"}, TypeError),  # sorted() of str and int
        ([{"node_id": "a"}], {"id": "r", "title": "R", "children": None}, TypeError),
        ([{"node_id": "a"}], {"id": "a", "title": 7}, TypeError),  # the response model refuses the title
    ],
    ids=["element-not-object", "decisions-not-array", "numeric-node-id", "children-null", "title-not-string"],
)
def test_adjustment_robust_jsonb(conn: Conn, decisions: Any, structure: Any, app_error: type[Exception]) -> None:
    add_tree(conn, 1, "Dirty", structure=structure)
    add_session(conn, 1, 11, at(14), decisions=decisions)

    with pytest.raises(app_error):
        live_sql.flow_body(conn, uid(1), "7d", NOW, adjust=live_sql.APP)  # the app answered 500
    feedback = live_sql.flow_body(conn, uid(1), "7d", NOW)["step_feedback"]

    assert [(s["node_id"], s["visit_count"]) for s in feedback] == ([] if isinstance(decisions, dict) else [("a", 1)])


def test_adjustment_robust_jsonb_agrees_with_the_app_where_the_app_answers(conn: Conn) -> None:
    add_tree(conn, 1, "Dirty", structure=DIRTY_TREE)
    for decisions in ([{"node_id": "q1"}, {"node_id": ""}, {"x": 1}], None, [], {}, [{"node_id": "dup"}]):
        add_session(conn, 1, 11, at(14), decisions=Jsonb(decisions))

    app = live_sql.flow_body(conn, uid(1), "7d", NOW, adjust=live_sql.APP)
    ours = live_sql.flow_body(conn, uid(1), "7d", NOW, adjust=live_sql.Adjustments(helpful_from_step_ratings=False))

    assert app == ours
    assert [s["node_title"] for s in ours["step_feedback"]] == ["Second dup", "Is it on?"]


def test_adjustment_tenant_isolation(conn: Conn) -> None:
    add_tree(conn, 2, "Router", account=ACCOUNT_B)
    add_user(conn, 11, "Ann")  # of account A, not a super admin
    add_session(conn, 2, 12, at(14), minutes=1, outcome="resolved")

    app = live_sql.flow_body(conn, uid(2), "7d", NOW, caller_id=uid(11), adjust=live_sql.APP)
    assert app["summary"]["total_sessions"] == 1  # the app served another account's tree
    with pytest.raises(LookupError, match="not in the account"):
        live_sql.flow_body(conn, uid(2), "7d", NOW, caller_id=uid(11))
    conn.execute("UPDATE users SET is_super_admin = true WHERE id = %s", (uid(11),))
    assert live_sql.flow_body(conn, uid(2), "7d", NOW, caller_id=uid(11)) == app


def test_adjustment_deterministic_ties(conn: Conn) -> None:
    add_user(conn, 11, "Ann")
    for n in range(1, 13):  # twelve flows with one session each: which ten is up to the app's planner
        add_tree(conn, n, f"Flow {13 - n:02d}")
        add_session(conn, n, 11, at(14))
    for n in (101, 102):
        add_rating(conn, n, 1, 3, f"same instant {n}", at(14))

    app = live_sql.team_body(conn, ACCOUNT_A, "7d", NOW, adjust=live_sql.APP)
    ours = live_sql.team_body(conn, ACCOUNT_A, "7d", NOW)

    assert len(app["top_flows"]) == len(ours["top_flows"]) == 10
    assert {f["tree_id"] for f in app["top_flows"]} <= {uid(n) for n in range(1, 13)}
    assert [f["name"] for f in ours["top_flows"]] == [f"Flow {k:02d}" for k in range(1, 11)]
    comments = live_sql.flow_body(conn, uid(1), "7d", NOW)["recent_comments"]
    assert [c["comment"] for c in comments] == ["same instant 102", "same instant 101"]  # id desc
