"""The three analytics endpoints on the hand-written store: exact bodies, scoping, access."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import bearer
from tests.api.sample import (
    ADMIN_A,
    ADMIN_B,
    AS_OF_TEXT,
    ENGINEER_A,
    ENGINEER_B,
    INACTIVE_A,
    NAMELESS_A,
    SUPER_B,
    TREE_A1,
    TREE_A2,
    TREE_B1,
    UNKNOWN_TREE,
    UNKNOWN_USER,
)
from tests.bodies import day, listed, step, summary

PERIODS = ["7d", "30d", "90d"]
Token = Callable[..., str]


@pytest.fixture
def client(sample_client: TestClient) -> TestClient:
    return sample_client


def get(client: TestClient, path: str, token: str) -> Any:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-data-as-of"] == AS_OF_TEXT
    assert response.headers["last-modified"] == "Fri, 20 Nov 2026 09:30:15 GMT"
    body = response.json()
    assert body["as_of"] == AS_OF_TEXT
    return body


ZERO = summary(0, 0, 0.0, 0.0, 0)
ZERO_ME = summary(0, 0, 0.0, 0.0, 1)  # the app reports one engineer in the personal view
A_TOP_FLOWS = [listed("tree", TREE_A1, "Printer offline", 4, 0.75, 9.9), listed("tree", TREE_A2, "VPN", 2, 0.0, 0.0)]
A_TOP_ENGINEERS = [
    listed("user", NAMELESS_A, "Unknown", 3, 0.667, 12.2),
    listed("user", ENGINEER_A, "Bob", 1, 1.0, 3.3),
]
A_SUMMARY = {
    "7d": summary(3, 2, 0.667, 12.2, 2, resolved=1, escalated=1),  # 2/3 -> 0.667; 12.25 -> 12.2 (Python's round)
    "30d": summary(6, 5, 0.833, 7.0, 3, resolved=2, escalated=1, workaround=1, unresolved=1),
    "90d": summary(10, 7, 0.7, 15.6, 3, resolved=2, escalated=1, workaround=1, unresolved=3),
}


def test_team_exact_body(client: TestClient, make_token: Token) -> None:
    assert get(client, "/analytics/team?period=7d", make_token(ADMIN_A)) == {
        "period": "7d",
        "as_of": AS_OF_TEXT,
        "summary": A_SUMMARY["7d"],
        "time_series": [day("2026-11-18", 2, resolved=1), day("2026-11-20", 1, escalated=1)],
        "top_flows": A_TOP_FLOWS,
        "top_engineers": A_TOP_ENGINEERS,
    }


@pytest.mark.parametrize("period", PERIODS)
def test_team_every_period(client: TestClient, make_token: Token, period: str) -> None:
    body = get(client, f"/analytics/team?period={period}", make_token(ADMIN_A))
    assert body["period"] == period
    assert body["summary"] == A_SUMMARY[period]
    assert sum(p["sessions"] for p in body["time_series"]) == A_SUMMARY[period]["total_sessions"]
    assert [p["date"] for p in body["time_series"]] == sorted(p["date"] for p in body["time_series"])


def test_team_defaults_to_30d(client: TestClient, make_token: Token) -> None:
    body = get(client, "/analytics/team", make_token(ADMIN_A))
    assert body["period"] == "30d"
    assert body["summary"] == A_SUMMARY["30d"]


def test_team_narrowed_to_an_engineer_keeps_top_lists(client: TestClient, make_token: Token) -> None:
    body = get(client, f"/analytics/team?period=30d&engineer_id={ENGINEER_A}", make_token(ADMIN_A))
    assert body["summary"] == summary(1, 1, 1.0, 3.3, 1, resolved=1)
    assert body["time_series"] == [day("2026-11-18", 1, resolved=1)]
    assert body["top_flows"] == A_TOP_FLOWS
    assert body["top_engineers"] == A_TOP_ENGINEERS


@pytest.mark.parametrize("engineer", [ENGINEER_B, UNKNOWN_USER], ids=["other-account-user", "unknown-user"])
def test_team_engineer_of_another_account_reads_as_no_sessions(
    client: TestClient, make_token: Token, engineer: str
) -> None:
    body = get(client, f"/analytics/team?engineer_id={engineer}", make_token(ADMIN_A))
    assert body["summary"] == ZERO
    assert body["time_series"] == []
    assert body["top_flows"] == A_TOP_FLOWS  # still account A's lists, never B's


def test_team_engineer_id_accepts_any_uuid_spelling(client: TestClient, make_token: Token) -> None:
    body = get(client, f"/analytics/team?engineer_id={ENGINEER_A.upper()}", make_token(ADMIN_A))
    assert body["summary"]["total_sessions"] == 1


def test_super_admin_team_is_their_own_account(client: TestClient, make_token: Token) -> None:
    body = get(client, "/analytics/team?period=7d", make_token(SUPER_B))
    assert body["summary"] == summary(5, 5, 1.0, 1.0, 1, resolved=5)
    assert [f["tree_id"] for f in body["top_flows"]] == [TREE_B1]


@pytest.mark.parametrize("user", [ENGINEER_A, NAMELESS_A], ids=["engineer", "nameless"])
def test_team_is_for_admins(client: TestClient, make_token: Token, user: str) -> None:
    response = client.get("/analytics/team", headers=bearer(make_token(user)))
    assert response.status_code == 403
    assert response.json() == {"detail": "Team analytics are for team admins and super admins"}


def test_team_forbidden_even_when_the_answer_is_cached(client: TestClient, make_token: Token) -> None:
    get(client, "/analytics/team", make_token(ADMIN_A))
    assert client.get("/analytics/team", headers=bearer(make_token(ENGINEER_A))).status_code == 403
    assert client.get("/analytics/team", headers=bearer(make_token(INACTIVE_A))).status_code == 403


def test_me_exact_body(client: TestClient, make_token: Token) -> None:
    assert get(client, "/analytics/me?period=30d", make_token(ENGINEER_A)) == {
        "period": "30d",
        "as_of": AS_OF_TEXT,
        "summary": summary(2, 1, 0.5, 3.3, 1, resolved=1),
        "time_series": [day("2026-11-18", 1, resolved=1), day("2026-11-19", 1)],
        "top_flows": [
            listed("tree", TREE_A1, "Printer offline", 1, 1.0, 3.3),
            listed("tree", TREE_B1, "Billing", 1, 0.0, 0.0),
        ],
    }


@pytest.mark.parametrize("period", PERIODS)
def test_me_without_sessions_is_all_zeros(client: TestClient, make_token: Token, period: str) -> None:
    body = get(client, f"/analytics/me?period={period}", make_token(ADMIN_A))
    assert body == {"period": period, "as_of": AS_OF_TEXT, "summary": ZERO_ME, "time_series": [], "top_flows": []}


def test_me_is_the_callers_own(client: TestClient, make_token: Token) -> None:
    assert get(client, "/analytics/me", make_token(ENGINEER_B))["summary"]["total_sessions"] == 5
    assert get(client, "/analytics/me", make_token(ENGINEER_A))["summary"]["total_sessions"] == 2


STEPS = [  # by the rounded dropoff_rate desc, then node_id: 0.3331 and 0.3334 both show 0.333; "n10" < "n2"
    step("n-a", "Restart", 10000, 3331, 0.333, 0, 0, 0.0),
    step("n-b", "Check cable", 10000, 3334, 0.333, 2, 1, 0.667),
    step("n10", "Call vendor", 4, 1, 0.25, 0, 3, 0.0),
    step("n2", "Unknown Step", 8, 2, 0.25, 1, 1, 0.5),
    step("n1", "Start", 4, 0, 0.0, 5, 0, 1.0),
]


def test_flow_exact_body(client: TestClient, make_token: Token) -> None:
    assert get(client, f"/analytics/flows/{TREE_A1}?period=30d", make_token(ENGINEER_A)) == {
        "tree_id": TREE_A1,
        "tree_name": "Printer offline",
        "period": "30d",
        "as_of": AS_OF_TEXT,
        "summary": summary(4, 3, 0.75, 9.9, 2, resolved=1, workaround=1, unresolved=1),  # 9.95 -> 9.9 (binary float)
        "avg_csat": 4.2,  # 4.25 -> 4.2
        "total_ratings": 4,
        "time_series": [day("2026-10-25", 2, resolved=1, workaround=1), day("2026-11-18", 2, resolved=1)],
        "step_feedback": STEPS,
        "recent_comments": [
            {"rating": 5, "comment": "Fixed it", "created_at": "2026-11-19T08:00:00Z"},
            {"rating": 2, "comment": "  ", "created_at": "2026-03-01T12:00:00.500000Z"},
        ],
    }


@pytest.mark.parametrize("period", PERIODS)
def test_flow_without_completions_or_ratings(client: TestClient, make_token: Token, period: str) -> None:
    body = get(client, f"/analytics/flows/{TREE_A2}?period={period}", make_token(ADMIN_A))
    sessions = 1 if period == "7d" else 2
    assert body["summary"] == summary(sessions, 0, 0.0, 0.0, 1)  # NULL median -> 0.0
    assert (body["avg_csat"], body["total_ratings"]) == (None, 0)
    assert body["step_feedback"] == []
    assert body["recent_comments"] == []
    assert body["period"] == period


def test_flow_path_accepts_any_uuid_spelling(client: TestClient, make_token: Token) -> None:
    body = get(client, f"/analytics/flows/{TREE_A1.upper()}", make_token(ADMIN_A))
    assert body["tree_id"] == TREE_A1


@pytest.mark.parametrize(
    ("user", "tree"),
    [
        (ADMIN_A, TREE_B1),
        (ENGINEER_A, TREE_B1),
        (ADMIN_B, TREE_A1),
        (ADMIN_A, UNKNOWN_TREE),
        (SUPER_B, UNKNOWN_TREE),
    ],
    ids=[
        "admin-other-account",
        "engineer-other-account",
        "other-admin",
        "unknown-tree",
        "super-admin-unknown-tree",
    ],
)
def test_flow_not_found(client: TestClient, make_token: Token, user: str, tree: str) -> None:
    response = client.get(f"/analytics/flows/{tree}", headers=bearer(make_token(user)))
    assert response.status_code == 404
    assert response.json() == {"detail": "Flow not found"}


def test_super_admin_reads_any_tree(client: TestClient, make_token: Token) -> None:
    body = get(client, f"/analytics/flows/{TREE_A1}?period=7d", make_token(SUPER_B))
    assert body["summary"]["total_sessions"] == 2
    assert body["tree_name"] == "Printer offline"


@pytest.mark.parametrize(
    "path",
    [
        "/analytics/team?period=1d",
        "/analytics/me?period=30",
        "/analytics/me?period=",
        "/analytics/me?period=30D",
        f"/analytics/flows/{TREE_A1}?period=365d",
        "/analytics/team?engineer_id=bob",
        "/analytics/team?engineer_id=",
        "/analytics/flows/not-a-uuid",
    ],
)
def test_bad_parameters_are_422(client: TestClient, make_token: Token, path: str) -> None:
    response = client.get(path, headers=bearer(make_token(ADMIN_A)))
    assert response.status_code == 422
    assert "detail" in response.json()
    # As in the app, the token is checked first: without one the same request is a 401.
    assert client.get(path).status_code == 401


def test_a_bad_period_gets_the_apps_422_body(client: TestClient, make_token: Token) -> None:
    """The app declares period as Query("30d", pattern="^(7d|30d|90d)$"): its 422 names the pattern."""
    response = client.get("/analytics/me?period=14d", headers=bearer(make_token(ADMIN_A)))
    (error,) = response.json()["detail"]
    assert (error["type"], error["loc"], error["input"]) == ("string_pattern_mismatch", ["query", "period"], "14d")
    assert error["ctx"] == {"pattern": "^(7d|30d|90d)$"}


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("view", ["team", "me", "flow"])
def test_every_endpoint_and_period_answers(client: TestClient, make_token: Token, view: str, period: str) -> None:
    path = {"team": "/analytics/team", "me": "/analytics/me", "flow": f"/analytics/flows/{TREE_A1}"}[view]
    first = client.get(f"{path}?period={period}", headers=bearer(make_token(ADMIN_A)))
    again = client.get(f"{path}?period={period}", headers=bearer(make_token(ADMIN_A)))
    assert first.status_code == again.status_code == 200
    assert first.content == again.content  # the cached answer is the built one
    assert first.json()["period"] == period


def test_inactive_user_is_403_everywhere(client: TestClient, make_token: Token) -> None:
    for path in ["/analytics/team", "/analytics/me", f"/analytics/flows/{TREE_A1}"]:
        response = client.get(path, headers=bearer(make_token(INACTIVE_A)))
        assert response.status_code == 403
        assert response.json() == {"detail": "User is inactive"}
