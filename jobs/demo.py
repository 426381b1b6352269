"""`flowmetrics demo`: a private PostgreSQL, synthetic data, a nightly refresh and the API.

For trying flowmetrics on a fresh machine; never used against the app's database unless
DATABASE_URL points there (then it only reads, and seeds only an empty database).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import jwt

from etl import database
from etl.config import PERIODS, Config
from etl.store import open_store
from jobs.logs import without_run_outcome
from jobs.progress import Progress, refresh_event, report_refresh, seed_event
from metrics_api.models import DEFAULT_PERIOD
from synthetic import SEED_STAGES, embedded

log = logging.getLogger("flowmetrics.demo")


def _has_sessions(url: str) -> bool:
    with database.connect(url) as conn:
        if not conn.execute("SELECT to_regclass('sessions') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            return False
        return conn.execute("SELECT EXISTS (SELECT 1 FROM sessions)").fetchone()[0] is True  # type: ignore[index]


def demo_admin(config: Config) -> str:
    """A team admin of the account with the most sessions in the team dashboard's default period."""
    _, con = open_store(config.metrics_db)
    try:
        row = con.execute(
            """
            SELECT u.user_id FROM users u
            JOIN window_summary s ON s.scope = 'account' AND s.period = ? AND s.scope_id = u.account_id
            WHERE u.is_team_admin AND u.is_active
            ORDER BY s.total_sessions DESC, u.user_id LIMIT 1
            """,
            [DEFAULT_PERIOD],
        ).fetchall()
    finally:
        con.close()
    if not row:
        raise RuntimeError("the demo store has no active team admin")
    return str(row[0][0])


def demo_token(config: Config, user_id: str, secret: str) -> str:
    claims: dict[str, object] = {
        config.jwt_user_claim: user_id,
        "exp": datetime.now(timezone.utc) + timedelta(days=1),
    }
    if config.jwt_audience:
        claims["aud"] = config.jwt_audience
    if config.jwt_issuer:
        claims["iss"] = config.jwt_issuer
    return jwt.encode(claims, secret, algorithm=config.jwt_algorithms[0])


def run_demo(
    config: Config, *, sessions: int, host: str, port: int, secret: str, progress: Callable[..., Progress]
) -> int:
    """Seed, refresh and serve until Ctrl-C or SIGTERM; then stop the embedded PostgreSQL too.

    SIGINT and SIGTERM both interrupt setup where it is and the `finally` runs (an error a
    library raised for the interrupt, such as DuckDB's "Query interrupted", is read as
    the interrupt it is); while serving, uvicorn takes both signals, shuts down, and hands
    the signal back, which ends here the same way.
    """
    received: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    pgdata = config.data_dir / "postgres"
    try:
        _serve_demo(config, sessions=sessions, host=host, port=port, secret=secret, progress=progress)
    except Exception:
        if received:
            raise KeyboardInterrupt(f"signal {received[0]}") from None
        raise
    finally:
        if not config.database_url:
            embedded.stop_embedded(pgdata)
            log.info("stopped the demo PostgreSQL in %s", pgdata)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _serve_demo(
    config: Config, *, sessions: int, host: str, port: int, secret: str, progress: Callable[..., Progress]
) -> None:
    import uvicorn

    from jobs.refresh import run_refresh
    from metrics_api.app import create_app
    from synthetic.seed import seed

    url = config.database_url or embedded.demo_source(config)
    if _has_sessions(url):
        log.info("source already has sessions: not seeding again")
    else:
        with progress("seed", seed_event, stages=SEED_STAGES, totals={"sessions": sessions}) as bar:
            report = seed(url, sessions=sessions, accounts=8, days=365, seed=42, progress=bar)
        log.info("seeded %d sessions in %.1f s", report.sessions, report.seconds)
    with without_run_outcome():  # its stages are said once, from the run record
        with progress("refresh", refresh_event, stages=("extract", "publish"), stage_lines=False) as bar:
            record = run_refresh(config, url, mode="nightly", wait_seconds=60, progress=bar)
        report_refresh(bar, record)

    config = dataclasses.replace(config, jwt_secret=config.jwt_secret or secret)
    assert config.jwt_secret is not None
    token = demo_token(config, demo_admin(config), config.jwt_secret)
    base = f"http://{host}:{port}{config.api_prefix}"
    shortest = min(PERIODS, key=PERIODS.__getitem__)
    print(
        "\nflowmetrics demo is ready. Open the page (the token after # stays in your browser, valid 24 h,\n"
        "a team admin of the busiest account):\n\n"
        f"  {base}/#token={token}\n\n"
        "Or call the API:\n\n"
        f"  export TOKEN={token}\n"
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/analytics/team?period={DEFAULT_PERIOD}'\n"
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/analytics/me?period={shortest}'\n"
        f"  curl -s '{base}/health'\n"
        f"  curl -s '{base}/metrics'\n"
        f"  open {base}/docs\n\n"
        "  .venv/bin/flowmetrics status    # run history\n"
        '  .venv/bin/flowmetrics sql "SELECT * FROM data_quality"\n\n'
        "Ctrl-C stops the API and the demo PostgreSQL.\n",
        flush=True,
    )
    uvicorn.run(create_app(config, demo=True), host=host, port=port, log_level="warning")
