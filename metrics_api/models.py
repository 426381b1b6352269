"""Response models: the app's analytics JSON shapes, key for key, plus documented additions.

Class names and keys are the app's own (app.schemas.analytics): the dashboards read these
keys, and clients generated from the OpenAPI document see the same component names. A
field the app does not send is declared with `addition()`; it is marked `x-addition` in
the OpenAPI schema and listed in docs/exactness.md (response keys).

The store's rows are validated straight into these models (metrics_api.queries selects
each model's fields by name), and the field types below are the only place the API rounds:
Python's round(), as the app did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

ADDITION = "x-addition"
"""OpenAPI marker of a field the app's own response does not have."""


def addition(description: str) -> Any:
    """A field flowmetrics adds to the app's response (never a renamed one)."""
    return Field(description=description, json_schema_extra={ADDITION: True})


def added_fields(model: type[BaseModel]) -> frozenset[str]:
    """The keys of `model` that the app's response does not have."""
    return frozenset(
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get(ADDITION)
    )


def _minutes(value: float | None) -> float:
    return round(value, 1) if value is not None else 0.0


def _csat(value: float | None) -> float | None:
    return round(value, 1) if value else None  # the app's `if avg`: no rating, or a zero mean


Rate = Annotated[
    float, AfterValidator(lambda value: round(value, 3)), Field(description="A 0..1 rate, rounded to 3 decimals.")
]
Minutes = Annotated[
    float,
    BeforeValidator(_minutes),
    Field(description="Median duration in minutes, rounded to 1 decimal; 0.0 when no session was completed."),
]
Csat = Annotated[
    float | None,
    BeforeValidator(_csat),
    Field(description="Mean session rating (1..5), rounded to 1 decimal; null when there is no rating."),
]
UtcTime = Annotated[datetime, AfterValidator(lambda value: value.astimezone(UTC))]
"""A timestamp in UTC, whatever the reading session's time zone."""


class OutcomeBreakdown(BaseModel):
    resolved: int
    escalated: int
    workaround: int
    unresolved: int


class AnalyticsSummary(BaseModel):
    total_sessions: int
    completed_sessions: int
    completion_rate: Rate
    median_duration_minutes: Minutes
    active_engineers: int
    outcome_breakdown: OutcomeBreakdown

    @classmethod
    def empty(cls) -> AnalyticsSummary:
        """A scope with no session in the window has no summary row: every figure reads as zero."""
        outcomes = dict.fromkeys(OutcomeBreakdown.model_fields, 0)
        return cls.model_validate({**dict.fromkeys(cls.model_fields, 0), "outcome_breakdown": outcomes})


class TimeSeriesPoint(BaseModel):
    date: str
    sessions: int
    resolved: int
    escalated: int
    workaround: int
    unresolved: int


class TopFlow(BaseModel):
    tree_id: str
    name: str
    sessions: int
    completion_rate: Rate
    median_duration_minutes: Minutes


class TopEngineer(BaseModel):
    user_id: str
    name: str
    sessions: int
    completion_rate: Rate
    median_duration_minutes: Minutes


class StepFeedbackSummary(BaseModel):
    node_id: str
    node_title: str
    helpful_yes: int
    helpful_no: int
    helpful_rate: Rate
    visit_count: int
    dropoff_count: int
    dropoff_rate: Rate


class FlowRatingItem(BaseModel):
    rating: int
    comment: str
    created_at: UtcTime


DEFAULT_PERIOD = "30d"
"""The period a request without one answers for (the app's Query default); the page opens on it."""
PERIOD_DOC = "The window the body answers for (the request's period)."
AS_OF_DOC = "When the data was computed: the refresh's reference time (also the X-Data-As-Of header)."


class TeamAnalyticsResponse(BaseModel):
    period: str = addition(PERIOD_DOC)
    as_of: datetime = addition(AS_OF_DOC)
    summary: AnalyticsSummary
    time_series: list[TimeSeriesPoint]
    top_flows: list[TopFlow]
    top_engineers: list[TopEngineer]


class PersonalAnalyticsResponse(BaseModel):
    period: str = addition(PERIOD_DOC)
    as_of: datetime = addition(AS_OF_DOC)
    summary: AnalyticsSummary
    time_series: list[TimeSeriesPoint]
    top_flows: list[TopFlow]


class FlowAnalyticsResponse(BaseModel):
    tree_id: str = addition("The tree's id, canonical UUID text.")
    tree_name: str = addition("The tree's name.")
    period: str = addition(PERIOD_DOC)
    as_of: datetime = addition(AS_OF_DOC)
    summary: AnalyticsSummary
    avg_csat: Csat
    total_ratings: int
    time_series: list[TimeSeriesPoint]
    step_feedback: list[StepFeedbackSummary]
    recent_comments: list[FlowRatingItem]


class HealthRun(BaseModel):
    """The newest refresh run as health shows it: no error text (`flowmetrics status` has it)."""

    run_id: str | None = None
    mode: str | None = None
    trigger: str | None = None
    status: str | None = None
    failed_step: str | None = None
    as_of: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class HealthResponse(BaseModel):
    """ok, degraded (an older version serves), or 503: no store, damaged, unavailable."""

    status: str
    store_version: str | None
    as_of: datetime | None
    built_at: datetime | None
    store_age_seconds: float | None
    last_run: HealthRun | None
    detail: str | None = None
    lag_seconds: float | None = Field(
        default=None, description="Seconds from the served store's as_of to now: how far the data trails the source."
    )
    last_incremental_at: datetime | None = Field(
        default=None, description="When the newest successful incremental refresh finished (null: none recorded)."
    )


class ErrorResponse(BaseModel):
    """Body of every error answer (401, 403, 404, 503), as FastAPI writes it."""

    detail: str
