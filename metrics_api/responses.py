"""Store rows -> response bodies. Pure; the only place the API rounds (Python's round())."""

from __future__ import annotations

from typing import Any

SUMMARY_COLUMNS = (
    "total_sessions, completed_sessions, completion_rate, median_duration_minutes, active_engineers, "
    "resolved, escalated, workaround, unresolved"
)
SERIES_COLUMNS = "day, sessions, resolved, escalated, workaround, unresolved"
TOP_COLUMNS = "sessions, completion_rate, median_duration_minutes"


def minutes(value: float | None) -> float:
    """Median minutes rounded to 1 decimal; 0.0 when there was no completed session."""
    return round(value, 1) if value is not None else 0.0


def summary(row: tuple[Any, ...] | None) -> dict[str, Any]:
    if row is None:
        row = (0, 0, 0.0, None, 0, 0, 0, 0, 0)
    total, completed, completion, median, engineers, resolved, escalated, workaround, unresolved = row
    return {
        "total_sessions": total,
        "completed_sessions": completed,
        "completion_rate": round(completion, 3),
        "median_duration_minutes": minutes(median),
        "active_engineers": engineers,
        "outcome_breakdown": {
            "resolved": resolved,
            "escalated": escalated,
            "workaround": workaround,
            "unresolved": unresolved,
        },
    }


def time_series(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {"date": day.isoformat(), "sessions": n, "resolved": r, "escalated": e, "workaround": w, "unresolved": u}
        for day, n, r, e, w, u in rows
    ]


def top_flows(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {"tree_id": tree_id, "tree_name": name, "sessions": n, "completion_rate": round(rate, 3),
         "median_duration_minutes": minutes(median)}
        for tree_id, name, n, rate, median in rows
    ]


def top_engineers(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {"user_id": user_id, "name": name, "sessions": n, "completion_rate": round(rate, 3),
         "median_duration_minutes": minutes(median)}
        for user_id, name, n, rate, median in rows
    ]


def step_feedback(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows arrive ordered by the raw dropoff_rate desc, then node_id (code-point order)."""
    return [
        {"node_id": node_id, "node_title": title, "visits": visits, "dropoffs": drops,
         "dropoff_rate": round(drop_rate, 3), "helpful_yes": yes, "helpful_no": no,
         "helpful_rate": round(helpful_rate, 3)}
        for node_id, title, visits, drops, drop_rate, yes, no, helpful_rate in rows
    ]


def csat(row: tuple[Any, ...] | None) -> tuple[float | None, int]:
    """(avg_csat rounded to 1 or None, total_ratings)."""
    if row is None:
        return None, 0
    average, total = row
    return (round(average, 1) if average is not None else None), total


def recent_comments(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"rating": rating, "comment": comment, "created_at": at} for rating, comment, at in rows]
