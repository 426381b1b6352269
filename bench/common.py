"""What every part of the benchmark shares: paths, the fixed as_of, source databases, refresh runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl import database
from jobs.history import read_runs

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


def env_for(url: str, store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METRICS_")}
    env.update(DATABASE_URL=url, METRICS_DB=str(store), METRICS_JWT_SECRET=SECRET, METRICS_REFRESH_RETRIES="0")
    if "value" in STORAGE_VERSION:
        env["METRICS_STORAGE_VERSION"] = STORAGE_VERSION["value"]
    return env


def store_contents(store: Path) -> dict[str, Any]:
    """Rows per table, MiB per table (DuckDB's block estimate) and the storage format of a store."""
    import duckdb

    con = duckdb.connect(str(store.resolve()), read_only=True)
    try:
        tables = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        rows = {name: int(con.sql(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]) for name in tables}
        meta = dict(con.sql("SELECT key, value FROM store_meta").fetchall())
    finally:
        con.close()
    return {"rows": rows, "storage_version": meta.get("storage_version", "v2.0.0")}


def measure_refresh(url: str, store: Path, mode: str) -> dict[str, Any]:
    """One refresh in a child process: stage seconds from the run history, peak RSS from wait4."""
    cmd = [sys.executable, "-m", "jobs.cli", "-q", "refresh", "--mode", mode, "--as-of", ANCHOR.isoformat()]
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env_for(url, store), cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"refresh {mode} failed (exit {child.returncode})")
    run = read_runs(store.with_name(store.name + ".runs.jsonl"))[-1]
    assert run.finished_at is not None
    return {
        "mode": mode,
        "wall_seconds": round(wall, 2),
        # The refresh itself, without starting Python and importing (the scheduler's
        # long-lived process pays those once, not per refresh).
        "run_seconds": round((run.finished_at - run.started_at).total_seconds(), 2),
        "extract_seconds": round(run.extract_seconds or 0, 2),
        "transform_seconds": round(run.transform_seconds or 0, 2),
        "publish_seconds": round(run.publish_seconds or 0, 2),
        "extract_rows": run.extract_rows,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "store_mib": round(store.resolve().stat().st_size / 2**20, 1),
        **store_contents(store),
    }
