"""Connections to the app's PostgreSQL: URLs, connection checks, redaction.

Translates driver errors into SourceError once, here. Never computes metrics.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from etl.errors import SourceError

_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"}


def parse(url: str) -> URL:
    """A PostgreSQL URL as SQLAlchemy parses it: the one place a DSN is taken apart."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise SourceError(
            f"{redact(url)!r} is not a database URL; use postgresql://user:password@host:5432/dbname"
        ) from exc


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    return parse(url).set(database=dbname).render_as_string(hide_password=False)


def database_name(url: str) -> str:
    return parse(url).database or "postgres"


def libpq_url(url: str) -> str:
    """Drop SQLAlchemy-style driver suffixes (postgresql+psycopg://) for libpq and ADBC."""
    return parse(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> URL:
    """The URL for SQLAlchemy's engine (the psycopg 3 driver)."""
    return parse(url).set(drivername="postgresql+psycopg")


def redact(url: str) -> str:
    """The URL with its password masked (in the authority or as a query parameter), for messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url  # unparseable: drop any credentials
    query = {key: ("***" if key == "password" else value) for key, value in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


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
            f"{text}: the app's schema differs from what flowmetrics reads (see docs/operations.md, source contract)"
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
