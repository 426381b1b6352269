"""The app's analytics, as the app computed them live on PostgreSQL: the test oracle.

A plain transcription of DESIGN.md's metric semantics in the app's own style (a query
per part, the decision walk in Python). Used only by the differential tests and the
benchmark's live baseline; it is not product code.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import psycopg

DAYS = {"7d": 7, "30d": 30, "90d": 90}
OUTCOME_SUMS = """
    sum(CASE WHEN outcome = 'resolved' THEN 1 ELSE 0 END),
    sum(CASE WHEN outcome = 'escalated' THEN 1 ELSE 0 END),
    sum(CASE WHEN outcome = 'workaround' THEN 1 ELSE 0 END),
    sum(CASE WHEN outcome = 'unresolved' THEN 1 ELSE 0 END)
"""
MEDIAN = "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at) / 60)"

Conn = psycopg.Connection[Any]


def _since(now: datetime, period: str) -> datetime:
    return now - timedelta(days=DAYS[period])


def _summary(conn: Conn, where: str, params: tuple[Any, ...], join: str = "") -> dict[str, Any]:
    total, completed, engineers = conn.execute(
        f"SELECT count(*), count(s.completed_at), count(DISTINCT s.user_id) FROM sessions s {join} WHERE {where}",
        params,
    ).fetchone()  # type: ignore[misc]
    median, resolved, escalated, workaround, unresolved = conn.execute(
        f"SELECT {MEDIAN}, {OUTCOME_SUMS} FROM sessions s {join} WHERE {where} AND s.completed_at IS NOT NULL",
        params,
    ).fetchone()  # type: ignore[misc]
    return {
        "total_sessions": total,
        "completed_sessions": completed,
        "completion_rate": round(completed / total, 3) if total else 0.0,
        "median_duration_minutes": round(float(median), 1) if median is not None else 0.0,
        "active_engineers": engineers,
        "outcome_breakdown": {
            "resolved": int(resolved or 0),
            "escalated": int(escalated or 0),
            "workaround": int(workaround or 0),
            "unresolved": int(unresolved or 0),
        },
    }


def _time_series(conn: Conn, where: str, params: tuple[Any, ...], join: str = "") -> list[dict[str, Any]]:
    rows = conn.execute(
        f"SELECT cast(s.started_at AS date), count(*), {OUTCOME_SUMS} FROM sessions s {join} WHERE {where} "
        "GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()
    return [
        {"date": day.isoformat(), "sessions": n, "resolved": int(r), "escalated": int(e),
         "workaround": int(w), "unresolved": int(u)}
        for day, n, r, e, w, u in rows
    ]


def _top_flows(conn: Conn, where: str, params: tuple[Any, ...], join: str = "") -> list[dict[str, Any]]:
    rows = conn.execute(
        f"""
        SELECT t.id::text, t.name, count(*), count(s.completed_at), {MEDIAN} FILTER (WHERE s.completed_at IS NOT NULL)
        FROM sessions s JOIN trees t ON t.id = s.tree_id {join}
        WHERE {where}
        GROUP BY t.id, t.name
        ORDER BY count(*) DESC, t.name COLLATE "C", t.id::text COLLATE "C"
        LIMIT 10
        """,
        params,
    ).fetchall()
    return [
        {"tree_id": tree_id, "tree_name": name, "sessions": n, "completion_rate": round(done / n, 3),
         "median_duration_minutes": round(float(median), 1) if median is not None else 0.0}
        for tree_id, name, n, done, median in rows
    ]


def team_body(conn: Conn, account_id: str, period: str, now: datetime, engineer_id: str | None = None) -> dict[str, Any]:
    join = "JOIN trees tt ON tt.id = s.tree_id"
    where = "tt.account_id = %s AND s.started_at >= %s"
    params: tuple[Any, ...] = (account_id, _since(now, period))
    narrowed_where, narrowed_params = where, params
    if engineer_id is not None:
        narrowed_where, narrowed_params = where + " AND s.user_id = %s", (*params, engineer_id)
    engineers = conn.execute(
        f"""
        SELECT u.id::text, coalesce(u.name, 'Unknown'), count(*), count(s.completed_at),
               {MEDIAN} FILTER (WHERE s.completed_at IS NOT NULL)
        FROM sessions s JOIN users u ON u.id = s.user_id {join}
        WHERE {where}
        GROUP BY u.id, u.name
        ORDER BY count(*) DESC, coalesce(u.name, 'Unknown') COLLATE "C", u.id::text COLLATE "C"
        LIMIT 10
        """,
        params,
    ).fetchall()
    return {
        "period": period,
        "summary": _summary(conn, narrowed_where, narrowed_params, join),
        "time_series": _time_series(conn, narrowed_where, narrowed_params, join),
        "top_flows": _top_flows(conn, where, params, "JOIN trees tt ON tt.id = s.tree_id"),
        "top_engineers": [
            {"user_id": user_id, "name": name, "sessions": n, "completion_rate": round(done / n, 3),
             "median_duration_minutes": round(float(median), 1) if median is not None else 0.0}
            for user_id, name, n, done, median in engineers
        ],
    }


def me_body(conn: Conn, user_id: str, period: str, now: datetime) -> dict[str, Any]:
    where = "s.user_id = %s AND s.started_at >= %s"
    params = (user_id, _since(now, period))
    return {
        "period": period,
        "summary": _summary(conn, where, params),
        "time_series": _time_series(conn, where, params),
        "top_flows": _top_flows(conn, where, params),
    }


def flow_body(conn: Conn, tree_id: str, period: str, now: datetime) -> dict[str, Any]:
    since = _since(now, period)
    where = "s.tree_id = %s AND s.started_at >= %s"
    params = (tree_id, since)
    name, structure = conn.execute("SELECT name, tree_structure FROM trees WHERE id = %s", (tree_id,)).fetchone()  # type: ignore[misc]
    avg, total = conn.execute(
        "SELECT avg(rating), count(*) FROM session_ratings WHERE tree_id = %s AND created_at >= %s", (tree_id, since)
    ).fetchone()  # type: ignore[misc]
    comments = conn.execute(
        "SELECT rating, comment, created_at FROM session_ratings WHERE tree_id = %s "
        "AND comment IS NOT NULL AND comment <> '' ORDER BY created_at DESC, id DESC LIMIT 10",
        (tree_id,),
    ).fetchall()
    return {
        "tree_id": tree_id,
        "tree_name": name,
        "period": period,
        "summary": _summary(conn, where, params),
        "avg_csat": round(float(avg), 1) if avg is not None else None,
        "total_ratings": total,
        "time_series": _time_series(conn, where, params),
        "step_feedback": _step_feedback(conn, tree_id, structure, since),
        "recent_comments": [{"rating": r, "comment": c, "created_at": at} for r, c, at in comments],
    }


def _node_titles(structure: Any) -> dict[str, str]:
    titles: dict[str, str] = {}

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if isinstance(node.get("id"), str):
            title = node.get("title")
            question = node.get("question")
            if isinstance(title, str) and title:
                titles[node["id"]] = title
            elif isinstance(question, str) and question:
                titles[node["id"]] = question
            else:
                titles[node["id"]] = "Unnamed"
        children = node.get("children")
        if isinstance(children, list):
            for child in children:
                walk(child)

    walk(structure)
    return titles


def _is_visit(element: Any) -> bool:
    return isinstance(element, dict) and isinstance(element.get("node_id"), str) and element["node_id"] != ""


def _step_feedback(conn: Conn, tree_id: str, structure: Any, since: datetime) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT decisions, completed_at FROM sessions WHERE tree_id = %s AND started_at >= %s", (tree_id, since)
    ).fetchall()
    visits: dict[str, int] = {}
    dropoffs: dict[str, int] = {}
    for decisions, completed_at in rows:
        if not isinstance(decisions, list):
            continue
        for element in decisions:
            if _is_visit(element):
                visits[element["node_id"]] = visits.get(element["node_id"], 0) + 1
        if completed_at is None and decisions and _is_visit(decisions[-1]):
            node = decisions[-1]["node_id"]
            dropoffs[node] = dropoffs.get(node, 0) + 1
    helpful: dict[str, tuple[int, int]] = {}
    if conn.execute("SELECT to_regclass('step_ratings') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
        for node, yes, no in conn.execute(
            "SELECT node_id, count(*) FILTER (WHERE helpful), count(*) FILTER (WHERE NOT helpful) "
            "FROM step_ratings WHERE tree_id = %s AND created_at >= %s GROUP BY node_id",
            (tree_id, since),
        ).fetchall():
            helpful[node] = (yes, no)
    titles = _node_titles(structure)
    feedback = []
    for node, count in visits.items():
        yes, no = helpful.get(node, (0, 0))
        drops = dropoffs.get(node, 0)
        feedback.append({
            "node_id": node,
            "node_title": titles.get(node, "Unknown Step"),
            "visits": count,
            "dropoffs": drops,
            "dropoff_rate": drops / count,
            "helpful_yes": yes,
            "helpful_no": no,
            "helpful_rate": yes / (yes + no) if yes + no else 0.0,
        })
    feedback.sort(key=lambda row: (-row["dropoff_rate"], row["node_id"]))
    for row in feedback:
        row["dropoff_rate"] = round(row["dropoff_rate"], 3)
        row["helpful_rate"] = round(row["helpful_rate"], 3)
    return feedback
