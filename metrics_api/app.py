"""The FastAPI application factory: config in, app out. Reads only the published store."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from etl.config import Config
from etl.errors import ConfigError, StoreUnavailable
from metrics_api.reader import StoreReader
from metrics_api.routes import build_router


def create_app(config: Config, *, demo: bool = False) -> FastAPI:
    if config.jwt_secret is None and not demo:
        raise ConfigError("METRICS_JWT_SECRET is not set; set it to the app's JWT signing key (or use --demo)")
    if config.jwt_secret is None:
        import dataclasses

        config = dataclasses.replace(config, jwt_secret="flowmetrics-demo-secret-not-for-production")
    app = FastAPI(
        title="flowmetrics read API",
        description="ResolutionFlow analytics served from the precomputed store.",
        version="1",
    )
    reader = StoreReader(config.metrics_db)
    app.state.reader = reader
    app.include_router(build_router(config, reader), prefix=config.api_prefix)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET"],
            allow_headers=["Authorization"],
            expose_headers=["X-Data-As-Of"],
        )

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    return app
