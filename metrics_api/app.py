"""The FastAPI application factory: config in, app out.

Serves the app's analytics endpoints from the published store only: never PostgreSQL,
never os.environ (the Config is injected). Refuses to start without a JWT secret
unless in demo mode.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from etl.config import Config
from etl.errors import ConfigError, StoreUnavailable
from metrics_api.auth import TokenVerifier
from metrics_api.docs import build_docs_router
from metrics_api.ops import RunHistory
from metrics_api.page import build_page_router
from metrics_api.prometheus import RequestMetrics, RequestMetricsMiddleware, StoreCollector, build_metrics_router
from metrics_api.reader import StoreReader
from metrics_api.routes import BEARER, build_router

DEMO_SECRET = "flowmetrics-demo-secret-not-for-production-use"
"""Signs tokens only when `demo=True` and no secret is configured (the demo prints one)."""


def create_app(config: Config, *, demo: bool = False) -> FastAPI:
    if config.jwt_secret is None and not demo:
        raise ConfigError(
            "METRICS_JWT_SECRET is not set; set it to the app's JWT signing key "
            "(or run `flowmetrics demo` for a local demo)"
        )
    secret = config.jwt_secret or DEMO_SECRET
    app = FastAPI(
        title="flowmetrics read API",
        summary="ResolutionFlow analytics served from the precomputed metrics store.",
        description=(
            "Drop-in for the app's analytics router. Every analytics answer carries `as_of` "
            "(when the data was computed) and the same value in the `X-Data-As-Of` header."
        ),
        version="1",
        # Declared by metrics_api.docs instead: under the prefix, with Swagger UI's files served here.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    reader = StoreReader(config.metrics_db)
    app.state.reader = reader
    verifier = TokenVerifier(config, secret)
    app.include_router(build_router(config, reader, verifier), prefix=config.api_prefix)
    app.include_router(build_page_router(config, reader, verifier), prefix=config.api_prefix)
    requests = RequestMetrics()
    app.include_router(
        build_metrics_router(requests, StoreCollector(reader, RunHistory(config.runs_log))), prefix=config.api_prefix
    )
    app.include_router(build_docs_router(config.api_prefix, app.title, lambda: app.openapi()), prefix=config.api_prefix)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET"],
            allow_headers=["Authorization"],
            expose_headers=["X-Data-As-Of", "Last-Modified"],
        )

    app.add_middleware(RequestMetricsMiddleware, metrics=requests)  # outermost: counts every answer

    _declare_bearer_scheme(app)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "60"})

    return app


def app_from_env() -> FastAPI:
    """Factory for an ASGI server's import string, one call per worker process:
    `uvicorn --factory metrics_api.app:app_from_env --workers 4` (config from the environment)."""
    return create_app(Config.from_env())


def _declare_bearer_scheme(app: FastAPI) -> None:
    """Name the bearer scheme the analytics routes declare, so /docs can send a token."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT signed by the app; the caller's user id in its user claim.",
                }
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
