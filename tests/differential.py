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


def source_rows(conn: psycopg.Connection[Any], query: str, *params: object) -> list[tuple[Any, ...]]:
    """Every row of `query` on the source."""
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
    ask = Questions(conn, lambda path, user: get_body(client, prefix + path, user), as_of)
    super_admin = source_rows(conn, "SELECT id::text FROM users WHERE is_super_admin AND is_active ORDER BY id LIMIT 1")
    for account_id, admin in team_accounts(conn):
        engineers = account_engineers(conn, account_id, engineers_per_account)
        outsider = source_rows(
            conn, "SELECT id::text FROM users WHERE account_id <> %s::uuid ORDER BY id LIMIT 1", account_id
        )
        engineers += [r[0] for r in outsider]
        for period in PERIODS:
            ask.team(account_id, admin, period)
            for engineer in engineers:
                ask.team(account_id, admin, period, engineer)
    for user_id in sampled_users(conn, users_sample):
        for period in PERIODS:
            ask.me(user_id, period)
    trees = source_rows(
        conn,
        "SELECT t.id::text, (SELECT min(u.id::text) FROM users u WHERE u.account_id = t.account_id AND u.is_active) "
        "FROM trees t ORDER BY 1",
    )
    for tree_id, member in trees:
        reader = member or (super_admin[0][0] if super_admin else None)
        if reader is None:
            continue
        for period in PERIODS:
            ask.flow(tree_id, reader, period)
    return ask.result


@dataclass
class Questions:
    """Asks the API (through `get`, as a user) and the app's live SQL the same question; the
    two bodies go to `result`."""

    conn: psycopg.Connection[Any]
    get: Callable[[str, str], dict[str, Any]]
    as_of: datetime
    result: Comparison = field(default_factory=Comparison)

    def team(self, account_id: str, admin: str, period: str, engineer: str | None = None) -> None:
        if engineer is None:
            what, path = f"team {account_id} {period}", f"/analytics/team?period={period}"
        else:
            what = f"team {account_id} engineer {engineer} {period}"
            path = f"/analytics/team?period={period}&engineer_id={engineer}"
        expected = live_sql.team_body(self.conn, account_id, period, self.as_of, engineer_id=engineer)
        self.result.check(what, TeamAnalyticsResponse, self.get(path, admin), expected)

    def me(self, user_id: str, period: str) -> None:
        expected = live_sql.me_body(self.conn, user_id, period, self.as_of)
        got = self.get(f"/analytics/me?period={period}", user_id)
        self.result.check(f"me {user_id} {period}", PersonalAnalyticsResponse, got, expected)

    def flow(self, tree_id: str, reader: str, period: str) -> None:
        expected = live_sql.flow_body(self.conn, tree_id, period, self.as_of, caller_id=reader)
        got = self.get(f"/analytics/flows/{tree_id}?period={period}", reader)
        self.result.check(f"flow {tree_id} {period}", FlowAnalyticsResponse, got, expected)


def team_accounts(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(account_id, one of its active team admins) for every account that has one."""
    return [
        (account_id, admin)
        for account_id, admin in source_rows(
            conn,
            "SELECT account_id::text, min(id::text) FROM users WHERE is_team_admin AND is_active "
            "GROUP BY account_id ORDER BY 1",
        )
    ]


def account_engineers(conn: psycopg.Connection[Any], account_id: str, limit: int) -> list[str]:
    """Up to `limit` users with sessions on the account's trees."""
    return [
        r[0]
        for r in source_rows(
            conn,
            "SELECT DISTINCT s.user_id::text FROM sessions s JOIN trees t ON t.id = s.tree_id "
            "WHERE t.account_id = %s::uuid ORDER BY 1 LIMIT %s",
            account_id,
            limit,
        )
    ]


def sampled_users(conn: psycopg.Connection[Any], limit: int) -> list[str]:
    """Up to `limit` active users, sampled by md5 of the id."""
    query = "SELECT id::text FROM users WHERE is_active ORDER BY md5(id::text) LIMIT %s"
    return [r[0] for r in source_rows(conn, query, limit)]


def get_body(client: TestClient, path: str, user_id: str) -> dict[str, Any]:
    response = client.get(path, headers=token(user_id))
    assert response.status_code == 200, f"{path} as {user_id}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body
