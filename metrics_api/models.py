"""Response models: the app's analytics JSON shapes, field for field, plus `as_of`.

Rates and medians arrive here already rounded (Python's round(), as the app did).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class OutcomeBreakdown(BaseModel):
    resolved: int
    escalated: int
    workaround: int
    unresolved: int


class SummaryStats(BaseModel):
    total_sessions: int
    completed_sessions: int
    completion_rate: float
    median_duration_minutes: float
    active_engineers: int
    outcome_breakdown: OutcomeBreakdown


class TimeSeriesPoint(BaseModel):
    date: str
    sessions: int
    resolved: int
    escalated: int
    workaround: int
    unresolved: int


class TopFlow(BaseModel):
    tree_id: str
    tree_name: str
    sessions: int
    completion_rate: float
    median_duration_minutes: float


class TopEngineer(BaseModel):
    user_id: str
    name: str
    sessions: int
    completion_rate: float
    median_duration_minutes: float


class StepFeedback(BaseModel):
    node_id: str
    node_title: str
    visits: int
    dropoffs: int
    dropoff_rate: float
    helpful_yes: int
    helpful_no: int
    helpful_rate: float


class RecentComment(BaseModel):
    rating: int
    comment: str
    created_at: datetime


class TeamAnalyticsResponse(BaseModel):
    period: str
    as_of: datetime
    summary: SummaryStats
    time_series: list[TimeSeriesPoint]
    top_flows: list[TopFlow]
    top_engineers: list[TopEngineer]


class PersonalAnalyticsResponse(BaseModel):
    period: str
    as_of: datetime
    summary: SummaryStats
    time_series: list[TimeSeriesPoint]
    top_flows: list[TopFlow]


class FlowAnalyticsResponse(BaseModel):
    tree_id: str
    tree_name: str
    period: str
    as_of: datetime
    summary: SummaryStats
    avg_csat: float | None
    total_ratings: int
    time_series: list[TimeSeriesPoint]
    step_feedback: list[StepFeedback]
    recent_comments: list[RecentComment]


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


class ErrorResponse(BaseModel):
    """Body of every error answer (401, 403, 404, 503), as FastAPI writes it."""

    detail: str
