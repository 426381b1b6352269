"""Store rows -> response bodies: the only place the API rounds (Python's round(), as the app did).

Pure: rows and values in, validated JSON bytes out. Must not query the store, read the
clock or know about HTTP. Row layouts are the column lists of metrics_api.reader.StoreQueries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from metrics_api.models import FlowAnalyticsResponse, PersonalAnalyticsResponse, TeamAnalyticsResponse

Row = Sequence[Any]
Body = dict[str, Any]

EMPTY_SUMMARY: Row = (0, 0, 0.0, None, 0, 0, 0, 0, 0)
"""A scope with no session in the window has no summary row: it reads as all zeros."""


def rate(value: float) -> float:
    """A 0..1 rate rounded to 3 decimals."""
    return round(value, 3)


def minutes(value: float | None) -> float:
    """A median duration rounded to 1 decimal; 0.0 when there was no completed session."""
    return round(value, 1) if value is not None else 0.0


def summary(row: Row | None) -> Body:
    total, completed, completion_rate, median, engineers, resolved, escalated, workaround, unresolved = (
        row if row is not None else EMPTY_SUMMARY
    )
    return {
        "total_sessions": total,
        "completed_sessions": completed,
        "completion_rate": rate(completion_rate),
        "median_duration_minutes": minutes(median),
        "active_engineers": engineers,
        "outcome_breakdown": {
            "resolved": resolved,
            "escalated": escalated,
            "workaround": workaround,
            "unresolved": unresolved,
        },
    }


def time_series(rows: Sequence[Row]) -> list[Body]:
    return [
        {"date": day.isoformat(), "sessions": n, "resolved": r, "escalated": e, "workaround": w, "unresolved": u}
        for day, n, r, e, w, u in rows
    ]


def top_flows(rows: Sequence[Row]) -> list[Body]:
    return [
        {
            "tree_id": tree_id,
            "name": name,
            "sessions": n,
            "completion_rate": rate(completion_rate),
            "median_duration_minutes": minutes(median),
        }
        for tree_id, name, n, completion_rate, median in rows
    ]


def top_engineers(rows: Sequence[Row]) -> list[Body]:
    return [
        {
            "user_id": user_id,
            "name": name,
            "sessions": n,
            "completion_rate": rate(completion_rate),
            "median_duration_minutes": minutes(median),
        }
        for user_id, name, n, completion_rate, median in rows
    ]


def step_feedback(rows: Sequence[Row]) -> list[Body]:
    """Ordered by the rounded dropoff_rate desc, then node_id (code points), as the app sorted.

    The app listed nodes in node_id order, then sorted stably by the rate it had rounded:
    two nodes at 1/82 and 1/84 both show 0.012 and keep node_id order.
    """
    shown = [
        {
            "node_id": node_id,
            "node_title": title,
            "helpful_yes": yes,
            "helpful_no": no,
            "helpful_rate": rate(helpful_rate),
            "visit_count": visits,
            "dropoff_count": dropoffs,
            "dropoff_rate": rate(dropoff_rate),
        }
        for node_id, title, visits, dropoffs, dropoff_rate, yes, no, helpful_rate in rows
    ]
    return sorted(shown, key=lambda step: (-step["dropoff_rate"], step["node_id"]))


def ratings(row: Row | None) -> tuple[float | None, int]:
    """(avg_csat rounded to 1, or None when no rating or a zero average, as the app's `if avg`; total_ratings)."""
    if row is None:
        return None, 0
    average, total = row
    return (round(average, 1) if average else None), total


def recent_comments(rows: Sequence[Row]) -> list[Body]:
    # Author never included; timestamps in UTC whatever the reading session's time zone.
    return [{"rating": r, "comment": comment, "created_at": at.astimezone(UTC)} for r, comment, at in rows]


def team(
    period: str,
    as_of: datetime,
    summary_row: Row | None,
    series_rows: Sequence[Row],
    flow_rows: Sequence[Row],
    engineer_rows: Sequence[Row],
) -> bytes:
    body = TeamAnalyticsResponse.model_validate(
        {
            "period": period,
            "as_of": as_of,
            "summary": summary(summary_row),
            "time_series": time_series(series_rows),
            "top_flows": top_flows(flow_rows),
            "top_engineers": top_engineers(engineer_rows),
        }
    )
    return body.model_dump_json().encode()


def personal(
    period: str, as_of: datetime, summary_row: Row | None, series_rows: Sequence[Row], flow_rows: Sequence[Row]
) -> bytes:
    body = PersonalAnalyticsResponse.model_validate(
        {
            "period": period,
            "as_of": as_of,
            # The app reports one engineer in the personal view, with or without sessions.
            "summary": {**summary(summary_row), "active_engineers": 1},
            "time_series": time_series(series_rows),
            "top_flows": top_flows(flow_rows),
        }
    )
    return body.model_dump_json().encode()


def flow(
    tree_id: str,
    tree_name: str,
    period: str,
    as_of: datetime,
    summary_row: Row | None,
    ratings_row: Row | None,
    series_rows: Sequence[Row],
    step_rows: Sequence[Row],
    comment_rows: Sequence[Row],
) -> bytes:
    avg_csat, total_ratings = ratings(ratings_row)
    body = FlowAnalyticsResponse.model_validate(
        {
            "tree_id": tree_id,
            "tree_name": tree_name,
            "period": period,
            "as_of": as_of,
            "summary": summary(summary_row),
            "avg_csat": avg_csat,
            "total_ratings": total_ratings,
            "time_series": time_series(series_rows),
            "step_feedback": step_feedback(step_rows),
            "recent_comments": recent_comments(comment_rows),
        }
    )
    return body.model_dump_json().encode()
