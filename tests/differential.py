"""Differential checking: the API's bodies against the app's endpoint (tests/reference).

Given a source database and a store refreshed from it at `as_of`, asks the real API (real
JWTs) for every account, engineer, user and tree in every period and compares each whole
body, minus the keys our models declare as additions (as_of, period, the flow's tree_id
and tree_name), with the body the app's endpoint would send for the same question. The
two are compared as canonical JSON text: a renamed key, a missing key or an int sent as
a float all differ. Zero tolerance.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import psycopg
from fastapi.testclient import TestClient
from pydantic import BaseModel

from etl.config import PERIODS
from metrics_api.models import FlowAnalyticsResponse, PersonalAnalyticsResponse, TeamAnalyticsResponse, added_fields
from tests.reference import live_sql

SECRET = "differential-test-secret-0123456789abcdef"


def token(user_id: str) -> dict[str, str]:
    claims = {"sub": user_id, "exp": datetime.now(timezone.utc) + timedelta(hours=1)}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


def without_additions(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """The API's body with only the keys the app's response has."""
    added = added_fields(model)
    return {key: value for key, value in body.items() if key not in added}


def canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


@dataclass
class Comparison:
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)

    def check(self, what: str, model: type[BaseModel], got: dict[str, Any], expected: dict[str, Any]) -> None:
        self.checked += 1
        got = without_additions(model, got)
        if canonical(got) != canonical(expected):
            diff = {
                k: (got.get(k, "<missing>"), expected.get(k, "<missing>"))
                for k in expected.keys() | got.keys()
                if canonical(got.get(k, "<missing>")) != canonical(expected.get(k, "<missing>"))
            }
            self.mismatches.append(f"{what} (ours, app's): {_short(diff)}")


def _short(value: object, limit: int = 1500) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _rows(conn: psycopg.Connection[Any], query: str, *params: object) -> list[tuple[Any, ...]]:
    return conn.execute(query, params).fetchall()


def compare_everything(
    conn: psycopg.Connection[Any],
    client: TestClient,
    as_of: datetime,
    *,
    engineers_per_account: int = 6,
    users_sample: int = 30,
    prefix: str = "",
) -> Comparison:
    """Every account (team, with and without engineer_id), a sample of users, every tree."""
    result = Comparison()
    get: Callable[[str, str], dict[str, Any]] = lambda path, user: _get(client, prefix + path, user)  # noqa: E731
    super_admin = _rows(conn, "SELECT id::text FROM users WHERE is_super_admin AND is_active ORDER BY id LIMIT 1")
    accounts = _rows(
        conn,
        "SELECT account_id::text, min(id::text) FROM users WHERE is_team_admin AND is_active "
        "GROUP BY account_id ORDER BY 1",
    )
    for account_id, admin in accounts:
        engineers = [
            r[0]
            for r in _rows(
                conn,
                "SELECT DISTINCT s.user_id::text FROM sessions s JOIN trees t ON t.id = s.tree_id "
                "WHERE t.account_id = %s::uuid ORDER BY 1 LIMIT %s",
                account_id,
                engineers_per_account,
            )
        ]
        outsider = _rows(
            conn, "SELECT id::text FROM users WHERE account_id <> %s::uuid ORDER BY id LIMIT 1", account_id
        )
        engineers += [r[0] for r in outsider]
        for period in PERIODS:
            body = get(f"/analytics/team?period={period}", admin)
            result.check(
                f"team {account_id} {period}",
                TeamAnalyticsResponse,
                body,
                live_sql.team_body(conn, account_id, period, as_of),
            )
            for engineer in engineers:
                body = get(f"/analytics/team?period={period}&engineer_id={engineer}", admin)
                expected = live_sql.team_body(conn, account_id, period, as_of, engineer_id=engineer)
                result.check(f"team {account_id} engineer {engineer} {period}", TeamAnalyticsResponse, body, expected)
    users = [
        r[0]
        for r in _rows(conn, "SELECT id::text FROM users WHERE is_active ORDER BY md5(id::text) LIMIT %s", users_sample)
    ]
    for user_id in users:
        for period in PERIODS:
            body = get(f"/analytics/me?period={period}", user_id)
            result.check(
                f"me {user_id} {period}",
                PersonalAnalyticsResponse,
                body,
                live_sql.me_body(conn, user_id, period, as_of),
            )
    trees = _rows(
        conn,
        "SELECT t.id::text, (SELECT min(u.id::text) FROM users u WHERE u.account_id = t.account_id AND u.is_active) "
        "FROM trees t ORDER BY 1",
    )
    for tree_id, member in trees:
        reader = member or (super_admin[0][0] if super_admin else None)
        if reader is None:
            continue
        for period in PERIODS:
            body = get(f"/analytics/flows/{tree_id}?period={period}", reader)
            result.check(
                f"flow {tree_id} {period}",
                FlowAnalyticsResponse,
                body,
                live_sql.flow_body(conn, tree_id, period, as_of, caller_id=reader),
            )
    return result


def _get(client: TestClient, path: str, user_id: str) -> dict[str, Any]:
    response = client.get(path, headers=token(user_id))
    assert response.status_code == 200, f"{path} as {user_id}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body
