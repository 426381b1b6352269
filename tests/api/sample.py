"""A small hand-written store: two accounts, a super admin, three trees, every period.

Numbers are chosen for rounding edges (2/3, a median of 12.25, a missing median) and
satisfy the publish audits (series add up to summaries, windows nest, history covers
90 days). The expected bodies in test_bodies.py are written out by hand from these rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

AS_OF = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
AS_OF_TEXT = "2026-11-20T09:30:15.123456Z"
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}

ACCOUNT_A = "aaaaaaaa-0000-4000-8000-000000000001"
ACCOUNT_B = "bbbbbbbb-0000-4000-8000-000000000002"
ADMIN_A = "a0000000-0000-4000-8000-00000000000a"  # team admin of A
ENGINEER_A = "a0000000-0000-4000-8000-0000000000e1"  # plain user of A
NAMELESS_A = "a0000000-0000-4000-8000-0000000000e2"  # plain user of A, name NULL
INACTIVE_A = "a0000000-0000-4000-8000-0000000000d1"  # deactivated (was a team admin)
ADMIN_B = "b0000000-0000-4000-8000-00000000000b"
ENGINEER_B = "b0000000-0000-4000-8000-0000000000e1"
SUPER_B = "b0000000-0000-4000-8000-0000000000ff"  # super admin, member of B, not a team admin
UNKNOWN_USER = "c0000000-0000-4000-8000-000000000000"
TREE_A1 = "71000000-0000-4000-8000-0000000000a1"
TREE_A2 = "71000000-0000-4000-8000-0000000000a2"
TREE_B1 = "71000000-0000-4000-8000-0000000000b1"
UNKNOWN_TREE = "71000000-0000-4000-8000-0000000000ff"

Row = dict[str, Any]
Day = tuple[date, int, int, int, int, int]  # day, sessions, resolved, escalated, workaround, unresolved
Stats = tuple[int, float | None, int, tuple[int, int, int, int]]  # completed, median, engineers, outcomes


def _user(user_id: str, account: str, name: str | None, *, active: bool = True, team: bool = False) -> Row:
    return {"user_id": user_id, "account_id": account, "name": name, "email": f"{user_id[:4]}@example.com",
            "is_active": active, "is_team_admin": team, "is_super_admin": False}


def in_window(day: date, period: str, as_of: datetime = AS_OF) -> bool:
    return day >= (as_of - timedelta(days=PERIOD_DAYS[period])).date()


def window(
    rows: dict[str, list[Row]], scope: str, scope_id: str, days: list[Day], stats: dict[str, Stats],
    *, engineer_id: str = "", as_of: datetime = AS_OF,
) -> None:
    """Summary + time series rows per period (series = the days inside the window), and the
    daily history the audits require for the 90-day totals."""
    for period, (completed, median, engineers, (res, esc, wor, unr)) in stats.items():
        series = [d for d in days if in_window(d[0], period, as_of)]
        total = sum(d[1] for d in series)
        key = {"period": period, "scope": scope, "scope_id": scope_id, "engineer_id": engineer_id}
        rows["window_summary"].append({**key, "total_sessions": total, "completed_sessions": completed,
                                       "completion_rate": completed / total, "median_duration_minutes": median,
                                       "active_engineers": engineers, "resolved": res, "escalated": esc,
                                       "workaround": wor, "unresolved": unr})
        rows["window_time_series"] += [
            {**key, "day": d, "sessions": n, "resolved": r, "escalated": e, "workaround": w, "unresolved": u}
            for d, n, r, e, w, u in series
        ]
    if scope != "account_engineer":
        rows["daily_sessions"] += [
            {"scope": scope, "scope_id": scope_id, "day": d, "sessions": n, "completed_sessions": r + e + w + u,
             "active_engineers": 1, "median_duration_minutes": None, "resolved": r, "escalated": e,
             "workaround": w, "unresolved": u}
            for d, n, r, e, w, u in days
        ]


def _top(period: str, scope: str, scope_id: str, rank: int, **values: Any) -> Row:
    return {"period": period, "scope": scope, "scope_id": scope_id, "rank": rank, **values}


def sample_rows() -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {name: [] for name in (
        "users", "trees", "window_summary", "window_time_series", "window_top_flows", "window_top_engineers",
        "window_step_feedback", "window_ratings", "recent_comments", "daily_sessions", "refresh_runs")}
    rows["users"] = [
        _user(ADMIN_A, ACCOUNT_A, "Ada", team=True),
        _user(ENGINEER_A, ACCOUNT_A, "Bob"),
        _user(NAMELESS_A, ACCOUNT_A, None),
        _user(INACTIVE_A, ACCOUNT_A, "Old", active=False, team=True),
        _user(ADMIN_B, ACCOUNT_B, "Bea", team=True),
        _user(ENGINEER_B, ACCOUNT_B, "Cy"),
        {**_user(SUPER_B, ACCOUNT_B, "Root"), "is_super_admin": True},
    ]
    rows["trees"] = [
        {"tree_id": TREE_A1, "account_id": ACCOUNT_A, "name": "Printer offline"},
        {"tree_id": TREE_A2, "account_id": ACCOUNT_A, "name": "VPN"},
        {"tree_id": TREE_B1, "account_id": ACCOUNT_B, "name": "Billing"},
    ]
    d = date
    # Account A: 7d = 3 sessions (2/3 completed, median 12.25), 30d = 6, 90d = 10.
    window(rows, "account", ACCOUNT_A,
           [(d(2026, 9, 1), 4, 0, 0, 0, 4), (d(2026, 10, 25), 3, 1, 0, 1, 0),
            (d(2026, 11, 18), 2, 1, 0, 0, 0), (d(2026, 11, 20), 1, 0, 1, 0, 0)],
           {"7d": (2, 12.25, 2, (1, 1, 0, 0)), "30d": (5, 7.0, 3, (2, 1, 1, 1)),
            "90d": (7, 15.55, 3, (2, 1, 1, 3))})
    # Engineer A within account A: one completed session.
    window(rows, "account_engineer", ACCOUNT_A, [(d(2026, 11, 18), 1, 1, 0, 0, 0)],
           {p: (1, 10 / 3, 1, (1, 0, 0, 0)) for p in PERIOD_DAYS}, engineer_id=ENGINEER_A)
    # Account B and its engineer: must never show up in account A's answers.
    window(rows, "account", ACCOUNT_B, [(d(2026, 11, 19), 5, 5, 0, 0, 0)],
           {p: (5, 1.0, 1, (5, 0, 0, 0)) for p in PERIOD_DAYS})
    window(rows, "account_engineer", ACCOUNT_B, [(d(2026, 11, 19), 5, 5, 0, 0, 0)],
           {p: (5, 1.0, 1, (5, 0, 0, 0)) for p in PERIOD_DAYS}, engineer_id=ENGINEER_B)
    # Engineer A's own sessions: one on A's tree, one on B's tree; half completed.
    window(rows, "user", ENGINEER_A, [(d(2026, 11, 18), 1, 1, 0, 0, 0), (d(2026, 11, 19), 1, 0, 0, 0, 0)],
           {p: (1, 10 / 3, 1, (1, 0, 0, 0)) for p in PERIOD_DAYS})
    window(rows, "user", ENGINEER_B, [(d(2026, 11, 19), 5, 5, 0, 0, 0)],
           {p: (5, 1.0, 1, (5, 0, 0, 0)) for p in PERIOD_DAYS})
    # Tree A1: 30d = 4 sessions, 3 completed, median 9.95; 7d = 2; 90d = 4.
    window(rows, "tree", TREE_A1, [(d(2026, 10, 25), 2, 1, 0, 1, 0), (d(2026, 11, 18), 2, 1, 0, 0, 0)],
           {"7d": (1, 4.0, 1, (1, 0, 0, 0)), "30d": (3, 9.95, 2, (1, 0, 1, 1)), "90d": (3, 9.95, 2, (1, 0, 1, 1))})
    # Tree A2: sessions but none completed (median NULL), no ratings, no steps.
    window(rows, "tree", TREE_A2, [(d(2026, 10, 25), 1, 0, 0, 0, 0), (d(2026, 11, 20), 1, 0, 0, 0, 0)],
           {p: (0, None, 1, (0, 0, 0, 0)) for p in PERIOD_DAYS})
    window(rows, "tree", TREE_B1, [(d(2026, 11, 19), 5, 5, 0, 0, 0)],
           {p: (5, 1.0, 1, (5, 0, 0, 0)) for p in PERIOD_DAYS})

    for period in PERIOD_DAYS:
        rows["window_top_flows"] += [
            _top(period, "account", ACCOUNT_A, 1, tree_id=TREE_A1, tree_name="Printer offline", sessions=4,
                 completed_sessions=3, completion_rate=0.75, median_duration_minutes=9.95),
            _top(period, "account", ACCOUNT_A, 2, tree_id=TREE_A2, tree_name="VPN", sessions=2,
                 completed_sessions=0, completion_rate=0.0, median_duration_minutes=None),
            _top(period, "user", ENGINEER_A, 1, tree_id=TREE_A1, tree_name="Printer offline", sessions=1,
                 completed_sessions=1, completion_rate=1.0, median_duration_minutes=10 / 3),
            _top(period, "user", ENGINEER_A, 2, tree_id=TREE_B1, tree_name="Billing", sessions=1,
                 completed_sessions=0, completion_rate=0.0, median_duration_minutes=None),
            _top(period, "account", ACCOUNT_B, 1, tree_id=TREE_B1, tree_name="Billing", sessions=5,
                 completed_sessions=5, completion_rate=1.0, median_duration_minutes=1.0),
        ]
        rows["window_top_engineers"] += [
            _top(period, "account", ACCOUNT_A, 1, user_id=NAMELESS_A, name="Unknown", sessions=3,
                 completed_sessions=2, completion_rate=2 / 3, median_duration_minutes=12.25),
            _top(period, "account", ACCOUNT_A, 2, user_id=ENGINEER_A, name="Bob", sessions=1,
                 completed_sessions=1, completion_rate=1.0, median_duration_minutes=10 / 3),
            _top(period, "account", ACCOUNT_B, 1, user_id=ENGINEER_B, name="Cy", sessions=5,
                 completed_sessions=5, completion_rate=1.0, median_duration_minutes=1.0),
        ]
        steps = [  # raw rates; n-b and n-a both round to 0.333 but n-b is the higher one
            ("n-b", "Check cable", 10000, 3334, 2, 1), ("n-a", "Restart", 10000, 3331, 0, 0),
            ("n10", "Call vendor", 4, 1, 0, 3), ("n2", "Unknown Step", 8, 2, 1, 1), ("n1", "Start", 4, 0, 5, 0),
        ]
        rows["window_step_feedback"] += [
            {"period": period, "tree_id": TREE_A1, "node_id": node, "node_title": title, "visits": visits,
             "dropoffs": drops, "dropoff_rate": drops / visits, "helpful_yes": yes, "helpful_no": no,
             "helpful_rate": yes / (yes + no) if yes + no else 0.0}
            for node, title, visits, drops, yes, no in steps
        ]
        rows["window_ratings"].append({"period": period, "tree_id": TREE_A1, "avg_csat": 4.25, "total_ratings": 4})
    rows["recent_comments"] = [
        {"tree_id": TREE_A1, "rank": 1, "rating_id": "r2", "rating": 5, "comment": "Fixed it",
         "created_at": datetime(2026, 11, 19, 8, 0, tzinfo=UTC)},
        {"tree_id": TREE_A1, "rank": 2, "rating_id": "r1", "rating": 2, "comment": "  ",
         "created_at": datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)},
    ]
    rows["refresh_runs"] = [_run("run-1", AS_OF - timedelta(days=1)), _run("run-2", AS_OF)]
    return rows


def _run(run_id: str, as_of: datetime) -> Row:
    return {"run_id": run_id, "mode": "nightly", "trigger": "manual", "as_of": as_of, "started_at": as_of,
            "finished_at": as_of + timedelta(seconds=3), "status": "success", "failed_step": None, "error": None,
            "extract_rows": 100, "extract_seconds": 1.0, "transform_rows": 50, "transform_seconds": 0.5,
            "publish_rows": 50, "publish_seconds": 0.25, "attempts": 1}


def tiny_rows(total: int, as_of: datetime) -> dict[str, list[Row]]:
    """A store whose only numbers are `total` sessions for account A (distinct per store)."""
    rows: dict[str, list[Row]] = {"users": [_user(ADMIN_A, ACCOUNT_A, "Ada", team=True)], "trees": [],
                                  "window_summary": [], "window_time_series": [], "daily_sessions": []}
    window(rows, "account", ACCOUNT_A, [(as_of.date(), total, 0, 0, 0, 0)],
           {p: (0, None, 1, (0, 0, 0, 0)) for p in PERIOD_DAYS}, as_of=as_of)
    return rows
