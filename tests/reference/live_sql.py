"""The app's analytics, as the app computed them live on PostgreSQL: the test oracle.

A plain transcription of DESIGN.md's metric semantics in the app's own style: one SQL
query per part of a response, the decision walk of step_feedback in Python over the JSONB
rows, Python's round() on floats. Used only by the differential tests and the benchmark's
live baseline; product code must never import it, and it must not share their logic.

`conn` is a psycopg connection whose TimeZone is UTC (`etl.database.connect`): days of
time_series are `cast(started_at AS date)` in the session's time zone, as the app ran it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg

DAYS = {"7d": 7, "30d": 30, "90d": 90}
NO_TITLE = "Unnamed"
UNKNOWN_STEP = "Unknown Step"

Conn = psycopg.Connection[Any]
Body = dict[str, Any]

# A session is in the window when it started at or after now - N days; no upper bound.
IN_WINDOW = "s.started_at >= %(now)s - make_interval(days => %(days)s::int)"
MEDIAN_MINUTES = (
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.completed_at - s.started_at) / 60) "
    "FILTER (WHERE s.completed_at IS NOT NULL)"
)

# Scopes: (sessions joined as needed, predicate). Fragments are constants of this module.
SESSIONS_OF_ACCOUNT = "sessions s JOIN trees t ON t.id = s.tree_id"
ACCOUNT = "t.account_id = %(account_id)s"
ACCOUNT_ENGINEER = "t.account_id = %(account_id)s AND s.user_id = %(engineer_id)s"
USER = "s.user_id = %(user_id)s"
TREE = "s.tree_id = %(tree_id)s"

SUMMARY = """
SELECT count(*),
       count(s.completed_at),
       {median},
       count(DISTINCT s.user_id),
       sum(CASE WHEN s.completed_at IS NOT NULL AND s.outcome = 'resolved' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.completed_at IS NOT NULL AND s.outcome = 'escalated' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.completed_at IS NOT NULL AND s.outcome = 'workaround' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.completed_at IS NOT NULL AND s.outcome = 'unresolved' THEN 1 ELSE 0 END)
FROM {sessions}
WHERE {scope} AND {window}
"""

TIME_SERIES = """
SELECT cast(s.started_at AS date),
       count(*),
       sum(CASE WHEN s.outcome = 'resolved' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.outcome = 'escalated' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.outcome = 'workaround' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.outcome = 'unresolved' THEN 1 ELSE 0 END)
FROM {sessions}
WHERE {scope} AND {window}
GROUP BY cast(s.started_at AS date)
ORDER BY 1
"""

# Only sessions whose tree exists; the join to trees is part of the list, whatever the scope.
TOP_FLOWS = """
SELECT t.id::text, t.name, count(*), count(s.completed_at), {median}
FROM sessions s JOIN trees t ON t.id = s.tree_id
WHERE {scope} AND {window}
GROUP BY t.id, t.name
ORDER BY count(*) DESC, t.name COLLATE "C", t.id::text COLLATE "C"
LIMIT 10
"""

# Account-wide even when the team view is narrowed to one engineer; only existing users.
TOP_ENGINEERS = """
SELECT u.id::text, coalesce(u.name, 'Unknown'), count(*), count(s.completed_at), {median}
FROM sessions s JOIN trees t ON t.id = s.tree_id JOIN users u ON u.id = s.user_id
WHERE t.account_id = %(account_id)s AND {window}
GROUP BY u.id, u.name
ORDER BY count(*) DESC, coalesce(u.name, 'Unknown') COLLATE "C", u.id::text COLLATE "C"
LIMIT 10
"""

TREE_ROW = "SELECT id::text, name, tree_structure FROM trees WHERE id = %(tree_id)s"

CSAT = """
SELECT avg(r.rating), count(*)
FROM session_ratings r
WHERE r.tree_id = %(tree_id)s AND r.created_at >= %(now)s - make_interval(days => %(days)s::int)
"""

# Not window-filtered; never selects the author.
RECENT_COMMENTS = """
SELECT r.rating, r.comment, r.created_at
FROM session_ratings r
WHERE r.tree_id = %(tree_id)s AND r.comment IS NOT NULL AND r.comment <> ''
ORDER BY r.created_at DESC, r.id DESC
LIMIT 10
"""

TREE_DECISIONS = "SELECT s.decisions, s.completed_at FROM sessions s WHERE s.tree_id = %(tree_id)s AND {window}"

HAS_STEP_RATINGS = "SELECT to_regclass('step_ratings') IS NOT NULL"

HELPFUL = """
SELECT sr.node_id, count(*) FILTER (WHERE sr.helpful), count(*) FILTER (WHERE NOT sr.helpful)
FROM step_ratings sr
WHERE sr.tree_id = %(tree_id)s AND sr.created_at >= %(now)s - make_interval(days => %(days)s::int)
GROUP BY sr.node_id
"""


def team_body(conn: Conn, account_id: str, period: str, now: datetime, engineer_id: str | None = None) -> Body:
    """Team Analytics: sessions on the account's trees; engineer_id narrows summary and time_series."""
    params = _params(period, now, account_id=account_id, engineer_id=engineer_id)
    narrowed = ACCOUNT if engineer_id is None else ACCOUNT_ENGINEER
    return {
        "period": period,
        "summary": _summary(conn, SESSIONS_OF_ACCOUNT, narrowed, params),
        "time_series": _time_series(conn, SESSIONS_OF_ACCOUNT, narrowed, params),
        "top_flows": _top_flows(conn, ACCOUNT, params),
        "top_engineers": _top_engineers(conn, params),
    }


def me_body(conn: Conn, user_id: str, period: str, now: datetime) -> Body:
    """My Analytics: the user's sessions, whatever their tree."""
    params = _params(period, now, user_id=user_id)
    return {
        "period": period,
        "summary": _summary(conn, "sessions s", USER, params),
        "time_series": _time_series(conn, "sessions s", USER, params),
        "top_flows": _top_flows(conn, USER, params),
    }


def flow_body(conn: Conn, tree_id: str, period: str, now: datetime) -> Body:
    """Flow Analytics: the tree's sessions, ratings and step feedback. LookupError if no such tree."""
    params = _params(period, now, tree_id=tree_id)
    tree = conn.execute(TREE_ROW, params).fetchone()
    if tree is None:
        raise LookupError(f"tree {tree_id} does not exist: flow_body answers only for existing trees")
    canonical_id, name, structure = tree
    avg_rating, total_ratings = _one(conn, CSAT, params)
    comments = conn.execute(RECENT_COMMENTS, params).fetchall()
    return {
        "tree_id": canonical_id,
        "tree_name": name,
        "period": period,
        "summary": _summary(conn, "sessions s", TREE, params),
        "avg_csat": round(float(avg_rating), 1) if avg_rating is not None else None,
        "total_ratings": total_ratings,
        "time_series": _time_series(conn, "sessions s", TREE, params),
        "step_feedback": _step_feedback(conn, structure, params),
        "recent_comments": [
            {"rating": rating, "comment": comment, "created_at": created_at} for rating, comment, created_at in comments
        ],
    }


def _params(period: str, now: datetime, **ids: str | None) -> dict[str, Any]:
    if period not in DAYS:
        raise ValueError(f"period {period!r} is not one of {sorted(DAYS)}")
    if now.tzinfo is None:
        raise ValueError(f"now {now.isoformat()} has no time zone: pass an aware datetime (UTC)")
    return {"now": now, "days": DAYS[period], **{k: uuid.UUID(v) if v is not None else None for k, v in ids.items()}}


def _one(conn: Conn, query: str, params: dict[str, Any]) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None  # aggregates without GROUP BY always return one row
    return tuple(row)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def _minutes(median: float | None) -> float:
    """Interpolated median in minutes, as percentile_cont(0.5), rounded to 1; 0.0 when none."""
    return round(float(median), 1) if median is not None else 0.0


def _summary(conn: Conn, sessions: str, scope: str, params: dict[str, Any]) -> Body:
    query = SUMMARY.format(median=MEDIAN_MINUTES, sessions=sessions, scope=scope, window=IN_WINDOW)
    total, completed, median, engineers, resolved, escalated, workaround, unresolved = _one(conn, query, params)
    return {
        "total_sessions": total,
        "completed_sessions": completed,
        "completion_rate": _rate(completed, total),
        "median_duration_minutes": _minutes(median),
        "active_engineers": engineers,
        "outcome_breakdown": {
            "resolved": int(resolved or 0),
            "escalated": int(escalated or 0),
            "workaround": int(workaround or 0),
            "unresolved": int(unresolved or 0),
        },
    }


def _time_series(conn: Conn, sessions: str, scope: str, params: dict[str, Any]) -> list[Body]:
    query = TIME_SERIES.format(sessions=sessions, scope=scope, window=IN_WINDOW)
    return [
        {
            "date": day.isoformat(),
            "sessions": count,
            "resolved": int(resolved),
            "escalated": int(escalated),
            "workaround": int(workaround),
            "unresolved": int(unresolved),
        }
        for day, count, resolved, escalated, workaround, unresolved in conn.execute(query, params).fetchall()
    ]


def _top_flows(conn: Conn, scope: str, params: dict[str, Any]) -> list[Body]:
    query = TOP_FLOWS.format(median=MEDIAN_MINUTES, scope=scope, window=IN_WINDOW)
    return [
        {
            "tree_id": tree_id,
            "tree_name": name,
            "sessions": count,
            "completion_rate": _rate(completed, count),
            "median_duration_minutes": _minutes(median),
        }
        for tree_id, name, count, completed, median in conn.execute(query, params).fetchall()
    ]


def _top_engineers(conn: Conn, params: dict[str, Any]) -> list[Body]:
    query = TOP_ENGINEERS.format(median=MEDIAN_MINUTES, window=IN_WINDOW)
    return [
        {
            "user_id": user_id,
            "name": name,
            "sessions": count,
            "completion_rate": _rate(completed, count),
            "median_duration_minutes": _minutes(median),
        }
        for user_id, name, count, completed, median in conn.execute(query, params).fetchall()
    ]


def _visited_node(element: Any) -> str | None:
    """The node a decision element visits: an object with a non-empty string node_id."""
    if isinstance(element, dict) and isinstance(element.get("node_id"), str) and element["node_id"]:
        return str(element["node_id"])
    return None


def _node_titles(structure: Any) -> dict[str, str]:
    """Titles by node id, walking depth-first pre-order from the root; a repeated id: the last walked wins."""
    titles: dict[str, str] = {}
    stack = [structure]  # explicit stack: deep trees must not hit the recursion limit
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("id"), str):
            title, question = node.get("title"), node.get("question")
            if isinstance(title, str) and title:
                titles[node["id"]] = title
            elif isinstance(question, str) and question:
                titles[node["id"]] = question
            else:
                titles[node["id"]] = NO_TITLE
        children = node.get("children")
        if isinstance(children, list):
            stack.extend(reversed(children))
    return titles


def _step_feedback(conn: Conn, structure: Any, params: dict[str, Any]) -> list[Body]:
    visits: dict[str, int] = {}
    dropoffs: dict[str, int] = {}
    for decisions, completed_at in conn.execute(TREE_DECISIONS.format(window=IN_WINDOW), params).fetchall():
        if not isinstance(decisions, list):
            continue
        for element in decisions:
            node_id = _visited_node(element)
            if node_id is not None:
                visits[node_id] = visits.get(node_id, 0) + 1
        last = _visited_node(decisions[-1]) if decisions else None
        if completed_at is None and last is not None:
            dropoffs[last] = dropoffs.get(last, 0) + 1
    helpful: dict[str, tuple[int, int]] = {}
    if _one(conn, HAS_STEP_RATINGS, params)[0]:
        for node_id, yes, no in conn.execute(HELPFUL, params).fetchall():
            helpful[node_id] = (yes, no)
    titles = _node_titles(structure)
    ranked: list[tuple[float, str, Body]] = []
    for node_id, count in visits.items():
        yes, no = helpful.get(node_id, (0, 0))
        dropped = dropoffs.get(node_id, 0)
        row = {
            "node_id": node_id,
            "node_title": titles.get(node_id, UNKNOWN_STEP),
            "visits": count,
            "dropoffs": dropped,
            "dropoff_rate": round(dropped / count, 3),
            "helpful_yes": yes,
            "helpful_no": no,
            "helpful_rate": _rate(yes, yes + no),
        }
        ranked.append((dropped / count, node_id, row))
    # By the unrounded rate, then node_id in code-point order.
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [row for _, _, row in ranked]
