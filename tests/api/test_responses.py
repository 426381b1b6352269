"""Rounding and empty-answer rules of the response models, on values as the store returns them (pure, no app)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter

from etl.config import PERIODS
from etl.publish import PublishResult
from metrics_api import responses
from metrics_api.models import (
    DEFAULT_PERIOD,
    AnalyticsSummary,
    Csat,
    FlowRatingItem,
    Minutes,
    PersonalAnalyticsResponse,
    Rate,
)
from metrics_api.queries import SUMMARY, TIME_SERIES, TOP_FLOW, select
from metrics_api.snapshot import load_snapshot
from tests.api.sample import ACCOUNT_A, ADMIN_A, TREE_A1, UNKNOWN_TREE


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(2 / 3, 0.667), (5 / 6, 0.833), (0.0005, 0.001), (0.0015, 0.002), (0.3334, 0.333), (1.0, 1.0), (0.0, 0.0)],
)
def test_rates_round_to_three(raw: float, shown: float) -> None:
    assert TypeAdapter(Rate).validate_python(raw) == shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(12.25, 12.2), (12.35, 12.3), (15.55, 15.6), (9.95, 9.9), (10 / 3, 3.3), (None, 0.0), (0.04, 0.0)],
    ids=["12.25", "12.35", "15.55", "9.95", "10/3", "null", "0.04"],
)
def test_minutes_round_to_one_as_python_does(raw: float | None, shown: float) -> None:
    assert TypeAdapter(Minutes).validate_python(raw) == shown


def test_missing_summary_is_zeros() -> None:
    assert AnalyticsSummary.empty().model_dump() == {
        "total_sessions": 0,
        "completed_sessions": 0,
        "completion_rate": 0.0,
        "median_duration_minutes": 0.0,
        "active_engineers": 0,
        "outcome_breakdown": {"resolved": 0, "escalated": 0, "workaround": 0, "unresolved": 0},
    }
    assert AnalyticsSummary.empty().model_dump_json().count("0.0") == 2  # the figures are floats, as the app's


@pytest.mark.parametrize(("raw", "shown"), [(None, None), (0.0, None), (4.25, 4.2), (3.0, 3.0), (4.35, 4.3)])
def test_csat_rounds_to_one_and_a_zero_mean_is_none(raw: float | None, shown: float | None) -> None:
    assert TypeAdapter(Csat).validate_python(raw) == shown


def test_comment_times_are_utc_whatever_the_session_zone() -> None:
    local = datetime(2026, 11, 19, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    comment = FlowRatingItem(rating=4, comment="ok", created_at=local)
    assert comment.model_dump_json() == '{"rating":4,"comment":"ok","created_at":"2026-11-19T08:00:00Z"}'


def test_rows_are_selected_by_the_models_field_names() -> None:
    assert TOP_FLOW == "tree_id, tree_name AS name, sessions, completion_rate, median_duration_minutes"
    assert TIME_SERIES.startswith("CAST(day AS VARCHAR) AS date, sessions, ")
    assert SUMMARY.endswith(
        "{'resolved': resolved, 'escalated': escalated, 'workaround': workaround, 'unresolved': unresolved}"
        " AS outcome_breakdown"
    )
    assert select(FlowRatingItem) == "rating, comment, created_at"


def test_rendered_json_has_the_rounded_text() -> None:
    row = {
        "total_sessions": 3,
        "completed_sessions": 2,
        "completion_rate": 2 / 3,
        "median_duration_minutes": 12.25,
        "active_engineers": 1,
        "outcome_breakdown": {"resolved": 1, "escalated": 1, "workaround": 0, "unresolved": 0},
    }
    body = PersonalAnalyticsResponse.model_validate(
        {
            "period": "30d",
            "as_of": datetime(2026, 11, 20, tzinfo=UTC),
            "summary": row,
            "time_series": [{"date": date(2026, 11, 19).isoformat(), "sessions": 3, **row["outcome_breakdown"]}],
            "top_flows": [],
        }
    ).model_dump_json()
    assert '"completion_rate":0.667,"median_duration_minutes":12.2' in body
    assert '"as_of":"2026-11-20T00:00:00Z"' in body
    assert '"date":"2026-11-19"' in body


def test_the_default_period_is_one_of_the_periods() -> None:
    assert DEFAULT_PERIOD in PERIODS


def test_a_key_builds_its_body_and_other_keys_build_nothing(sample_store: PublishResult) -> None:
    snap = load_snapshot(sample_store.path.parent / sample_store.path.name.split(".v")[0])
    team = responses.build(snap, ("team", ACCOUNT_A, "", "7d"))
    assert team is not None and json.loads(team)["period"] == "7d"
    flow = responses.build(snap, ("flow", TREE_A1, "90d"))
    assert flow is not None and json.loads(flow)["tree_name"] == "Printer offline"
    assert responses.build(snap, ("flow", UNKNOWN_TREE, "7d")) is None  # not in this version
    assert responses.build(snap, ("page-choices", ADMIN_A)) is None  # the page's own key
