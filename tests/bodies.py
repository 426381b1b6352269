"""Builders of expected analytics bodies, written by hand: the keys the app sends, the values given.

Shared by the tests that compare whole bodies (the API's on a hand-written store, the
oracle's on a seeded PostgreSQL). Nothing here computes a figure.
"""

from __future__ import annotations

from typing import Any


def outcomes(resolved: int = 0, escalated: int = 0, workaround: int = 0, unresolved: int = 0) -> dict[str, int]:
    return {"resolved": resolved, "escalated": escalated, "workaround": workaround, "unresolved": unresolved}


def summary(total: int, completed: int, rate: float, median: float, engineers: int, **counts: int) -> dict[str, Any]:
    """A body's summary; `counts` are its outcome_breakdown's non-zero outcomes, as for outcomes()."""
    return {
        "total_sessions": total,
        "completed_sessions": completed,
        "completion_rate": rate,
        "median_duration_minutes": median,
        "active_engineers": engineers,
        "outcome_breakdown": outcomes(**counts),
    }


def day(date: str, sessions: int, **counts: int) -> dict[str, Any]:
    """A time_series point; `counts` as for outcomes()."""
    return {"date": date, "sessions": sessions, **outcomes(**counts)}


def listed(key: str, id_: str, name: str, sessions: int, rate: float, median: float) -> dict[str, Any]:
    """A top_flows row (key "tree") or top_engineers row (key "user")."""
    return {
        f"{key}_id": id_,
        "name": name,
        "sessions": sessions,
        "completion_rate": rate,
        "median_duration_minutes": median,
    }


def step(node_id: str, title: str, visits: int, dropoffs: int, rate: float, yes: int = 0, no: int = 0,
         helpful_rate: float = 0.0) -> dict[str, Any]:  # fmt: skip
    """A step_feedback row."""
    return {
        "node_id": node_id,
        "node_title": title,
        "helpful_yes": yes,
        "helpful_no": no,
        "helpful_rate": helpful_rate,
        "visit_count": visits,
        "dropoff_count": dropoffs,
        "dropoff_rate": rate,
    }
