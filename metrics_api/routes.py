"""The analytics routes: the app's three endpoints plus health, answered from one snapshot each.

A request authenticates, then serves bytes from the snapshot's cache or builds them with
a few indexed lookups. Bodies are validated and serialised by the response models.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from etl.config import Config
from metrics_api import responses
from metrics_api.auth import authenticate
from metrics_api.models import (
    FlowAnalyticsResponse,
    HealthResponse,
    PersonalAnalyticsResponse,
    TeamAnalyticsResponse,
)
from metrics_api.reader import Snapshot, StoreReader, User, last_run

Period = Annotated[Literal["7d", "30d", "90d"], Query(description="window before as_of")]
Authorization = Annotated[str | None, Header(description="Bearer <JWT signed by the app>")]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, invalid or expired token, or unknown user"},
    403: {"description": "deactivated user, or not allowed to read this dashboard"},
    503: {"description": "no store published yet"},
}


def _summary(snap: Snapshot, period: str, scope: str, scope_id: str, engineer_id: str = "") -> dict[str, Any]:
    rows = snap.query(
        f"SELECT {responses.SUMMARY_COLUMNS} FROM window_summary "
        "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ?",
        [period, scope, scope_id, engineer_id],
    )
    return responses.summary(rows[0] if rows else None)


def _series(snap: Snapshot, period: str, scope: str, scope_id: str, engineer_id: str = "") -> list[dict[str, Any]]:
    return responses.time_series(
        snap.query(
            f"SELECT {responses.SERIES_COLUMNS} FROM window_time_series "
            "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ? ORDER BY day",
            [period, scope, scope_id, engineer_id],
        )
    )


def _top_flows(snap: Snapshot, period: str, scope: str, scope_id: str) -> list[dict[str, Any]]:
    return responses.top_flows(
        snap.query(
            f"SELECT tree_id, tree_name, {responses.TOP_COLUMNS} FROM window_top_flows "
            "WHERE period = ? AND scope = ? AND scope_id = ? ORDER BY rank",
            [period, scope, scope_id],
        )
    )


def _render(snap: Snapshot, model: type[BaseModel], body: dict[str, Any]) -> bytes:
    return model.model_validate({**body, "as_of": snap.as_of}).model_dump_json().encode()


def _respond(snap: Snapshot, body: bytes) -> Response:
    as_of = snap.as_of
    headers = {"X-Data-As-Of": as_of.isoformat(), "Last-Modified": format_datetime(as_of.astimezone(UTC), usegmt=True)}
    return Response(content=body, media_type="application/json", headers=headers)


def build_router(config: Config, reader: StoreReader) -> APIRouter:
    router = APIRouter()

    def caller(authorization: str | None) -> tuple[Snapshot, User]:
        snap = reader.current()  # one snapshot for the whole request
        return snap, authenticate(authorization, config, snap)

    @router.get("/analytics/team", response_model=TeamAnalyticsResponse, responses=ERRORS, tags=["analytics"])
    def team(
        authorization: Authorization = None,
        period: Period = "30d",
        engineer_id: Annotated[uuid.UUID | None, Query(description="narrow summary and time series")] = None,
    ) -> Response:
        """Team dashboard of the caller's account (team admins and super admins)."""
        snap, user = caller(authorization)
        if not (user.is_team_admin or user.is_super_admin):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the team dashboard is for team admins")
        engineer = str(engineer_id) if engineer_id else ""
        key = ("team", user.account_id, engineer, period)
        body = snap.cached(key)
        if body is None:
            scope = "account_engineer" if engineer else "account"
            top_engineers = snap.query(
                f"SELECT user_id, name, {responses.TOP_COLUMNS} FROM window_top_engineers "
                "WHERE period = ? AND scope = 'account' AND scope_id = ? ORDER BY rank",
                [period, user.account_id],
            )
            body = _render(snap, TeamAnalyticsResponse, {
                "period": period,
                "summary": _summary(snap, period, scope, user.account_id, engineer),
                "time_series": _series(snap, period, scope, user.account_id, engineer),
                "top_flows": _top_flows(snap, period, "account", user.account_id),
                "top_engineers": responses.top_engineers(top_engineers),
            })
            snap.remember(key, body)
        return _respond(snap, body)

    @router.get("/analytics/me", response_model=PersonalAnalyticsResponse, responses=ERRORS, tags=["analytics"])
    def me(authorization: Authorization = None, period: Period = "30d") -> Response:
        """The caller's own sessions, whatever their tree."""
        snap, user = caller(authorization)
        key = ("me", user.user_id, period)
        body = snap.cached(key)
        if body is None:
            body = _render(snap, PersonalAnalyticsResponse, {
                "period": period,
                "summary": _summary(snap, period, "user", user.user_id),
                "time_series": _series(snap, period, "user", user.user_id),
                "top_flows": _top_flows(snap, period, "user", user.user_id),
            })
            snap.remember(key, body)
        return _respond(snap, body)

    @router.get(
        "/analytics/flows/{tree_id}",
        response_model=FlowAnalyticsResponse,
        responses={**ERRORS, 404: {"description": "no such tree in the caller's account"}},
        tags=["analytics"],
    )
    def flow(tree_id: str, authorization: Authorization = None, period: Period = "30d") -> Response:
        """One flow's dashboard: summary, CSAT, time series, step feedback, recent comments."""
        snap, user = caller(authorization)
        try:
            tree = snap.trees.get(str(uuid.UUID(tree_id)))
        except ValueError:
            tree = None
        # Another account's tree is answered exactly like a missing one: no existence leak.
        if tree is None or (tree.account_id != user.account_id and not user.is_super_admin):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="flow not found")
        key = ("flow", tree.tree_id, period)
        body = snap.cached(key)
        if body is None:
            ratings = snap.query(
                "SELECT avg_csat, total_ratings FROM window_ratings WHERE period = ? AND tree_id = ?",
                [period, tree.tree_id],
            )
            avg_csat, total_ratings = responses.csat(ratings[0] if ratings else None)
            steps = snap.query(
                "SELECT node_id, node_title, visits, dropoffs, dropoff_rate, helpful_yes, helpful_no, helpful_rate "
                "FROM window_step_feedback WHERE period = ? AND tree_id = ? ORDER BY dropoff_rate DESC, node_id",
                [period, tree.tree_id],
            )
            comments = snap.query(
                "SELECT rating, comment, created_at FROM recent_comments WHERE tree_id = ? ORDER BY rank",
                [tree.tree_id],
            )
            body = _render(snap, FlowAnalyticsResponse, {
                "tree_id": tree.tree_id,
                "tree_name": tree.name,
                "period": period,
                "summary": _summary(snap, period, "tree", tree.tree_id),
                "avg_csat": avg_csat,
                "total_ratings": total_ratings,
                "time_series": _series(snap, period, "tree", tree.tree_id),
                "step_feedback": responses.step_feedback(steps),
                "recent_comments": responses.recent_comments(comments),
            })
            snap.remember(key, body)
        return _respond(snap, body)

    @router.get("/health", response_model=HealthResponse, responses={503: {"description": "no store yet"}}, tags=["ops"])
    def health() -> JSONResponse:
        """Store age, last refresh and its status. No auth."""
        run = last_run(config.runs_log)
        try:
            snap = reader.current()
        except Exception as exc:  # no store yet, or unreadable: say so with 503
            body = HealthResponse(status="no store", store_path=None, as_of=None, built_at=None,
                                  store_age_seconds=None, last_run=run)
            return JSONResponse(body.model_dump(mode="json") | {"detail": str(exc)}, status_code=503)
        built = datetime.fromisoformat(snap.meta["built_at"])
        body = HealthResponse(
            status="ok", store_path=str(snap.path), as_of=snap.as_of, built_at=built,
            store_age_seconds=round((datetime.now(UTC) - built).total_seconds(), 3), last_run=run,
        )
        return JSONResponse(body.model_dump(mode="json"))

    @router.get("/_ping", include_in_schema=False)
    def ping() -> Response:
        """Constant JSON: the framework's own floor, for benchmarks."""
        return Response(content=b'{"ok":true}', media_type="application/json")

    return router
