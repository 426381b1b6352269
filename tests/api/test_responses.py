"""Rounding and empty-answer rules, on rows as the store returns them (pure, no app)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from metrics_api import responses
from metrics_api.queries import CommentRow, RatingsRow, SummaryRow, TimeSeriesRow


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(2 / 3, 0.667), (5 / 6, 0.833), (0.0005, 0.001), (0.0015, 0.002), (0.3334, 0.333), (1.0, 1.0), (0.0, 0.0)],
)
def test_rates_round_to_three(raw: float, shown: float) -> None:
    assert responses.rate(raw) == shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(12.25, 12.2), (12.35, 12.3), (15.55, 15.6), (9.95, 9.9), (10 / 3, 3.3), (None, 0.0), (0.04, 0.0)],
    ids=["12.25", "12.35", "15.55", "9.95", "10/3", "null", "0.04"],
)
def test_minutes_round_to_one_as_python_does(raw: float | None, shown: float) -> None:
    assert responses.minutes(raw) == shown


def test_missing_summary_is_zeros() -> None:
    assert responses.summary(None) == {
        "total_sessions": 0,
        "completed_sessions": 0,
        "completion_rate": 0.0,
        "median_duration_minutes": 0.0,
        "active_engineers": 0,
        "outcome_breakdown": {"resolved": 0, "escalated": 0, "workaround": 0, "unresolved": 0},
    }


@pytest.mark.parametrize(
    ("row", "shown"), [(None, (None, 0)), ((4.25, 4), (4.2, 4)), ((3.0, 1), (3.0, 1)), ((4.35, 20), (4.3, 20))]
)
def test_ratings(row: tuple[float, int] | None, shown: tuple[float | None, int]) -> None:
    assert responses.ratings(RatingsRow(*row) if row is not None else None) == shown


def test_comment_times_are_utc_whatever_the_session_zone() -> None:
    local = datetime(2026, 11, 19, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    body = json.loads(
        responses.flow(
            "t", "T", "7d", datetime(2026, 11, 20, tzinfo=UTC), None, None, [], [], [CommentRow(4, "ok", local)]
        )
    )
    assert body["recent_comments"] == [{"rating": 4, "comment": "ok", "created_at": "2026-11-19T08:00:00Z"}]
    assert (body["avg_csat"], body["total_ratings"], body["step_feedback"]) == (None, 0, [])


def test_rendered_json_has_the_rounded_text() -> None:
    body = responses.personal(
        "30d",
        datetime(2026, 11, 20, tzinfo=UTC),
        SummaryRow(3, 2, 2 / 3, 12.25, 1, 1, 1, 0, 0),
        [TimeSeriesRow(date(2026, 11, 19), 3, 1, 1, 0, 0)],
        [],
    )
    assert b'"completion_rate":0.667,"median_duration_minutes":12.2' in body
    assert b'"as_of":"2026-11-20T00:00:00Z"' in body
    assert b'"date":"2026-11-19"' in body
