"""The analytics routes (the app's three endpoints), health and a constant ping.

A request verifies its token (a dependency, so as in the app a bad token is a 401
before a bad parameter is a 422), takes one snapshot, authorises the caller from that
snapshot, then answers with cached bytes or builds them with a few lookups in a worker
thread. The event loop never waits on DuckDB: cache hits are answered on it directly,
store reads and store opening run in the thread pool. Must not read PostgreSQL, the
environment or the clock (except health's age and lag).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, ValidationError

from etl.config import PERIODS, Config
from etl.errors import StoreUnavailable
from etl.runs import last_record
from etl.scopes import NO_ENGINEER
from metrics_api import responses
from metrics_api.auth import TokenVerifier, caller, may_read_tree, require_team_reader
from metrics_api.models import (
    DEFAULT_PERIOD,
    ErrorResponse,
    FlowAnalyticsResponse,
    HealthResponse,
    HealthRun,
    PersonalAnalyticsResponse,
    TeamAnalyticsResponse,
)
from metrics_api.ops import LastSuccess, timestamp
from metrics_api.reader import StoreReader
from metrics_api.snapshot import Key, Snapshot

Period = Annotated[
    str,
    Query(pattern=f"^({'|'.join(PERIODS)})$", description="Window before as_of: " + ", ".join(PERIODS) + "."),
]
"""Declared as the app declares it (a pattern, default DEFAULT_PERIOD), so a bad period gets the app's 422 body."""
BEARER = "bearerAuth"
"""OpenAPI security scheme of the analytics routes (declared in app.py). The header is read
from the request directly: FastAPI's HTTPBearer dependency cost more than the rest of a
cached answer."""


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


SECURED: dict[str, Any] = {"security": [{BEARER: []}]}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("Missing, garbled, expired or badly signed token, or unknown user."),
    403: _error("Inactive user."),
    503: _error("No store published yet, or it cannot be opened."),
}
TEAM_ERRORS = {**ERRORS, 403: _error("Inactive user, or neither team admin nor super admin.")}
FLOW_ERRORS = {**ERRORS, 404: _error("No such tree in the caller's account.")}
PING = b'{"status":"ok"}'


async def _cached_answer(snapshot: Snapshot, key: Key) -> Response:
    """The snapshot's cached bytes for `key` (metrics_api.responses), else built off the event
    loop and remembered."""
    body = snapshot.cached(key)
    if body is None:
        body = await run_in_threadpool(responses.build, snapshot, key)
        if body is None:  # a flow whose tree the snapshot lacks: its route checked that first
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Flow not found")
        snapshot.remember(key, body)
    return _answer(snapshot, body)


def _answer(snapshot: Snapshot, body: bytes) -> Response:
    response = Response(content=body, media_type="application/json")
    response.raw_headers.extend(snapshot.raw_headers)
    return response


def _last_run(runs_log: Path, snapshot: Snapshot | None) -> dict[str, Any] | None:
    """Newest run: the run history beside the store (it also records failed runs after the
    last publish); else the newest refresh_runs row of the store itself."""
    record = last_record(runs_log)
    if record is not None:
        return record
    return snapshot.last_run if snapshot is not None else None


# Health is unauthenticated: its words are fixed, never an error's text (which may name the
# source's user, host, port and database, or the store's path). `flowmetrics status` and the
# API's log keep the full messages for operators.
HEALTH_DETAIL = {
    "no store": "no store published yet: run `flowmetrics refresh --mode nightly`",
    "damaged": "the published store changed on disk after it was published or cannot be read: "
    "a new refresh publishes a good one (see the API log)",
    "unavailable": "the published store cannot be opened (see the API log and `flowmetrics status`)",
    "degraded": "the newest published store could not be opened: the previous one is served (see the API log)",
}


def _health_run(run: dict[str, Any] | None) -> HealthRun | None:
    """What health may tell anyone about a run: when, which, and the step that failed."""
    if run is None:
        return None
    try:
        return HealthRun.model_validate({k: run.get(k) for k in HealthRun.model_fields})
    except ValidationError:  # a run history line not written by this version: no reason for a 500
        return None


def _finished_at(run: dict[str, Any] | None) -> datetime | None:
    stamp = timestamp(run.get("finished_at")) if run is not None else None
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None


def build_router(config: Config, reader: StoreReader, verifier: TokenVerifier) -> APIRouter:
    router = APIRouter()
    last_incremental = LastSuccess(config.runs_log, "incremental")

    async def bearer_user(request: Request) -> str:
        # async: verified on the event loop (a cached token costs a dict lookup).
        return verifier.bearer_user_id(request.headers.get("authorization"))

    authenticated = Depends(bearer_user)

    async def snapshot() -> Snapshot:
        # One snapshot per request; opening a newly published version runs off the loop.
        current = reader.snapshot_nowait()
        return current if current is not None else await run_in_threadpool(reader.snapshot)

    def analytics(
        path: str, model: type[BaseModel], errors: dict[int | str, dict[str, Any]]
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """An analytics route: its response model and error answers, bearer-secured in OpenAPI."""
        return router.get(path, response_model=model, responses=errors, tags=["analytics"], openapi_extra=SECURED)

    @analytics("/analytics/team", TeamAnalyticsResponse, TEAM_ERRORS)
    async def team(
        user_id: str = authenticated,
        period: Period = DEFAULT_PERIOD,
        engineer_id: Annotated[
            uuid.UUID | None, Query(description="Narrow summary and time series to this user's sessions.")
        ] = None,
    ) -> Response:
        """Team Analytics of the caller's account (team admins and super admins)."""
        snap = await snapshot()
        user = caller(snap, user_id)
        require_team_reader(user)
        engineer = str(engineer_id) if engineer_id is not None else NO_ENGINEER
        return await _cached_answer(snap, ("team", user.account_id, engineer, period))

    @analytics("/analytics/me", PersonalAnalyticsResponse, ERRORS)
    async def me(user_id: str = authenticated, period: Period = DEFAULT_PERIOD) -> Response:
        """My Analytics: the caller's own sessions, whatever their tree."""
        snap = await snapshot()
        user = caller(snap, user_id)
        return await _cached_answer(snap, ("me", user.user_id, period))

    @analytics("/analytics/flows/{tree_id}", FlowAnalyticsResponse, FLOW_ERRORS)
    async def flow(
        tree_id: Annotated[uuid.UUID, PathParam(description="Tree id (UUID).")],
        user_id: str = authenticated,
        period: Period = DEFAULT_PERIOD,
    ) -> Response:
        """Flow Analytics of one tree of the caller's account (super admins: any tree)."""
        snap = await snapshot()
        user = caller(snap, user_id)
        tree = snap.trees.get(str(tree_id))
        # Another account's tree answers exactly like a missing one: existence does not leak.
        if tree is None or not may_read_tree(user, tree.account_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Flow not found")
        return await _cached_answer(snap, ("flow", tree.tree_id, period))

    @router.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "No store published yet, damaged or unreadable."}},
        tags=["ops"],
    )
    def health() -> JSONResponse:
        """Store freshness (age, lag behind the source, last incremental refresh) and the last
        refresh run. No auth, so it names no path, host or error text."""
        try:
            snap = reader.snapshot()
        except StoreUnavailable:
            state = "no store" if not config.metrics_db.exists() else "damaged" if reader.damaged() else "unavailable"
            unavailable = HealthResponse(
                status=state,
                store_version=None,
                as_of=None,
                built_at=None,
                store_age_seconds=None,
                last_run=_health_run(_last_run(config.runs_log, None)),
                detail=HEALTH_DETAIL[state],
                last_incremental_at=_finished_at(last_incremental.run()),
            )
            return JSONResponse(unavailable.model_dump(mode="json"), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
        now = datetime.now(UTC)
        age = (now - snap.built_at).total_seconds() if snap.built_at is not None else None
        problem = reader.problem()  # the newest version would not open: an older one is served
        body = HealthResponse(
            status="degraded" if problem else "ok",
            store_version=snap.path.name,
            as_of=snap.as_of,
            built_at=snap.built_at,
            store_age_seconds=round(age, 3) if age is not None else None,
            last_run=_health_run(_last_run(config.runs_log, snap)),
            detail=HEALTH_DETAIL["degraded"] if problem else None,
            lag_seconds=round((now - snap.as_of).total_seconds(), 3),
            last_incremental_at=_finished_at(last_incremental.run()),
        )
        return JSONResponse(body.model_dump(mode="json"), headers=snap.headers)

    @router.get("/_ping", include_in_schema=False)
    async def ping() -> Response:
        """Constant JSON, no auth: the framework's own floor for benchmarks."""
        return Response(content=PING, media_type="application/json")

    return router
