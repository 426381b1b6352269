"""A small hand-written store: two accounts, a super admin, three trees, every period.

Numbers are chosen for rounding edges (2/3, a median of 12.25, a missing median) and
satisfy the publish audits (series add up to summaries, windows nest, history covers
90 days). The expected bodies in test_routes.py are written out by hand from these rows.
"""

from __future__ import annotations

from collections.abc import Sequence
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
OUTCOMES = ("resolved", "escalated", "workaround", "unresolved")


def named(columns: str, *values: Any) -> Row:
    """A row from a space-separated column list and its values, in order."""
    names = columns.split()
    assert len(names) == len(values), (names, values)
    return dict(zip(names, values, strict=True))


def user(user_id: str, account: str, name: str | None, active: bool = True, team: bool = False) -> Row:
    columns = "user_id account_id name email is_active is_team_admin is_super_admin"
    return named(columns, user_id, account, name, f"{user_id[:4]}@example.com", active, team, False)


def in_window(day: date, period: str, as_of: datetime = AS_OF) -> bool:
    return day >= (as_of - timedelta(days=PERIOD_DAYS[period])).date()


def window(
    rows: dict[str, list[Row]],
    scope: str,
    scope_id: str,
    days: Sequence[Day],
    stats: dict[str, Stats],
    engineer_id: str = "",
    as_of: datetime = AS_OF,
) -> None:
    """Summary + time series rows per period (series = the days inside the window), and the
    daily history the audits require for the 90-day totals."""
    for period, (completed, median, engineers, outcomes) in stats.items():
        series = [d for d in days if in_window(d[0], period, as_of)]
        total = sum(d[1] for d in series)
        key = named("period scope scope_id engineer_id", period, scope, scope_id, engineer_id)
        columns = "total_sessions completed_sessions completion_rate median_duration_minutes active_engineers"
        values = (total, completed, completed / total, median, engineers)
        rows["window_summary"].append({**key, **named(columns, *values), **named(" ".join(OUTCOMES), *outcomes)})
        rows["window_time_series"] += [{**key, **named("day sessions " + " ".join(OUTCOMES), *d)} for d in series]
    if scope != "account_engineer":
        rows["daily_sessions"] += [
            {
                **named("scope scope_id day sessions " + " ".join(OUTCOMES), scope, scope_id, *d),
                **named("completed_sessions active_engineers median_duration_minutes", sum(d[2:]), 1, None),
            }
            for d in days
        ]


TOP = "period scope scope_id rank {} sessions completed_sessions completion_rate median_duration_minutes"


def top_flow(
    period: str, scope: str, scope_id: str, rank: int, tree_id: str, name: str, n: int, done: int, median: float | None
) -> Row:
    return named(
        TOP.format("tree_id tree_name"), period, scope, scope_id, rank, tree_id, name, n, done, done / n, median
    )


def top_engineer(
    period: str, scope: str, scope_id: str, rank: int, user_id: str, name: str, n: int, done: int, median: float | None
) -> Row:
    return named(TOP.format("user_id name"), period, scope, scope_id, rank, user_id, name, n, done, done / n, median)


def sample_rows() -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {
        "users": [
            user(ADMIN_A, ACCOUNT_A, "Ada", team=True),
            user(ENGINEER_A, ACCOUNT_A, "Bob"),
            user(NAMELESS_A, ACCOUNT_A, None),
            user(INACTIVE_A, ACCOUNT_A, "Old", active=False, team=True),
            user(ADMIN_B, ACCOUNT_B, "Bea", team=True),
            user(ENGINEER_B, ACCOUNT_B, "Cy"),
            {**user(SUPER_B, ACCOUNT_B, "Root"), "is_super_admin": True},
        ],
        "trees": [
            named("tree_id account_id name", TREE_A1, ACCOUNT_A, "Printer offline"),
            named("tree_id account_id name", TREE_A2, ACCOUNT_A, "VPN"),
            named("tree_id account_id name", TREE_B1, ACCOUNT_B, "Billing"),
        ],
    }
    for table in ("window_summary", "window_time_series", "daily_sessions", "window_top_flows"):
        rows[table] = []
    for table in ("window_top_engineers", "window_step_feedback", "window_ratings"):
        rows[table] = []
    d = date
    every = dict.fromkeys(PERIOD_DAYS)
    # Account A: 7d = 3 sessions (2/3 completed, median 12.25), 30d = 6, 90d = 10.
    account_a = [(d(2026, 9, 1), 4, 0, 0, 0, 4), (d(2026, 10, 25), 3, 1, 0, 1, 0)]
    account_a += [(d(2026, 11, 18), 2, 1, 0, 0, 0), (d(2026, 11, 20), 1, 0, 1, 0, 0)]
    stats_a: dict[str, Stats] = {"7d": (2, 12.25, 2, (1, 1, 0, 0)), "30d": (5, 7.0, 3, (2, 1, 1, 1))}
    window(rows, "account", ACCOUNT_A, account_a, {**stats_a, "90d": (7, 15.55, 3, (2, 1, 1, 3))})
    # Engineer A within account A: one completed session.
    one_done: dict[str, Stats] = {p: (1, 10 / 3, 1, (1, 0, 0, 0)) for p in every}
    window(rows, "account_engineer", ACCOUNT_A, [(d(2026, 11, 18), 1, 1, 0, 0, 0)], one_done, ENGINEER_A)
    # Account B, its engineer, its tree: must never show up in account A's answers.
    five: tuple[list[Day], dict[str, Stats]] = (
        [(d(2026, 11, 19), 5, 5, 0, 0, 0)],
        {p: (5, 1.0, 1, (5, 0, 0, 0)) for p in every},
    )
    window(rows, "account", ACCOUNT_B, *five)
    window(rows, "account_engineer", ACCOUNT_B, *five, engineer_id=ENGINEER_B)
    window(rows, "user", ENGINEER_B, *five)
    window(rows, "tree", TREE_B1, *five)
    # Engineer A's own sessions: one on A's tree, one on B's tree; half completed.
    window(rows, "user", ENGINEER_A, [(d(2026, 11, 18), 1, 1, 0, 0, 0), (d(2026, 11, 19), 1, 0, 0, 0, 0)], one_done)
    # Tree A1: 30d = 4 sessions, 3 completed, median 9.95; 7d = 2; 90d = 4.
    tree_a1: dict[str, Stats] = {"7d": (1, 4.0, 1, (1, 0, 0, 0)), "30d": (3, 9.95, 2, (1, 0, 1, 1))}
    tree_a1["90d"] = tree_a1["30d"]
    window(rows, "tree", TREE_A1, [(d(2026, 10, 25), 2, 1, 0, 1, 0), (d(2026, 11, 18), 2, 1, 0, 0, 0)], tree_a1)
    # Tree A2: sessions but none completed (median NULL), no ratings, no steps.
    none_done: dict[str, Stats] = {p: (0, None, 1, (0, 0, 0, 0)) for p in every}
    window(rows, "tree", TREE_A2, [(d(2026, 10, 25), 1, 0, 0, 0, 0), (d(2026, 11, 20), 1, 0, 0, 0, 0)], none_done)

    # Raw step rates: n-b (0.3334) and n-a (0.3331) both show as 0.333, n-b first; n10/n2 tie at 0.25.
    steps = [("n-b", "Check cable", 10000, 3334, 2, 1), ("n-a", "Restart", 10000, 3331, 0, 0)]
    steps += [("n10", "Call vendor", 4, 1, 0, 3), ("n2", "Unknown Step", 8, 2, 1, 1), ("n1", "Start", 4, 0, 5, 0)]
    step_columns = "period tree_id node_id node_title visits dropoffs dropoff_rate helpful_yes helpful_no helpful_rate"
    for p in PERIOD_DAYS:
        rows["window_top_flows"] += [
            top_flow(p, "account", ACCOUNT_A, 1, TREE_A1, "Printer offline", 4, 3, 9.95),
            top_flow(p, "account", ACCOUNT_A, 2, TREE_A2, "VPN", 2, 0, None),
            top_flow(p, "user", ENGINEER_A, 1, TREE_A1, "Printer offline", 1, 1, 10 / 3),
            top_flow(p, "user", ENGINEER_A, 2, TREE_B1, "Billing", 1, 0, None),
            top_flow(p, "account", ACCOUNT_B, 1, TREE_B1, "Billing", 5, 5, 1.0),
        ]
        rows["window_top_engineers"] += [
            top_engineer(p, "account", ACCOUNT_A, 1, NAMELESS_A, "Unknown", 3, 2, 12.25),
            top_engineer(p, "account", ACCOUNT_A, 2, ENGINEER_A, "Bob", 1, 1, 10 / 3),
            top_engineer(p, "account", ACCOUNT_B, 1, ENGINEER_B, "Cy", 5, 5, 1.0),
        ]
        rows["window_step_feedback"] += [
            named(step_columns, p, TREE_A1, node, title, visits, drops, drops / visits, yes, no, yes / (yes + no or 1))
            for node, title, visits, drops, yes, no in steps
        ]
        rows["window_ratings"].append(named("period tree_id avg_csat total_ratings", p, TREE_A1, 4.25, 4))
    comment_columns = "tree_id rank rating_id rating comment created_at"
    rows["recent_comments"] = [
        named(comment_columns, TREE_A1, 1, "r2", 5, "Fixed it", datetime(2026, 11, 19, 8, 0, tzinfo=UTC)),
        named(comment_columns, TREE_A1, 2, "r1", 2, "  ", datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ]
    rows["refresh_runs"] = [run("run-1", AS_OF - timedelta(days=1)), run("run-2", AS_OF)]
    return rows


def run(run_id: str, as_of: datetime) -> Row:
    columns = "run_id mode trigger as_of started_at finished_at status failed_step error attempts"
    stages = "extract_rows extract_seconds transform_rows transform_seconds publish_rows publish_seconds"
    return {
        **named(
            columns, run_id, "nightly", "manual", as_of, as_of, as_of + timedelta(seconds=3), "success", None, None, 1
        ),
        **named(stages, 100, 1.0, 50, 0.5, 50, 0.25),
    }


def tiny_rows(total: int, as_of: datetime) -> dict[str, list[Row]]:
    """A store whose only numbers are `total` sessions for account A (distinct per store)."""
    rows: dict[str, list[Row]] = {"users": [user(ADMIN_A, ACCOUNT_A, "Ada", team=True)], "trees": []}
    for table in ("window_summary", "window_time_series", "daily_sessions"):
        rows[table] = []
    stats: dict[str, Stats] = {p: (0, None, 1, (0, 0, 0, 0)) for p in PERIOD_DAYS}
    window(rows, "account", ACCOUNT_A, [(as_of.date(), total, 0, 0, 0, 0)], stats, as_of=as_of)
    return rows
