"""`flowmetrics seed` on a real PostgreSQL: counts, determinism, clean vs dirty data,
indexes, and refusing a database that already has sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from etl import database
from etl.errors import SourceError
from synthetic.seed import SeedReport, seed

ANCHOR = datetime(2026, 11, 20, tzinfo=timezone.utc)
TABLES = ("users", "trees", "sessions", "session_ratings", "step_ratings")

# Node ids of a tree, at any depth (objects holding an "id" are nodes).
TREE_NODE_IDS = "SELECT jsonb_path_query(t.tree_structure, 'strict $.**.id') #>> '{}'"
ELEMENTS = "jsonb_array_elements(CASE jsonb_typeof(s.decisions) WHEN 'array' THEN s.decisions ELSE '[]' END)"

# One query per dirty kind, each counting the rows that show it.
DIRTY_KINDS: dict[str, str] = {
    "decisions NULL": "SELECT count(*) FROM sessions WHERE decisions IS NULL",
    "decisions []": "SELECT count(*) FROM sessions WHERE decisions = '[]'",
    "decisions object": "SELECT count(*) FROM sessions WHERE jsonb_typeof(decisions) = 'object'",
    "decisions string": "SELECT count(*) FROM sessions WHERE jsonb_typeof(decisions) = 'string'",
    "non-object elements": f"SELECT count(*) FROM sessions s WHERE EXISTS (SELECT FROM {ELEMENTS} e "
    "WHERE jsonb_typeof(e) <> 'object')",
    "element without node_id": f"SELECT count(*) FROM sessions s WHERE EXISTS (SELECT FROM {ELEMENTS} e "
    "WHERE jsonb_typeof(e) = 'object' AND NOT e ? 'node_id')",
    "numeric node_id": f"SELECT count(*) FROM sessions s WHERE EXISTS (SELECT FROM {ELEMENTS} e "
    "WHERE jsonb_typeof(e -> 'node_id') = 'number')",
    "empty node_id": f"SELECT count(*) FROM sessions s WHERE EXISTS (SELECT FROM {ELEMENTS} e "
    "WHERE e ->> 'node_id' = '')",
    "node not in tree": f"SELECT count(*) FROM sessions s JOIN trees t ON t.id = s.tree_id "
    f"WHERE jsonb_typeof(t.tree_structure) = 'object' AND EXISTS (SELECT FROM {ELEMENTS} e "
    f"WHERE jsonb_typeof(e -> 'node_id') = 'string' AND e ->> 'node_id' <> '' "
    f"AND e ->> 'node_id' NOT IN ({TREE_NODE_IDS}))",
    "node repeated in decisions": f"SELECT count(*) FROM sessions s WHERE (SELECT count(e ->> 'node_id') "
    f"- count(DISTINCT e ->> 'node_id') FROM {ELEMENTS} e) > 0",
    "completed before started": "SELECT count(*) FROM sessions WHERE completed_at < started_at",
    "completed, outcome NULL": "SELECT count(*) FROM sessions WHERE completed_at IS NOT NULL AND outcome IS NULL",
    "unknown outcome": "SELECT count(*) FROM sessions "
    "WHERE outcome NOT IN ('resolved', 'escalated', 'workaround', 'unresolved')",
    "deleted tree": "SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT FROM trees t WHERE t.id = s.tree_id)",
    "deleted user": "SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT FROM users u WHERE u.id = s.user_id)",
    "started in the future": "SELECT count(*) FROM sessions WHERE started_at >= %(now)s",
    "user name NULL": "SELECT count(*) FROM users WHERE name IS NULL",
    "tree_structure []": "SELECT count(*) FROM trees WHERE jsonb_typeof(tree_structure) = 'array'",
    "tree_structure string": "SELECT count(*) FROM trees WHERE jsonb_typeof(tree_structure) = 'string'",
    "tree_structure NULL": "SELECT count(*) FROM trees WHERE tree_structure IS NULL",
    "node without children": "SELECT count(*) FROM trees WHERE jsonb_typeof(tree_structure) = 'object' "
    "AND jsonb_path_exists(tree_structure, 'strict $.** ? (@.id.type() == \"string\" && !exists(@.children))')",
    "repeated node id in tree": f"SELECT count(*) FROM trees t WHERE jsonb_typeof(t.tree_structure) = 'object' "
    f"AND (SELECT count(*) - count(DISTINCT id) FROM ({TREE_NODE_IDS}) ids(id)) > 0",
    "empty title with question": "SELECT count(*) FROM trees WHERE jsonb_typeof(tree_structure) = 'object' "
    "AND jsonb_path_exists(tree_structure, 'strict $.** ? (@.title == \"\" && exists(@.question))')",
    "node without title or question": "SELECT count(*) FROM trees WHERE jsonb_typeof(tree_structure) = 'object' "
    "AND jsonb_path_exists(tree_structure, "
    "'strict $.** ? (@.id.type() == \"string\" && !exists(@.title) && !exists(@.question))')",
    "comment ''": "SELECT count(*) FROM session_ratings WHERE comment = ''",
    "comment whitespace": "SELECT count(*) FROM session_ratings WHERE comment <> '' AND trim(comment) = ''",
    "rating created_at tie": "SELECT count(*) FROM session_ratings r WHERE EXISTS (SELECT FROM session_ratings o "
    "WHERE o.tree_id = r.tree_id AND o.created_at = r.created_at AND o.id <> r.id)",
    "step rating node not in tree": f"SELECT count(*) FROM step_ratings r JOIN trees t ON t.id = r.tree_id "
    f"WHERE jsonb_typeof(t.tree_structure) = 'object' AND r.node_id NOT IN ({TREE_NODE_IDS})",
}


def scalar(url: str, query: str, params: dict[str, object] | None = None) -> Any:
    with database.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def table_counts(url: str) -> dict[str, int]:
    return {table: int(scalar(url, f"SELECT count(*) FROM {table}")) for table in TABLES}


def fingerprint(url: str) -> dict[str, object]:
    """md5 of each table's rows in id order."""
    return {
        table: scalar(url, f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t") for table in TABLES
    }


def test_counts_match_the_report(fresh_db: str) -> None:
    messages: list[str] = []
    report = seed(fresh_db, sessions=1_000, accounts=4, days=30, now=ANCHOR, progress=messages.append)

    assert table_counts(fresh_db) == {
        "users": report.users,
        "trees": report.trees,
        "sessions": 1_000,
        "session_ratings": report.session_ratings,
        "step_ratings": report.step_ratings,
    }
    assert scalar(fresh_db, "SELECT count(DISTINCT account_id) FROM users") == report.accounts == 4
    assert report.session_ratings > 0 and report.step_ratings > 0 and report.dirty_rows > 0
    assert any(message.startswith("sessions 1000") for message in messages)


def test_same_seed_same_data_other_seed_other_data(make_database: Callable[[], str]) -> None:
    first, second, other = make_database(), make_database(), make_database()
    seed(first, sessions=400, accounts=3, seed=7, now=ANCHOR)
    seed(second, sessions=400, accounts=3, seed=7, now=ANCHOR)
    seed(other, sessions=400, accounts=3, seed=8, now=ANCHOR)

    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first)["sessions"] != fingerprint(other)["sessions"]


def test_sessions_fall_in_the_window(fresh_db: str) -> None:
    seed(fresh_db, sessions=800, accounts=2, days=10, now=ANCHOR, clean=True)

    first, last = (
        scalar(fresh_db, "SELECT min(started_at) FROM sessions"),
        scalar(fresh_db, "SELECT max(started_at) FROM sessions"),
    )
    assert ANCHOR - timedelta(days=10) <= first and last < ANCHOR
    assert scalar(fresh_db, "SELECT max(completed_at) FROM sessions") <= ANCHOR


def test_clean_has_no_dirty_rows(fresh_db: str) -> None:
    report = seed(fresh_db, sessions=1_000, accounts=3, now=ANCHOR, clean=True)

    assert report.dirty_rows == 0
    found = {kind: scalar(fresh_db, query, {"now": ANCHOR}) for kind, query in DIRTY_KINDS.items()}
    assert found == dict.fromkeys(DIRTY_KINDS, 0)
    # Every decision is an object with a non-empty string node_id.
    assert (
        scalar(
            fresh_db,
            "SELECT count(*) FROM sessions s, jsonb_array_elements(s.decisions) e "
            "WHERE jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'node_id') IS DISTINCT FROM 'string' "
            "OR e ->> 'node_id' = ''",
        )
        == 0
    )
    assert scalar(fresh_db, "SELECT count(*) FROM sessions WHERE jsonb_typeof(decisions) = 'array'") == 1_000


def test_dirty_by_default_shows_every_kind(fresh_db: str) -> None:
    report = seed(fresh_db, sessions=1_000, accounts=3, now=ANCHOR)

    found = {kind: scalar(fresh_db, query, {"now": ANCHOR}) for kind, query in DIRTY_KINDS.items()}
    assert [kind for kind, count in found.items() if count == 0] == []
    assert found["decisions NULL"] >= 3
    # Dirty rows stay a minority.
    assert 0 < report.dirty_rows < 0.25 * (report.sessions + report.session_ratings + report.step_ratings)


def test_indexes_exist(fresh_db: str) -> None:
    seed(fresh_db, sessions=300, accounts=2, now=ANCHOR)

    with database.connect(fresh_db) as conn:
        names = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {
        "ix_sessions_started_at",
        "ix_sessions_tree_started",
        "ix_sessions_user_started",
        "ix_session_ratings_tree_created",
        *(f"{table}_pkey" for table in TABLES),
    } <= names


def test_sessions_lie_in_started_at_order(fresh_db: str) -> None:
    # As the app's table does (it inserts a session when it starts): reading a range of
    # days touches only that range's pages.
    seed(fresh_db, sessions=3000, accounts=3, now=ANCHOR)

    with database.connect(fresh_db) as conn:
        in_order = conn.execute(
            "SELECT bool_and(previous IS NULL OR previous <= started_at) FROM "
            "(SELECT started_at, lag(started_at) OVER (ORDER BY ctid) AS previous FROM sessions) physical"
        ).fetchone()
    assert in_order == (True,)


def test_refuses_a_database_with_sessions_unless_appending(fresh_db: str) -> None:
    first = seed(fresh_db, sessions=250, accounts=2, now=ANCHOR)

    with pytest.raises(SourceError, match=r"already has 250 sessions.*fresh database.*append"):
        seed(fresh_db, sessions=250, accounts=2, now=ANCHOR)
    assert table_counts(fresh_db)["sessions"] == 250

    second = seed(fresh_db, sessions=100, accounts=2, now=ANCHOR, append=True)
    counts = table_counts(fresh_db)
    assert counts["sessions"] == 350
    assert counts["users"] == first.users + second.users
    assert counts["session_ratings"] == first.session_ratings + second.session_ratings


@pytest.mark.parametrize(("sessions", "accounts"), [(0, 1), (1, 1), (25, 2)], ids=["empty", "one", "handful"])
def test_tiny_runs(fresh_db: str, sessions: int, accounts: int) -> None:
    report = seed(fresh_db, sessions=sessions, accounts=accounts, now=ANCHOR)

    assert isinstance(report, SeedReport)
    assert table_counts(fresh_db)["sessions"] == sessions


def test_rejects_bad_arguments(fresh_db: str) -> None:
    with pytest.raises(ValueError, match="accounts=0"):
        seed(fresh_db, accounts=0)
