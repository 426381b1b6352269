"""The app's own rules, each on rows built to exercise it, through the real pipeline and API.

Every case loads a handful of rows into a real PostgreSQL, refreshes, and compares every
dashboard question with the app's endpoint transcribed (tests/reference), whole bodies.
Reverting any one rule in the pipeline or the API makes its case fail.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from etl import database
from jobs.refresh import run_refresh
from metrics_api.app import create_app
from synthetic import SOURCE_SCHEMA
from tests.differential import compare_everything, token
from tests.integration.test_differential import make_config

AS_OF = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=timezone.utc)
ACCOUNT = "aaaaaaaa-0000-0000-0000-000000000001"


def uid(n: int) -> str:
    return str(uuid.UUID(int=n))


def ago(hours: float) -> datetime:
    return AS_OF - timedelta(hours=hours)


def load(url: str, users: list[tuple[int, str | None]], sessions: list[tuple[Any, ...]], **extra: Any) -> None:
    """users: (n, name) of ACCOUNT, the first a team admin; sessions: (user, started_at, minutes, decisions)."""
    with database.connect(url, autocommit=True) as conn:
        conn.execute(SOURCE_SCHEMA.read_text())
        conn.execute(
            "INSERT INTO trees (id, account_id, name, tree_structure) VALUES (%s, %s, 'Flow', %s)",
            (uid(1), ACCOUNT, Jsonb({"id": "a", "title": "A", "children": [{"id": "b", "question": "B?"}]})),
        )
        for i, (n, name) in enumerate(users):
            conn.execute(
                "INSERT INTO users (id, account_id, name, email, is_team_admin) VALUES (%s, %s, %s, %s, %s)",
                (uid(n), ACCOUNT, name, f"u{n}@example.com", i == 0),
            )
        for user, started_at, minutes, decisions in sessions:
            conn.execute(
                "INSERT INTO sessions (id, tree_id, user_id, started_at, completed_at, outcome, decisions) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    uuid.uuid4(),
                    uid(1),
                    uid(user),
                    started_at,
                    None if minutes is None else started_at + timedelta(minutes=minutes),
                    None if minutes is None else "resolved",
                    Jsonb(decisions),
                ),
            )
        for statement in extra.get("statements", []):
            conn.execute(statement)


def compare(url: str, store_path: Path) -> TestClient:
    config = make_config(store_path)
    run_refresh(config, url, mode="nightly", as_of=AS_OF)
    client = TestClient(create_app(config))
    with database.connect(url) as conn:
        result = compare_everything(conn, client, AS_OF, engineers_per_account=10, users_sample=10)
    assert not result.mismatches, "\n".join(result.mismatches)
    assert result.checked >= 9
    return client


def test_empty_and_null_names_show_as_unknown_and_break_ties_as_shown(fresh_db: str, store_path: Path) -> None:
    # One session each: the order is the shown name's, "Unknown" between "Ann" and "bob".
    users = [(10, "zed"), (11, ""), (12, None), (13, "bob"), (14, "Ann"), (15, "Unknown")]
    load(fresh_db, users, [(n, ago(2), 5, []) for n, _ in users])
    client = compare(fresh_db, store_path)
    body = client.get("/analytics/team?period=7d", headers=token(uid(10))).json()
    assert [e["name"] for e in body["top_engineers"]] == ["Ann", "Unknown", "Unknown", "Unknown", "bob", "zed"]


def test_step_feedback_orders_by_the_rounded_rate(fresh_db: str, store_path: Path) -> None:
    # a: 1/84 = 0.0119, b: 1/82 = 0.0122; both show 0.012, so a (node_id order) comes first.
    sessions = [(10, ago(1), None, [{"node_id": "a"}] * 84), (10, ago(1), None, [{"node_id": "b"}] * 82)]
    load(fresh_db, [(10, "Ann")], sessions)
    client = compare(fresh_db, store_path)
    steps = client.get(f"/analytics/flows/{uid(1)}?period=7d", headers=token(uid(10))).json()["step_feedback"]
    assert [(s["node_id"], s["dropoff_rate"]) for s in steps] == [("a", 0.012), ("b", 0.012)]


def test_personal_view_reports_one_engineer_without_sessions(fresh_db: str, store_path: Path) -> None:
    load(fresh_db, [(10, "Ann"), (11, "Idle")], [(10, ago(24 * 40), 5, [])])  # Ann's only session is 40 days old
    client = compare(fresh_db, store_path)
    for user in (10, 11):
        summary = client.get("/analytics/me?period=7d", headers=token(uid(user))).json()["summary"]
        assert (summary["total_sessions"], summary["active_engineers"]) == (0, 1)


@pytest.mark.parametrize(("ratings", "shown"), [((0,), None), ((-1, 1), None), ((0, 1), 0.5)], ids=str)
def test_a_zero_average_rating_is_no_csat(
    fresh_db: str, store_path: Path, ratings: tuple[int, ...], shown: float | None
) -> None:
    """The app wrote `round(float(avg), 1) if avg else None`; its own table allows only 1..5, the
    source this reads may not."""
    inserts = [
        f"INSERT INTO session_ratings (id, session_id, tree_id, user_id, rating, comment, created_at) "
        f"VALUES ('{uuid.uuid4()}', '{uuid.uuid4()}', '{uid(1)}', '{uid(10)}', {r}, NULL, '{ago(3).isoformat()}')"
        for r in ratings
    ]
    statements = ["ALTER TABLE session_ratings DROP CONSTRAINT session_ratings_rating_check", *inserts]
    load(fresh_db, [(10, "Ann")], [(10, ago(1), 5, [])], statements=statements)
    client = compare(fresh_db, store_path)
    body = client.get(f"/analytics/flows/{uid(1)}?period=7d", headers=token(uid(10))).json()
    assert (body["avg_csat"], body["total_ratings"]) == (shown, len(ratings))
