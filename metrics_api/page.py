"""The built-in page at `/`: freshness, run history, data quality and a dashboard preview.

The page is static (HTML, CSS and our own JavaScript drawing SVG, shipped as package data;
nothing from a CDN, so it works offline). It shows how far the data trails the source, and
warns past three refresh intervals of lag. It reads `/health`, `page/ops` and, with a
token, `page/choices` and the very analytics endpoints the dashboards call. Tenant data
only ever comes with a valid token under the API's rules; a run's error message (it may
name hosts) only with a super admin's token (an operator's, never a tenant's). The token
travels in the Authorization header, never in a URL query string.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from etl.config import PERIODS, Config
from etl.errors import StoreUnavailable
from etl.scopes import NO_ENGINEER, TREE
from etl.transform.common import shown_name_of
from metrics_api.auth import TokenVerifier, caller
from metrics_api.models import DEFAULT_PERIOD
from metrics_api.ops import JsonLines, RunHistory, lag_warning_seconds, public_run, stale_after_seconds
from metrics_api.reader import StoreReader
from metrics_api.snapshot import Snapshot, User

RUNS_SHOWN = 30
TREES_SHOWN = 500
USERS_SHOWN = 1000
ASSETS = {
    "page.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    # Our own files only: no inline script, no third-party origin, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> bytes:
    return resources.files("metrics_api").joinpath("static", name).read_bytes()


def _period_options() -> bytes:
    """The preview's period choices: every period, the routes' default selected."""
    return "".join(
        f'<option value="{period}"{" selected" if period == DEFAULT_PERIOD else ""}>{days} days</option>'
        for period, days in PERIODS.items()
    ).encode()


def build_page_router(config: Config, reader: StoreReader, verifier: TokenVerifier) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    index = (
        _asset("index.html")
        .replace(b"{{base}}", html.escape(config.api_prefix).encode())
        .replace(b"{{periods}}", _period_options())
    )
    assets = {name: _asset(name) for name in ASSETS}
    runs = RunHistory(config.runs_log)
    quality = JsonLines(config.quality_log)
    stale_after = stale_after_seconds(
        config.hourly_cron, config.nightly_cron, config.misfire_grace_seconds, now=datetime.now(UTC)
    )
    lag_warning = lag_warning_seconds(config.incremental_seconds)

    @router.api_route("/", methods=["GET", "HEAD"])  # HEAD: uptime checks and link checkers ask so
    def page() -> HTMLResponse:
        return HTMLResponse(index, headers=SECURITY_HEADERS)

    @router.get("/page/ops")
    def ops(request: Request) -> Response:
        """Recent runs, data quality and the schedule; error messages only for operators."""
        authorization = request.headers.get("authorization")
        details = False
        snap: Snapshot | None
        try:
            snap = reader.snapshot()
        except StoreUnavailable:
            snap = None
        if authorization:
            user_id = verifier.bearer_user_id(authorization)
            if snap is None:
                raise StoreUnavailable("no store to check the token against yet")
            user = caller(snap, user_id)
            details = user.is_super_admin  # operators: a tenant's admin never sees hosts or paths
        history = runs.runs() or (_stored_runs(snap) if snap is not None else [])
        body = {
            "schedule": {
                "hourly_cron": config.hourly_cron,
                "nightly_cron": config.nightly_cron,
                "stale_after_seconds": stale_after,
                "incremental_seconds": config.incremental_seconds,
                "lag_warning_seconds": lag_warning,
            },
            "details": details,
            # /health's own fields may be fewer; the page falls back to these.
            "store": _store_facts(snap),
            "runs": [public_run(run, details=details) for run in reversed(history[-RUNS_SHOWN:])],
            "quality": {
                "current": _current_quality(snap) if snap is not None else [],
                "trend": quality.records()[-RUNS_SHOWN:],
            },
        }
        return _json(body)

    @router.get("/page/choices")
    async def choices(request: Request) -> Response:
        """What the caller may pick in the preview: engineers of their account, readable trees."""
        user_id = verifier.bearer_user_id(request.headers.get("authorization"))
        current = reader.snapshot_nowait()
        snap = current if current is not None else await run_in_threadpool(reader.snapshot)
        user = caller(snap, user_id)
        key = ("page-choices", user.user_id)
        body = snap.cached(key)
        if body is None:
            body = await run_in_threadpool(_choices, snap, user)
            snap.remember(key, body)
        return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-cache"})

    # Last: the other page/ paths are matched first.
    @router.get("/page/{name}")
    def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(404, detail="Not found")
        return Response(assets[name], media_type=ASSETS[name], headers=SECURITY_HEADERS)

    return router


def _json(body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body, default=str).encode(),
        media_type="application/json",
        headers={"Cache-Control": "private, no-cache"},
    )


def _stored_runs(snap: Snapshot) -> list[dict[str, Any]]:
    """The store's refresh_runs, oldest first (when the run history file is not beside it)."""
    with snap.queries() as q:
        rows = q.sql(f"SELECT * FROM refresh_runs ORDER BY started_at DESC LIMIT {RUNS_SHOWN}", [])
        columns = q.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'refresh_runs' "
            "ORDER BY ordinal_position",
            [],
        )
    names = [c[0] for c in columns]
    return [dict(zip(names, row, strict=True)) for row in reversed(rows)]


def _store_facts(snap: Snapshot | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    now = datetime.now(UTC)
    age = (now - snap.built_at).total_seconds() if snap.built_at is not None else None
    return {
        "as_of": snap.as_of.isoformat(),
        "built_at": snap.built_at.isoformat() if snap.built_at is not None else None,
        "age_seconds": round(age, 3) if age is not None else None,
        "lag_seconds": round((now - snap.as_of).total_seconds(), 3),
        "mode": snap.meta.get("mode"),
    }


def _current_quality(snap: Snapshot) -> list[dict[str, Any]]:
    with snap.queries() as q:
        rows = q.sql("SELECT check_name, rows, rule FROM data_quality ORDER BY check_name", [])
    return [{"check_name": name, "rows": count, "rule": rule} for name, count, rule in rows]


def _choices(snap: Snapshot, user: User) -> bytes:
    team_reader = user.is_team_admin or user.is_super_admin
    with snap.queries() as q:
        names = q.sql("SELECT name FROM users WHERE user_id = ?", [user.user_id])
        members = (
            q.sql("SELECT user_id, name FROM users WHERE account_id = ?", [user.account_id]) if team_reader else []
        )
        # Busiest first in the period the preview opens on, so it opens on a tree with data.
        sessions = dict(
            q.sql(
                "SELECT scope_id, total_sessions FROM window_summary "
                "WHERE period = ? AND scope = ? AND engineer_id = ?",
                [DEFAULT_PERIOD, TREE, NO_ENGINEER],
            )
        )
    engineers = sorted((shown_name_of(name), user_id) for user_id, name in members)[:USERS_SHOWN]
    # Super admins may read any tree.
    readable = [tree for tree in snap.trees.values() if user.is_super_admin or tree.account_id == user.account_id]
    trees = sorted(readable, key=lambda tree: (-sessions.get(tree.tree_id, 0), tree.name, tree.tree_id))[:TREES_SHOWN]
    body = {
        "user": {
            "user_id": user.user_id,
            "name": shown_name_of(names[0][0] if names else None),
            "team_reader": team_reader,
            "super_admin": user.is_super_admin,
        },
        "engineers": [{"user_id": uid, "name": name} for name, uid in engineers],
        "trees": [{"tree_id": t.tree_id, "name": t.name, "sessions": sessions.get(t.tree_id, 0)} for t in trees],
    }
    return json.dumps(body).encode()
