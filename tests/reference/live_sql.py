"""The app's analytics endpoint, transcribed: the test oracle.

A transcription of the app's live router (backend/app/api/endpoints/analytics.py, kept
beside the project's design as app_analytics_endpoint.py.txt): the same queries, one per
part of a response as the app ran them (its per-row completion counts included), its
Python post-processing, its round(), its sorts and its response keys. Each function
returns exactly the JSON body the app would send (datetimes as FastAPI writes them).

Where flowmetrics deliberately differs from the app, the difference is one named flag of
`Adjustments`, applied in the one place below that reads it. `OURS` (the default) is what
the API must equal; `APP` turns every adjustment off and is the app itself, crashes
included, for the tests that show both side by side.

The `*_between` functions answer the same questions for `start <= started_at < end`
(ratings by created_at in the same range): the analysts' ranges, with the app's rules.

Used only by the tests and the benchmark's live baseline; product code never imports it.
`conn` is a psycopg connection whose TimeZone is UTC (`etl.database.connect`): days of
time_series are `cast(started_at AS date)` in the session's time zone, as the app ran it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import TypeAdapter

Conn = psycopg.Connection[Any]
Body = dict[str, Any]

PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
"""The app's `_get_period_start` table; its Query pattern refuses any other period (422)."""


@dataclass(frozen=True)
class Adjustments:
    """flowmetrics' deliberate deviations from the app, one flag each (README, "Exactness")."""

    deterministic_ties: bool = True
    """Top 10s break count ties by the name as shown (code points), then the id as text;
    recent comments break created_at ties by id desc. The app's ORDER BY left ties to the
    planner, so the same data could answer differently from one call to the next."""
    helpful_from_step_ratings: bool = True
    """helpful_yes/helpful_no count the node's step_ratings of the tree created in the
    window (helpful_rate = yes / (yes + no)); the app always sent 0, 0 and 0.0."""
    robust_jsonb: bool = True
    """Dirty JSONB that made the app fail (a decisions value that is not an array, an
    element that is not an object, a node_id that is not a string, `children` that is not
    a list, a title that is not a string, trees deeper than Python's recursion limit) is
    read by the documented rule instead: only objects with a non-empty string node_id are
    visits, only string ids and titles count, only list children are walked."""
    tenant_isolation: bool = True
    """A flow of another account's tree is not found (404) unless the caller is a super
    admin; the app served any tree to any signed-in user."""


OURS = Adjustments()
APP = Adjustments(deterministic_ties=False, helpful_from_step_ratings=False, robust_jsonb=False, tenant_isolation=False)

_JSON_DATETIME = TypeAdapter(datetime)


@dataclass(frozen=True)
class Window:
    """Sessions with start <= started_at (< end when set); the app's windows have no end."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{value.isoformat()} has no time zone: pass an aware datetime (UTC)")

    def sessions(self) -> list[str]:
        return ["s.started_at >= %(start)s"] + (["s.started_at < %(end)s"] if self.end is not None else [])

    def ratings(self) -> list[str]:
        return ["r.created_at >= %(start)s"] + (["r.created_at < %(end)s"] if self.end is not None else [])

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


def period_window(period: str, now: datetime) -> Window:
    """The app's `_get_period_start`: now - 7, 30 or 90 days, no upper bound."""
    if period not in PERIOD_DAYS:
        raise ValueError(f"period {period!r} is not one of {sorted(PERIOD_DAYS)} (the app answers 422)")
    if now.tzinfo is None:
        raise ValueError(f"now {now.isoformat()} has no time zone: pass an aware datetime (UTC)")
    return Window(now - timedelta(days=PERIOD_DAYS[period]))


# --- the three endpoints ---------------------------------------------------------------


def team_body(
    conn: Conn, account_id: str, period: str, now: datetime, engineer_id: str | None = None, adjust: Adjustments = OURS
) -> Body:
    """GET /analytics/team as a team admin of `account_id`."""
    return team_body_between(conn, account_id, *_bounds(period, now), engineer_id, adjust)


def me_body(conn: Conn, user_id: str, period: str, now: datetime, adjust: Adjustments = OURS) -> Body:
    """GET /analytics/me as `user_id`."""
    return me_body_between(conn, user_id, *_bounds(period, now), adjust)


def flow_body(
    conn: Conn,
    tree_id: str,
    period: str,
    now: datetime,
    *,
    caller_id: str | None = None,
    adjust: Adjustments = OURS,
) -> Body:
    """GET /analytics/flows/{tree_id}; LookupError where the app (or, adjusted, we) answer 404."""
    return flow_body_between(conn, tree_id, *_bounds(period, now), caller_id=caller_id, adjust=adjust)


def team_body_between(
    conn: Conn,
    account_id: str,
    start: datetime,
    end: datetime | None,
    engineer_id: str | None = None,
    adjust: Adjustments = OURS,
) -> Body:
    window = Window(start, end)
    params = {**window.params(), "account_id": uuid.UUID(account_id)}
    base_filters = [*window.sessions(), "t.account_id = %(account_id)s"]
    if engineer_id:
        base_filters.append("s.user_id = %(engineer_id)s")
        params["engineer_id"] = uuid.UUID(engineer_id)
    summary = _build_summary(conn, base_filters, params, join_tree=True)
    time_series = _build_time_series(conn, base_filters, params, join_tree=True)

    top_flows_q = conn.execute(
        f"""
        SELECT t.id, t.name, count(s.id) AS sessions, {MEDIAN} AS median_duration
        FROM sessions s JOIN trees t ON s.tree_id = t.id
        WHERE {_and(*window.sessions(), "t.account_id = %(account_id)s")}
        GROUP BY t.id, t.name
        ORDER BY count(s.id) DESC{_ties(adjust, "t.name")}
        LIMIT 10
        """,
        params,
    ).fetchall()
    top_flows = []
    for row_id, row_name, row_sessions, row_median in top_flows_q:
        completed_count = _scalar(
            conn,
            f"SELECT count(*) FROM sessions s WHERE {_and('s.tree_id = %(row_id)s', *window.sessions(), COMPLETED)}",
            {**params, "row_id": row_id},
        )
        top_flows.append(_top_flow(row_id, row_name, row_sessions, row_median, completed_count or 0))

    top_engineers_q = conn.execute(
        f"""
        SELECT u.id, u.name, count(s.id) AS sessions, {MEDIAN} AS median_duration
        FROM sessions s JOIN users u ON s.user_id = u.id JOIN trees t ON s.tree_id = t.id
        WHERE {_and(*window.sessions(), "t.account_id = %(account_id)s")}
        GROUP BY u.id, u.name
        ORDER BY count(s.id) DESC{_ties(adjust, "coalesce(nullif(u.name, ''), 'Unknown')", "u.id")}
        LIMIT 10
        """,
        params,
    ).fetchall()
    top_engineers = []
    for row_id, row_name, row_sessions, row_median in top_engineers_q:
        completed_count = _scalar(
            conn,
            "SELECT count(*) FROM sessions s JOIN trees t ON s.tree_id = t.id WHERE "
            + _and("s.user_id = %(row_id)s", *window.sessions(), "t.account_id = %(account_id)s", COMPLETED),
            {**params, "row_id": row_id},
        )
        completed_count = completed_count or 0
        top_engineers.append(
            {
                "user_id": str(row_id),
                "name": row_name or "Unknown",
                "sessions": row_sessions,
                "completion_rate": round(completed_count / row_sessions, 3) if row_sessions > 0 else 0.0,
                "median_duration_minutes": round(float(row_median or 0), 1),
            }
        )
    return {"summary": summary, "time_series": time_series, "top_flows": top_flows, "top_engineers": top_engineers}


def me_body_between(
    conn: Conn, user_id: str, start: datetime, end: datetime | None, adjust: Adjustments = OURS
) -> Body:
    window = Window(start, end)
    params = {**window.params(), "user_id": uuid.UUID(user_id)}
    base_filters = [*window.sessions(), "s.user_id = %(user_id)s"]
    summary = _build_summary(conn, base_filters, params, join_tree=False)
    summary["active_engineers"] = 1  # the app's override for the personal view, sessions or not
    time_series = _build_time_series(conn, base_filters, params, join_tree=False)

    top_flows_q = conn.execute(
        f"""
        SELECT t.id, t.name, count(s.id) AS sessions, {MEDIAN} AS median_duration
        FROM sessions s JOIN trees t ON s.tree_id = t.id
        WHERE {_and(*base_filters)}
        GROUP BY t.id, t.name
        ORDER BY count(s.id) DESC{_ties(adjust, "t.name")}
        LIMIT 10
        """,
        params,
    ).fetchall()
    top_flows = []
    for row_id, row_name, row_sessions, row_median in top_flows_q:
        completed_count = _scalar(
            conn,
            "SELECT count(*) FROM sessions s WHERE "
            + _and("s.tree_id = %(row_id)s", "s.user_id = %(user_id)s", *window.sessions(), COMPLETED),
            {**params, "row_id": row_id},
        )
        top_flows.append(_top_flow(row_id, row_name, row_sessions, row_median, completed_count or 0))
    return {"summary": summary, "time_series": time_series, "top_flows": top_flows}


def flow_body_between(
    conn: Conn,
    tree_id: str,
    start: datetime,
    end: datetime | None,
    *,
    caller_id: str | None = None,
    adjust: Adjustments = OURS,
) -> Body:
    window = Window(start, end)
    params = {**window.params(), "tree_id": uuid.UUID(tree_id)}
    tree = conn.execute("SELECT id, account_id, tree_structure FROM trees WHERE id = %(tree_id)s", params).fetchone()
    if tree is None:
        raise LookupError(f"tree {tree_id} does not exist: the app answers 404 Flow not found")
    if adjust.tenant_isolation and caller_id is not None:
        caller = conn.execute(
            "SELECT account_id, is_super_admin FROM users WHERE id = %s", (uuid.UUID(caller_id),)
        ).fetchone()
        if caller is None or not (caller[1] or caller[0] == tree[1]):
            raise LookupError(f"tree {tree_id} is not in the account of {caller_id}: 404 Flow not found")
    tree_structure = tree[2]

    base_filters = [*window.sessions(), "s.tree_id = %(tree_id)s"]
    summary = _build_summary(conn, base_filters, params, join_tree=False)
    time_series = _build_time_series(conn, base_filters, params, join_tree=False)

    csat_row = conn.execute(
        "SELECT avg(r.rating), count(*) FROM session_ratings r WHERE "
        + _and("r.tree_id = %(tree_id)s", *window.ratings()),
        params,
    ).fetchone()
    assert csat_row is not None  # an aggregate without GROUP BY has one row
    avg_csat = round(float(csat_row[0]), 1) if csat_row[0] else None
    total_ratings = csat_row[1]

    sessions_data = conn.execute(
        f"SELECT s.decisions, s.completed_at FROM sessions s WHERE {_and(*base_filters)}", params
    ).fetchall()
    node_visits: dict[str, int] = {}
    node_dropoffs: dict[str, int] = {}
    for decisions_value, completed_at in sessions_data:
        decisions = _decision_list(decisions_value, adjust)
        for decision in decisions:
            node_id = _node_id(decision, adjust)
            if node_id:
                node_visits[node_id] = node_visits.get(node_id, 0) + 1
        if not completed_at and decisions:
            last_node = _node_id(decisions[-1], adjust)
            if last_node:
                node_dropoffs[last_node] = node_dropoffs.get(last_node, 0) + 1

    helpful = _helpful_counts(conn, window, params) if adjust.helpful_from_step_ratings else {}
    node_title_map = _extract_node_titles(tree_structure, adjust)
    step_feedback = []
    for node_id in sorted(node_visits.keys()):
        visits = node_visits.get(node_id, 0)
        dropoffs = node_dropoffs.get(node_id, 0)
        yes, no = helpful.get(node_id, (0, 0))
        node_title = node_title_map.get(node_id, "Unknown Step")
        if not isinstance(node_title, str):
            raise TypeError(f"the app's StepFeedbackSummary refuses node_title={node_title!r} (a 500)")
        step_feedback.append(
            {
                "node_id": node_id,
                "node_title": node_title,
                "helpful_yes": yes,
                "helpful_no": no,
                "helpful_rate": round(yes / (yes + no), 3) if yes + no else 0.0,
                "visit_count": visits,
                "dropoff_count": dropoffs,
                "dropoff_rate": round(dropoffs / visits, 3) if visits > 0 else 0.0,
            }
        )
    step_feedback.sort(key=lambda x: x["dropoff_rate"], reverse=True)  # stable: node_id order within a rate

    comments_q = conn.execute(
        f"""
        SELECT r.rating, r.comment, r.created_at FROM session_ratings r
        WHERE r.tree_id = %(tree_id)s AND r.comment IS NOT NULL AND r.comment != ''
        ORDER BY r.created_at DESC{", r.id DESC" if adjust.deterministic_ties else ""}
        LIMIT 10
        """,
        params,
    ).fetchall()
    recent_comments = [
        {"rating": rating, "comment": comment, "created_at": _json_datetime(created_at)}
        for rating, comment, created_at in comments_q
    ]
    return {
        "summary": summary,
        "avg_csat": avg_csat,
        "total_ratings": total_ratings,
        "time_series": time_series,
        "step_feedback": step_feedback,
        "recent_comments": recent_comments,
    }


# --- the app's helpers ---------------------------------------------------------------

MINUTES = "extract(epoch FROM s.completed_at - s.started_at) / 60"
MEDIAN = f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {MINUTES})"
COMPLETED = "s.completed_at IS NOT NULL"


def _bounds(period: str, now: datetime) -> tuple[datetime, None]:
    return period_window(period, now).start, None


def _and(*filters: str) -> str:
    return " AND ".join(filters)


def _scalar(conn: Conn, query: str, params: dict[str, Any]) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row is not None else None


def _ties(adjust: Adjustments, shown_name: str, id_column: str = "t.id") -> str:
    if not adjust.deterministic_ties:
        return ""
    return f', {shown_name} COLLATE "C", {id_column}::text COLLATE "C"'


def _build_summary(conn: Conn, base_filters: list[str], params: dict[str, Any], *, join_tree: bool) -> Body:
    source = "sessions s JOIN trees t ON s.tree_id = t.id" if join_tree else "sessions s"
    where = _and(*base_filters)
    total = _scalar(conn, f"SELECT count(*) FROM {source} WHERE {where}", params) or 0
    completed = _scalar(conn, f"SELECT count(*) FROM {source} WHERE {where} AND {COMPLETED}", params) or 0
    raw_median = _scalar(conn, f"SELECT {MEDIAN} FROM {source} WHERE {where} AND {COMPLETED}", params)
    median_duration = round(float(raw_median), 1) if raw_median is not None else 0.0
    active_engineers = _scalar(conn, f"SELECT count(DISTINCT s.user_id) FROM {source} WHERE {where}", params) or 0
    outcome_q = conn.execute(
        f"SELECT s.outcome, count(*) FROM {source} WHERE {where} AND {COMPLETED} AND s.outcome IS NOT NULL "
        "GROUP BY s.outcome",
        params,
    )
    outcomes = dict(outcome_q.fetchall())
    return {
        "total_sessions": total,
        "completed_sessions": completed,
        "completion_rate": round(completed / total, 3) if total > 0 else 0.0,
        "median_duration_minutes": median_duration,
        "active_engineers": active_engineers,
        "outcome_breakdown": {
            "resolved": outcomes.get("resolved", 0),
            "escalated": outcomes.get("escalated", 0),
            "workaround": outcomes.get("workaround", 0),
            "unresolved": outcomes.get("unresolved", 0),
        },
    }


def _build_time_series(conn: Conn, base_filters: list[str], params: dict[str, Any], *, join_tree: bool) -> list[Body]:
    source = "sessions s JOIN trees t ON s.tree_id = t.id" if join_tree else "sessions s"
    rows = conn.execute(
        f"""
        SELECT cast(s.started_at AS date) AS date, count(*) AS sessions,
               sum(CASE WHEN s.outcome = 'resolved' THEN 1 ELSE 0 END) AS resolved,
               sum(CASE WHEN s.outcome = 'escalated' THEN 1 ELSE 0 END) AS escalated,
               sum(CASE WHEN s.outcome = 'workaround' THEN 1 ELSE 0 END) AS workaround,
               sum(CASE WHEN s.outcome = 'unresolved' THEN 1 ELSE 0 END) AS unresolved
        FROM {source} WHERE {_and(*base_filters)}
        GROUP BY cast(s.started_at AS date)
        ORDER BY cast(s.started_at AS date)
        """,
        params,
    ).fetchall()
    return [
        {
            "date": str(day),
            "sessions": sessions,
            "resolved": int(resolved or 0),
            "escalated": int(escalated or 0),
            "workaround": int(workaround or 0),
            "unresolved": int(unresolved or 0),
        }
        for day, sessions, resolved, escalated, workaround, unresolved in rows
    ]


def _top_flow(row_id: Any, name: str, sessions: int, median: Any, completed_count: int) -> Body:
    return {
        "tree_id": str(row_id),
        "name": name,
        "sessions": sessions,
        "completion_rate": round(completed_count / sessions, 3) if sessions > 0 else 0.0,
        "median_duration_minutes": round(float(median or 0), 1),
    }


def _decision_list(value: Any, adjust: Adjustments) -> Any:
    """The app's `sess.decisions or []`; adjusted, a value that is not an array has no elements."""
    if adjust.robust_jsonb and not isinstance(value, list):
        return []
    return value or []


def _node_id(decision: Any, adjust: Adjustments) -> Any:
    """The app's `decision.get("node_id", "")`; adjusted, only a string node_id of an object counts."""
    if adjust.robust_jsonb:
        node_id = decision.get("node_id", "") if isinstance(decision, dict) else ""
        return node_id if isinstance(node_id, str) else ""
    return decision.get("node_id", "")


def _helpful_counts(conn: Conn, window: Window, params: dict[str, Any]) -> dict[str, tuple[int, int]]:
    if not _scalar(conn, "SELECT to_regclass('step_ratings') IS NOT NULL", {}):
        return {}  # the optional table is absent: all zero
    rows = conn.execute(
        "SELECT r.node_id, count(*) FILTER (WHERE r.helpful), count(*) FILTER (WHERE NOT r.helpful) "
        f"FROM step_ratings r WHERE {_and('r.tree_id = %(tree_id)s', *window.ratings())} GROUP BY r.node_id",
        params,
    ).fetchall()
    return {node_id: (yes, no) for node_id, yes, no in rows}


def _extract_node_titles(tree_structure: Any, adjust: Adjustments) -> dict[Any, Any]:
    """The app's recursive walk: node_id -> title or question or "Unnamed"; the last walked wins.

    Adjusted (robust JSONB): an explicit stack instead of recursion, only string ids and
    titles, only list children.
    """
    titles: dict[Any, Any] = {}
    if not adjust.robust_jsonb:

        def walk(node: Any) -> None:
            if not isinstance(node, dict):
                return
            node_id = node.get("id", "")
            title = node.get("title") or node.get("question") or "Unnamed"
            if node_id:
                titles[node_id] = title
            for child in node.get("children", []):
                walk(child)

        walk(tree_structure)
        return titles

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    stack = [tree_structure]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        node_id = node.get("id", "")
        if isinstance(node_id, str) and node_id:
            titles[node_id] = text(node.get("title")) or text(node.get("question")) or "Unnamed"
        children = node.get("children", [])
        if isinstance(children, list):
            stack.extend(reversed(children))
    return titles


def _json_datetime(value: datetime) -> str:
    """A timestamptz as the app's FastAPI response writes it (UTC, asyncpg's zone)."""
    text: str = _JSON_DATETIME.dump_python(value.astimezone(UTC), mode="json")
    return text
