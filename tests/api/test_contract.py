"""The OpenAPI document holds the app's response shapes: its component names, its keys, its types.

APP is transcribed from the app's endpoint (the keyword arguments of its response
constructors, shared/reference/app_analytics_endpoint.py.txt) and the JSON types its
values have there; ADDITIONS are the keys flowmetrics adds, each marked `x-addition`.
A renamed, missing or retyped key fails with its name.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

INTEGER, NUMBER, STRING = {"type": "integer"}, {"type": "number"}, {"type": "string"}
DATETIME = {"type": "string", "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


SUMMARY_AND_SERIES = {"summary": ref("AnalyticsSummary"), "time_series": array_of("TimeSeriesPoint")}
APP: dict[str, dict[str, dict[str, Any]]] = {
    "TeamAnalyticsResponse": {
        **SUMMARY_AND_SERIES,
        "top_flows": array_of("TopFlow"),
        "top_engineers": array_of("TopEngineer"),
    },
    "PersonalAnalyticsResponse": {**SUMMARY_AND_SERIES, "top_flows": array_of("TopFlow")},
    "FlowAnalyticsResponse": {
        **SUMMARY_AND_SERIES,
        "avg_csat": {"anyOf": [NUMBER, {"type": "null"}]},
        "total_ratings": INTEGER,
        "step_feedback": array_of("StepFeedbackSummary"),
        "recent_comments": array_of("FlowRatingItem"),
    },
    "AnalyticsSummary": {
        "total_sessions": INTEGER,
        "completed_sessions": INTEGER,
        "completion_rate": NUMBER,
        "median_duration_minutes": NUMBER,
        "active_engineers": INTEGER,
        "outcome_breakdown": ref("OutcomeBreakdown"),
    },
    "OutcomeBreakdown": {"resolved": INTEGER, "escalated": INTEGER, "workaround": INTEGER, "unresolved": INTEGER},
    "TimeSeriesPoint": {
        "date": STRING,
        "sessions": INTEGER,
        "resolved": INTEGER,
        "escalated": INTEGER,
        "workaround": INTEGER,
        "unresolved": INTEGER,
    },
    "TopFlow": {
        "tree_id": STRING,
        "name": STRING,
        "sessions": INTEGER,
        "completion_rate": NUMBER,
        "median_duration_minutes": NUMBER,
    },
    "TopEngineer": {
        "user_id": STRING,
        "name": STRING,
        "sessions": INTEGER,
        "completion_rate": NUMBER,
        "median_duration_minutes": NUMBER,
    },
    "StepFeedbackSummary": {
        "node_id": STRING,
        "node_title": STRING,
        "helpful_yes": INTEGER,
        "helpful_no": INTEGER,
        "helpful_rate": NUMBER,
        "visit_count": INTEGER,
        "dropoff_count": INTEGER,
        "dropoff_rate": NUMBER,
    },
    "FlowRatingItem": {"rating": INTEGER, "comment": STRING, "created_at": DATETIME},
}
FRESHNESS = {"period": STRING, "as_of": DATETIME}
ADDITIONS: dict[str, dict[str, dict[str, Any]]] = {
    "TeamAnalyticsResponse": FRESHNESS,
    "PersonalAnalyticsResponse": FRESHNESS,
    "FlowAnalyticsResponse": {"tree_id": STRING, "tree_name": STRING, **FRESHNESS},
}


@pytest.fixture
def components(sample_client: TestClient) -> dict[str, Any]:
    schemas: dict[str, Any] = sample_client.get("/openapi.json").json()["components"]["schemas"]
    return schemas


def _type(prop: dict[str, Any]) -> dict[str, Any]:
    """A property's type, without its documentation."""
    return {k: v for k, v in prop.items() if k in {"type", "format", "items", "anyOf", "$ref"}}


@pytest.mark.parametrize("component", sorted(APP))
def test_each_component_has_exactly_the_apps_keys_plus_additions(components: dict[str, Any], component: str) -> None:
    assert component in components, f"OpenAPI has no component {component!r} (the app's class name)"
    properties = components[component]["properties"]
    expected = {**APP[component], **ADDITIONS.get(component, {})}
    missing, extra = expected.keys() - properties.keys(), properties.keys() - expected.keys()
    assert not missing, f"{component} lacks the app's keys {sorted(missing)}"
    assert not extra, (
        f"{component} has keys the app does not send and that are not documented additions: {sorted(extra)}"
    )
    for key, json_type in expected.items():
        assert _type(properties[key]) == json_type, f"{component}.{key} is {_type(properties[key])}, not {json_type}"
    assert set(components[component]["required"]) == set(expected), f"{component}: every key is always sent"


@pytest.mark.parametrize("component", sorted(APP))
def test_additions_and_only_additions_are_marked(components: dict[str, Any], component: str) -> None:
    properties = components[component]["properties"]
    marked = {key for key, prop in properties.items() if prop.get("x-addition")}
    assert marked == set(ADDITIONS.get(component, {})), f"{component}: x-addition on {sorted(marked)}"


def test_the_routes_answer_with_the_apps_components(sample_client: TestClient) -> None:
    paths = sample_client.get("/openapi.json").json()["paths"]
    for path, component in [
        ("/analytics/team", "TeamAnalyticsResponse"),
        ("/analytics/me", "PersonalAnalyticsResponse"),
        ("/analytics/flows/{tree_id}", "FlowAnalyticsResponse"),
    ]:
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == ref(component), path
