"""What every part of the benchmark shares: paths, the fixed as_of, source databases, child environments."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl import database

ROOT = Path(__file__).resolve().parents[1]


# METRICS_STORAGE_VERSION of every refresh and server (`--storage-version`; unset: the default).
STORAGE_VERSION: dict[str, str] = {}


DATA = ROOT / "bench" / "data"


RESULTS = ROOT / "bench" / "results"


ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)  # seeded data ends here; every refresh runs at this as_of


SECRET = "bench-secret-0123456789abcdef-0123456789"


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def ensure_source(admin: str, name: str, *, sessions: int, days: int, history_sessions: int = 0) -> str:
    """A seeded database, reused when it already holds what was asked for."""
    from synthetic.seed import seed

    url = database.with_database(admin, name)
    wanted = sessions + history_sessions
    with database.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        with database.connect(url) as conn:
            have = conn.execute("SELECT count(*) FROM sessions").fetchone()
        if have and have[0] >= wanted:
            log(f"reusing {name}: {have[0]:,} sessions")
            return url
        with database.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with database.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    seed(url, sessions=sessions, accounts=200, days=days, seed=1, now=ANCHOR, progress=log)
    if history_sessions:
        # Older history only (a second, independent set of tenants): the window is unchanged.
        older = ANCHOR.replace(year=ANCHOR.year - 1)
        seed(url, sessions=history_sessions, accounts=200, days=days * 9, seed=2, now=older, append=True, progress=log)
    log(f"seeded {name} ({wanted:,} sessions) in {time.perf_counter() - started:.0f} s")
    with database.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def child_env() -> dict[str, str]:
    """This environment without METRICS_* (a child gets only what is set for it) and PYTHON*
    (PYTHONPATH would put another tree's modules first)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("METRICS_", "PYTHON"))}


def env_for(url: str, store: Path) -> dict[str, str]:
    """The environment of a refresh or server child: that source, that store."""
    env = child_env()
    env.update(DATABASE_URL=url, METRICS_DB=str(store), METRICS_JWT_SECRET=SECRET, METRICS_REFRESH_RETRIES="0")
    if "value" in STORAGE_VERSION:
        env["METRICS_STORAGE_VERSION"] = STORAGE_VERSION["value"]
    return env


def store_path(n: int, tree: str) -> Path:
    """The store a tree's refreshes at n sessions publish."""
    return DATA / f"store_{n}" / tree / "metrics.duckdb"


def store_contents(store: Path) -> dict[str, Any]:
    """Rows per table, MiB per table (DuckDB's block estimate) and the storage format of a store."""
    import duckdb

    con = duckdb.connect(str(store.resolve()), read_only=True)
    try:
        tables = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        rows = {name: int(con.sql(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]) for name in tables}
        has_meta = "store_meta" in tables  # older trees' stores may lack it
        meta = dict(con.sql("SELECT key, value FROM store_meta").fetchall()) if has_meta else {}
    finally:
        con.close()
    return {"rows": rows, "storage_version": meta.get("storage_version", "v2.0.0")}
