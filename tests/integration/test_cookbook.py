"""The analyst cookbook (docs/cookbook.md) equals the app's live SQL over the same ranges.

One seeded, dirty source; a nightly refresh, then an hourly one (so the store holds older
rows carried over and recent rows rebuilt); every cookbook query (read from docs/cookbook.md
by tests/cookbook.py) run on the published file and compared with tests/reference/live_sql's
`*_between` answers for the same range, rounded the way the dashboards round.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from etl import database
from etl.config import Config
from etl.runs import read_runs
from etl.store import create_store
from jobs.plan import lookback_start
from jobs.refresh import run_refresh
from synthetic import embedded
from synthetic.seed import seed
from tests import cookbook
from tests.reference import live_sql

AS_OF = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
LATER = AS_OF + timedelta(hours=1)
SEED_ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)

Conn = psycopg.Connection[Any]


@pytest.fixture(scope="module")
def source(pg_admin_url: str) -> Iterator[str]:
    url = embedded.create_database(pg_admin_url, prefix="fm_cookbook")
    seed(url, sessions=4_000, accounts=3, days=200, seed=17, now=SEED_ANCHOR)
    yield url
    embedded.drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
def config(source: str, tmp_path_factory: pytest.TempPathFactory) -> Config:
    store = tmp_path_factory.mktemp("cookbook") / "metrics.duckdb"
    env = {"METRICS_DB": str(store), "METRICS_JWT_SECRET": "cookbook-secret", "METRICS_REFRESH_RETRIES": "0"}
    config = Config.from_env(env, dotenv=Path("/nonexistent"))
    run_refresh(config, source, mode="nightly", as_of=AS_OF)
    assert run_refresh(config, source, mode="hourly", as_of=LATER).mode == "hourly"
    return config


@pytest.fixture
def store(config: Config) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(config.metrics_db.resolve()), read_only=True)
    yield con
    con.close()


@pytest.fixture
def live(source: str) -> Iterator[Conn]:
    with database.connect(source) as conn:
        yield conn


def ids(conn: Conn, query: str) -> list[str]:
    return [str(row[0]) for row in conn.execute(query).fetchall()]


def seeded_months(conn: Conn) -> list[tuple[date, date]]:
    row = conn.execute("SELECT min(started_at)::date, max(started_at)::date FROM sessions").fetchone()
    assert row is not None
    return cookbook.months(row[0], row[1])


def at_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_docs_have_the_cookbook() -> None:
    assert len(cookbook.queries()) >= 6


def test_team_summary_for_months_and_an_odd_range(store: duckdb.DuckDBPyConnection, live: Conn) -> None:
    odd = (AS_OF - timedelta(days=47, hours=5, microseconds=17), AS_OF - timedelta(days=3, seconds=1))
    ranges = [(at_midnight(a), at_midnight(b)) for a, b in seeded_months(live)] + [odd]
    checked = 0
    for account in ids(live, "SELECT DISTINCT account_id FROM trees ORDER BY 1"):
        for start, end in ranges:
            [row] = cookbook.run(store, "team_summary", account_id=account, start_at=start, end_at=end)
            expected = live_sql.team_body_between(live, account, start, end)["summary"]
            assert cookbook.summary(row) == expected, (account, start, end)
            checked += expected["total_sessions"] > 0
    assert checked > 10


def test_team_days_are_the_time_series(store: duckdb.DuckDBPyConnection, live: Conn) -> None:
    start, end = AS_OF - timedelta(days=150, hours=3), AS_OF + timedelta(days=30)
    for account in ids(live, "SELECT DISTINCT account_id FROM trees ORDER BY 1"):
        rows = cookbook.run(store, "team_days", account_id=account, start_at=start, end_at=end)
        got = [{"date": row.pop("day").isoformat(), **row} for row in rows]
        assert got == live_sql.team_body_between(live, account, start, end)["time_series"]
        assert len(got) > 20


def test_exact_monthly_median_per_flow(store: duckdb.DuckDBPyConnection, live: Conn) -> None:
    months = seeded_months(live)
    rows = cookbook.run(store, "flow_monthly_median", from_day=months[0][0], to_day=months[-1][1])
    by_key = {(row["tree_id"], row["month"]): row for row in rows}
    checked = 0
    for tree in ids(live, "SELECT id FROM trees ORDER BY 1"):
        for start, end in months:
            expected = live_sql.flow_body_between(live, tree, at_midnight(start), at_midnight(end))["summary"]
            row = by_key.get((tree, start))
            if row is None:
                assert expected["total_sessions"] == 0, (tree, start)
                continue
            got = (row["sessions"], row["completed_sessions"], cookbook.minutes(row["median_duration_minutes"]))
            want = (expected["total_sessions"], expected["completed_sessions"], expected["median_duration_minutes"])
            assert got == want, (tree, start)
            checked += 1
    assert checked > 30


def test_weekly_active_engineers(store: duckdb.DuckDBPyConnection, live: Conn) -> None:
    from_day, to_day = date(2026, 8, 3), date(2026, 11, 23)  # Mondays
    for account in ids(live, "SELECT DISTINCT account_id FROM trees ORDER BY 1"):
        rows = cookbook.run(store, "weekly_active_engineers", account_id=account, from_day=from_day, to_day=to_day)
        weeks = {row["week"]: row for row in rows}
        monday = from_day
        while monday < to_day:
            start = at_midnight(monday)
            expected = live_sql.team_body_between(live, account, start, start + timedelta(days=7))["summary"]
            row = weeks.get(monday, {"active_engineers": 0, "sessions": 0})
            assert (row["active_engineers"], row["sessions"]) == (
                expected["active_engineers"],
                expected["total_sessions"],
            ), (account, monday)
            monday += timedelta(days=7)
        assert len(weeks) > 10


@pytest.mark.parametrize(
    ("from_day", "to_day"),
    [
        (date(2026, 4, 1), date(2026, 7, 1)),
        (date(2026, 7, 1), date(2026, 10, 1)),
        (date(2026, 10, 1), date(2027, 1, 1)),
    ],
    ids=["Q2", "Q3", "Q4-partly-in-the-hourly-lookback"],
)
def test_node_dropoff_over_a_quarter(
    store: duckdb.DuckDBPyConnection, live: Conn, from_day: date, to_day: date
) -> None:
    nodes, rated, dropped = 0, 0, 0
    for tree in ids(live, "SELECT id FROM trees ORDER BY 1"):
        rows = cookbook.run(store, "node_dropoff", tree_id=tree, from_day=from_day, to_day=to_day)
        expected = live_sql.flow_body_between(live, tree, at_midnight(from_day), at_midnight(to_day))["step_feedback"]
        assert [cookbook.step_row(row) for row in rows] == expected, tree
        nodes += len(rows)
        rated += sum(row["helpful_yes"] + row["helpful_no"] > 0 for row in rows)
        dropped += sum(row["dropoffs"] > 0 for row in rows)
    assert nodes > 20 and rated > 0 and dropped > 0


def test_csat_trend_by_month(store: duckdb.DuckDBPyConnection, live: Conn) -> None:
    months = seeded_months(live)
    rated = 0
    for tree in ids(live, "SELECT id FROM trees ORDER BY 1"):
        by_month = {row["month"]: row for row in cookbook.run(store, "csat_by_month", tree_id=tree)}
        for start, end in months:
            body = live_sql.flow_body_between(live, tree, at_midnight(start), at_midnight(end))
            row = by_month.get(start)
            got = (round(row["avg_csat"], 1), int(row["total_ratings"])) if row else (None, 0)
            assert got == (body["avg_csat"], body["total_ratings"]), (tree, start)
            rated += row is not None
    assert rated > 10


def test_data_quality_over_the_last_runs(store: duckdb.DuckDBPyConnection, live: Conn, config: Config) -> None:
    runs = cookbook.run(store, "recent_runs")
    logged = read_runs(config.runs_log)
    assert [(r["mode"], r["status"]) for r in runs] == [("hourly", "success"), ("nightly", "success")]
    assert [r["extract_rows"] for r in runs] == [r.extract_rows for r in reversed(logged)]

    since = lookback_start(LATER)
    seen = {row["check_name"]: row["rows"] for row in cookbook.run(store, "data_quality")}
    live_counts = {
        "completed_before_started": "completed_at < started_at",
        "completed_without_outcome": "completed_at IS NOT NULL AND outcome IS NULL",
        "sessions_unknown_tree": "NOT EXISTS (SELECT 1 FROM trees t WHERE t.id = s.tree_id)",
    }
    for rule, predicate in live_counts.items():
        row = live.execute(f"SELECT count(*) FROM sessions s WHERE started_at >= %s AND {predicate}", (since,))
        assert seen.get(rule, 0) == row.fetchone()[0], rule  # type: ignore[index]
    assert seen, "a seeded dirty source has dirty rows"

    by_month = cookbook.run(store, "dirty_sessions_by_month")
    expected = live.execute(
        """
        SELECT date_trunc('month', s.started_at)::date, count(*),
               count(*) FILTER (WHERE t.id IS NULL),
               count(*) FILTER (WHERE s.completed_at < s.started_at),
               count(*) FILTER (WHERE s.completed_at IS NOT NULL AND s.outcome IS NULL),
               count(*) FILTER (WHERE s.outcome NOT IN ('resolved', 'escalated', 'workaround', 'unresolved'))
        FROM sessions s LEFT JOIN trees t ON t.id = s.tree_id
        GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    got = [tuple(row.values())[:6] for row in by_month]
    assert got == [tuple(row) for row in expected]
    assert sum(row["unknown_tree"] + row["completed_before_started"] for row in by_month) > 0


def test_fact_sessions_adds_up_to_the_daily_history(store: duckdb.DuckDBPyConnection, live: Conn) -> None:
    differing = store.sql(
        """
        SELECT * FROM (SELECT tree_id AS scope_id, day, count(*) AS sessions,
                              count(completed_at) AS completed_sessions FROM fact_sessions GROUP BY ALL) f
        FULL JOIN (SELECT scope_id, day, sessions, completed_sessions FROM daily_sessions WHERE scope = 'tree') d
        USING (scope_id, day)
        WHERE f.sessions IS DISTINCT FROM d.sessions OR f.completed_sessions IS DISTINCT FROM d.completed_sessions
        """
    ).fetchall()
    assert differing == []
    [(stored,)] = store.sql("SELECT count(*) FROM fact_sessions").fetchall()
    assert stored == live.execute("SELECT count(*) FROM sessions").fetchone()[0]  # type: ignore[index]


# DuckDB 1.x clients, each installed in a throw-away virtual environment: the LTS line and
# the newest 1.x release. Both must open the store as published by default.
CLIENTS = {"1.4-lts": "duckdb>=1.4,<1.5", "newest-1.x": "duckdb>=1.4,<2"}
_UNREACHABLE = (
    "No matching distribution",
    "Could not find a version",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
)
_CLIENT_SCRIPT = """
import json, sys
import duckdb
path, setup, query = json.loads(sys.stdin.read())
con = duckdb.connect(path, read_only=True)
for statement in setup:
    con.execute(statement)
rows = con.sql(query).fetchall()
print(json.dumps({"version": duckdb.__version__, "rows": rows}, default=str))
"""


@pytest.fixture(scope="module", params=[pytest.param(c, marks=pytest.mark.network) for c in CLIENTS], ids=list(CLIENTS))
def old_client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtual environment holding only a DuckDB 1.x client."""
    folder = tmp_path_factory.mktemp(f"duckdb-{request.param}")
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CLIENTS[request.param]],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0:
        output = pip.stdout + pip.stderr
        if any(sign in output for sign in _UNREACHABLE):
            pytest.skip(f"the package registry is unreachable: cannot install {CLIENTS[request.param]}")
        pytest.fail(f"pip install {CLIENTS[request.param]} failed:\n{output}")
    return python


def run_in(python: Path, path: Path, setup: list[str], query: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", _CLIENT_SCRIPT],
        input=json.dumps([str(path), setup, query]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_duckdb_1x_client_opens_the_default_store(
    old_client: Path, config: Config, store: duckdb.DuckDBPyConnection, live: Conn
) -> None:
    assert config.storage_version == "v1.0.0"
    [(stored,)] = store.sql("SELECT value FROM store_meta WHERE key = 'storage_version'").fetchall()
    assert stored == config.storage_version
    account = ids(live, "SELECT DISTINCT account_id FROM trees ORDER BY 1")[0]
    setup = [
        f"SET VARIABLE account_id = '{account}'",
        "SET VARIABLE start_at = TIMESTAMPTZ '2026-09-01 00:00:00+00'",
        "SET VARIABLE end_at = TIMESTAMPTZ '2026-10-01 00:00:00+00'",
    ]
    query = cookbook.queries()["team_summary"]
    got = run_in(old_client, config.metrics_db.resolve(), setup, query)
    assert got["version"].startswith("1.")
    for statement in setup:
        store.execute(statement)
    assert got["rows"] == json.loads(json.dumps(store.sql(query).fetchall(), default=str))
    assert got["rows"][0][0] > 0


def test_a_duckdb_1x_client_cannot_open_the_2x_format(old_client: Path, tmp_path: Path) -> None:
    # Why the default is an older format: what METRICS_STORAGE_VERSION=v2.0.0 gives.
    newest = tmp_path / "v2.duckdb"
    con = create_store(newest, "v2.0.0")
    con.execute("CREATE TABLE t AS SELECT 1 AS one")
    con.close()
    done = subprocess.run(
        [str(old_client), "-c", _CLIENT_SCRIPT],
        input=json.dumps([str(newest), [], "SELECT * FROM t"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Trying to read a database file with version number" in done.stderr
