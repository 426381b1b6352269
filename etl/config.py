"""The one configuration object, built from an injectable environ.

Nothing else in flowmetrics reads os.environ. Secrets are never printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from etl.database import redact
from etl.errors import ConfigError

PERIODS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90}
"""The windows the dashboards offer, in days. The hourly refresh covers the largest."""

LOOKBACK_DAYS = max(PERIODS.values())

STORAGE_VERSIONS = ("v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0", "v2.0.0")
"""Storage formats DuckDB 2.x can write; a DuckDB release reads formats up to its own."""

DASK_ADDRESS = re.compile(r"(tcp|tls)://[^\s/]+:\d+")
"""A Dask scheduler's address, as `dask scheduler` prints it."""

DEFAULT_STORAGE_VERSION = "v1.0.0"
"""The oldest: every DuckDB since 1.0 opens the store. Measured at 1M sessions it costs about
15% of file size against v1.3.0 and newer, and nothing measurable in refresh or API time
(docs/data-dictionary.md: client matrix)."""


def _read_dotenv(path: Path) -> dict[str, str]:
    """The settings in a `.env` file (python-dotenv's syntax); none when there is no file."""
    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


HOURLY_CRON = "5 * * * *"
NIGHTLY_CRON = "15 2 * * *"


def _cron(name: str, value: str | None, default: str) -> str:
    """A 5-field crontab expression that APScheduler accepts (minute hour day month weekday, UTC).

    Unset, the default; APScheduler is imported only to check one that is set (a refresh
    never needs it otherwise).
    """
    if not value:
        return default
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(
            f"{name}={value!r} is not a valid cron expression ({exc}); "
            "use e.g. '5 * * * *' (minute hour day month weekday, UTC)"
        ) from None
    return value


@dataclass(frozen=True)
class Config:
    """Every setting flowmetrics reads, with its default."""

    database_url: str | None = None
    """DATABASE_URL: the app's PostgreSQL; None means demo/tests start an embedded one."""
    metrics_db: Path = Path("data/metrics.duckdb")
    """METRICS_DB: path of the published store that the API and analysts open."""
    jwt_secret: str | None = field(default=None, repr=False)
    """METRICS_JWT_SECRET: the app's JWT signing key (never printed)."""
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    """METRICS_JWT_ALGORITHMS: accepted JWT algorithms, comma-separated."""
    jwt_user_claim: str = "sub"
    """METRICS_JWT_USER_CLAIM: the claim holding the caller's user id (a UUID)."""
    jwt_audience: str | None = None
    """METRICS_JWT_AUDIENCE: checked when set."""
    jwt_issuer: str | None = None
    """METRICS_JWT_ISSUER: checked when set."""
    hourly_cron: str = HOURLY_CRON
    """METRICS_HOURLY_CRON: when the hourly (window) refresh runs, UTC."""
    nightly_cron: str = NIGHTLY_CRON
    """METRICS_NIGHTLY_CRON: when the nightly (full history) refresh runs, UTC."""
    incremental_seconds: int = 60
    """METRICS_INCREMENTAL_SECONDS: seconds between incremental refreshes; 0 turns them off."""
    api_prefix: str = ""
    """METRICS_API_PREFIX: path prefix for the read API, e.g. /api/v1."""
    cors_origins: tuple[str, ...] = ()
    """METRICS_CORS_ORIGINS: dashboard origins allowed by CORS, comma-separated."""
    json_logs: bool = False
    """METRICS_JSON_LOGS: 1 for one JSON object per log line."""
    refresh_retries: int = 3
    """METRICS_REFRESH_RETRIES: retries of a refresh after a transient source error."""
    retry_backoff_seconds: float = 5.0
    """METRICS_RETRY_BACKOFF_SECONDS: first retry delay; doubles each retry."""
    misfire_grace_seconds: int = 3600
    """METRICS_MISFIRE_GRACE_SECONDS: how late a scheduled run may still start."""
    storage_version: str = DEFAULT_STORAGE_VERSION
    """METRICS_STORAGE_VERSION: DuckDB storage format of new stores (which clients open them)."""
    dask_scheduler: str | None = None
    """METRICS_DASK_SCHEDULER: Dask scheduler (tcp://host:8786) building a full rebuild's older history."""

    @property
    def data_dir(self) -> Path:
        """Folder of the store: versions, lock, run history and claims live here."""
        return self.metrics_db.parent

    @property
    def runs_log(self) -> Path:
        """Append-only run history; copied into each new store's refresh_runs."""
        return self.metrics_db.with_name(self.metrics_db.name + ".runs.jsonl")

    @property
    def quality_log(self) -> Path:
        """One JSON line per published store: its data_quality counts (the page's trend)."""
        return self.metrics_db.with_name(self.metrics_db.name + ".quality.jsonl")

    @property
    def lock_path(self) -> Path:
        return self.metrics_db.with_name(self.metrics_db.name + ".lock")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Config:
        """Build from `environ` (default os.environ) over a `.env` file (default ./.env)."""
        env: dict[str, str] = _read_dotenv(dotenv if dotenv is not None else Path(".env"))
        env.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        def integer(name: str, default: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a whole number; set e.g. {name}={default}") from None
            if value < 0:
                raise ConfigError(f"{name}={raw!r} must not be negative; set e.g. {name}={default}")
            return value

        def number(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number; set e.g. {name}={default}") from None

        database_url = get("DATABASE_URL")
        if database_url is not None and not database_url.startswith(("postgresql://", "postgres://", "postgresql+")):
            raise ConfigError(
                f"DATABASE_URL={redact(database_url)!r} is not a PostgreSQL URL; "
                "use postgresql://user:password@host:5432/dbname"
            )
        prefix = (get("METRICS_API_PREFIX") or "").rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ConfigError(f"METRICS_API_PREFIX={prefix!r} must start with '/', e.g. /api/v1")
        algorithms = tuple(a.strip() for a in (get("METRICS_JWT_ALGORITHMS") or "HS256").split(",") if a.strip())
        if any(a.lower() == "none" for a in algorithms):
            raise ConfigError("METRICS_JWT_ALGORITHMS must not include 'none'; use e.g. HS256")
        return cls(
            database_url=database_url,
            metrics_db=Path(get("METRICS_DB") or "data/metrics.duckdb"),
            jwt_secret=get("METRICS_JWT_SECRET"),
            jwt_algorithms=algorithms,
            jwt_user_claim=get("METRICS_JWT_USER_CLAIM") or "sub",
            jwt_audience=get("METRICS_JWT_AUDIENCE"),
            jwt_issuer=get("METRICS_JWT_ISSUER"),
            hourly_cron=_cron("METRICS_HOURLY_CRON", get("METRICS_HOURLY_CRON"), HOURLY_CRON),
            nightly_cron=_cron("METRICS_NIGHTLY_CRON", get("METRICS_NIGHTLY_CRON"), NIGHTLY_CRON),
            incremental_seconds=integer("METRICS_INCREMENTAL_SECONDS", 60),
            api_prefix=prefix,
            cors_origins=tuple(o.strip() for o in (get("METRICS_CORS_ORIGINS") or "").split(",") if o.strip()),
            json_logs=(get("METRICS_JSON_LOGS") or "0").lower() in ("1", "true", "yes"),
            refresh_retries=integer("METRICS_REFRESH_RETRIES", 3),
            retry_backoff_seconds=number("METRICS_RETRY_BACKOFF_SECONDS", 5.0),
            misfire_grace_seconds=integer("METRICS_MISFIRE_GRACE_SECONDS", 3600),
            storage_version=_storage_version(get("METRICS_STORAGE_VERSION")),
            dask_scheduler=_dask_scheduler(get("METRICS_DASK_SCHEDULER")),
        )


def _storage_version(raw: str | None) -> str:
    if raw is None:
        return DEFAULT_STORAGE_VERSION
    value = raw if raw.startswith("v") else f"v{raw}"
    if value not in STORAGE_VERSIONS:
        raise ConfigError(
            f"METRICS_STORAGE_VERSION={raw!r} is not a storage format DuckDB writes; "
            f"use one of {', '.join(STORAGE_VERSIONS)} (default {DEFAULT_STORAGE_VERSION}: any DuckDB >= 1.0 opens it)"
        )
    return value


def _dask_scheduler(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not DASK_ADDRESS.fullmatch(raw):
        raise ConfigError(
            f"METRICS_DASK_SCHEDULER={raw!r} is not a Dask scheduler address; use e.g. tcp://dask-scheduler:8786"
        )
    return raw
