"""Store rows -> response bodies: the only place the API rounds (Python's round(), as the app did).

Pure: rows and values in, validated JSON bytes out. Must not query the store, read the
clock or know about HTTP. Rows are read by column name (metrics_api.queries' row types).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from metrics_api.models import FlowAnalyticsResponse, PersonalAnalyticsResponse, TeamAnalyticsResponse
from metrics_api.queries import (
    CommentRow,
    RatingsRow,
    StepFeedbackRow,
    SummaryRow,
    TimeSeriesRow,
    TopEngineerRow,
    TopFlowRow,
)

Body = dict[str, Any]

EMPTY_SUMMARY = SummaryRow(0, 0, 0.0, None, 0, 0, 0, 0, 0)
"""A scope with no session in the window has no summary row: it reads as all zeros."""


def rate(value: float) -> float:
    """A 0..1 rate rounded to 3 decimals."""
    return round(value, 3)


def minutes(value: float | None) -> float:
    """A median duration rounded to 1 decimal; 0.0 when there was no completed session."""
    return round(value, 1) if value is not None else 0.0


def summary(row: SummaryRow | None) -> Body:
    row = row if row is not None else EMPTY_SUMMARY
    return {
        "total_sessions": row.total_sessions,
        "completed_sessions": row.completed_sessions,
        "completion_rate": rate(row.completion_rate),
        "median_duration_minutes": minutes(row.median_duration_minutes),
        "active_engineers": row.active_engineers,
        "outcome_breakdown": {
            "resolved": row.resolved,
            "escalated": row.escalated,
            "workaround": row.workaround,
            "unresolved": row.unresolved,
        },
    }


def time_series(rows: Sequence[TimeSeriesRow]) -> list[Body]:
    return [
        {
            "date": row.day.isoformat(),
            "sessions": row.sessions,
            "resolved": row.resolved,
            "escalated": row.escalated,
            "workaround": row.workaround,
            "unresolved": row.unresolved,
        }
        for row in rows
    ]


def top_flows(rows: Sequence[TopFlowRow]) -> list[Body]:
    return [
        {
            "tree_id": row.tree_id,
            "name": row.tree_name,
            "sessions": row.sessions,
            "completion_rate": rate(row.completion_rate),
            "median_duration_minutes": minutes(row.median_duration_minutes),
        }
        for row in rows
    ]


def top_engineers(rows: Sequence[TopEngineerRow]) -> list[Body]:
    return [
        {
            "user_id": row.user_id,
            "name": row.name,
            "sessions": row.sessions,
            "completion_rate": rate(row.completion_rate),
            "median_duration_minutes": minutes(row.median_duration_minutes),
        }
        for row in rows
    ]


def step_feedback(rows: Sequence[StepFeedbackRow]) -> list[Body]:
    """Ordered by the rounded dropoff_rate desc, then node_id (code points), as the app sorted.

    The app listed nodes in node_id order, then sorted stably by the rate it had rounded:
    two nodes at 1/82 and 1/84 both show 0.012 and keep node_id order.
    """
    shown = [
        {
            "node_id": row.node_id,
            "node_title": row.node_title,
            "helpful_yes": row.helpful_yes,
            "helpful_no": row.helpful_no,
            "helpful_rate": rate(row.helpful_rate),
            "visit_count": row.visits,
            "dropoff_count": row.dropoffs,
            "dropoff_rate": rate(row.dropoff_rate),
        }
        for row in rows
    ]
    return sorted(shown, key=lambda step: (-step["dropoff_rate"], step["node_id"]))


def ratings(row: RatingsRow | None) -> tuple[float | None, int]:
    """(avg_csat rounded to 1, or None when no rating or a zero average, as the app's `if avg`; total_ratings)."""
    if row is None:
        return None, 0
    return (round(row.avg_csat, 1) if row.avg_csat else None), row.total_ratings


def recent_comments(rows: Sequence[CommentRow]) -> list[Body]:
    # Author never included; timestamps in UTC whatever the reading session's time zone.
    return [
        {"rating": row.rating, "comment": row.comment, "created_at": row.created_at.astimezone(UTC)} for row in rows
    ]


def team(
    period: str,
    as_of: datetime,
    summary_row: SummaryRow | None,
    series_rows: Sequence[TimeSeriesRow],
    flow_rows: Sequence[TopFlowRow],
    engineer_rows: Sequence[TopEngineerRow],
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
    period: str,
    as_of: datetime,
    summary_row: SummaryRow | None,
    series_rows: Sequence[TimeSeriesRow],
    flow_rows: Sequence[TopFlowRow],
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
    summary_row: SummaryRow | None,
    ratings_row: RatingsRow | None,
    series_rows: Sequence[TimeSeriesRow],
    step_rows: Sequence[StepFeedbackRow],
    comment_rows: Sequence[CommentRow],
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
