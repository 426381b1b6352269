"""`make bench`: refresh against its extraction floor, memory, store size, API latency vs live SQL.

Builds (or reuses) benchmark source databases in an embedded PostgreSQL under bench/data/,
then prints a table and writes bench/results/<date>.json and .md. Every ratio is against a
baseline measured in the same run. Never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.workers import measure_workers
from bench.workers import render as render_workers
from etl import database, statements
from etl.extract import bind
from jobs.history import read_runs
from jobs.plan import history_chunks, lookback_start
from synthetic import embedded

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)  # seeded data ends here; every refresh runs at this as_of
SECRET = "bench-secret-0123456789abcdef-0123456789"


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------- sources


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


# ---------------------------------------------------------------- floor


def extraction_queries(url: str, mode: str) -> list[list[str]]:
    """The queries a refresh of this mode runs, with the same columns, rows and parameters.

    One list per source connection: the window's queries, and for nightly the older
    history's, which the refresh reads on a second connection at the same time. The
    window's sessions are one query here; the refresh reads the same rows in 10-day ranges.
    """
    since = lookback_start(ANCHOR)
    window = [
        statements.read("extract_users.sql"),
        statements.read("extract_trees.sql"),
        bind(statements.read("extract_rated_sessions.sql"), start=since, end=None),
        bind(statements.read("extract_step_ratings.sql"), since=since),
        bind(statements.read("extract_sessions.sql"), start=since, end=None),
        bind(statements.read("extract_session_ratings.sql"), since=since),
        statements.read("extract_comment_candidates.sql"),
    ]
    if mode != "nightly":
        return [window]
    with database.connect(url) as conn:
        row = conn.execute("SELECT min(started_at) FROM sessions").fetchone()
    first = row[0] if row else None
    chunks = history_chunks(first, since)
    history = [
        bind(statements.read("extract_rated_sessions.sql"), start=chunks[0][0] if chunks else since, end=since),
        bind(statements.read("extract_history_step_ratings.sql"), end=since),
    ]
    history += [bind(statements.read("extract_sessions.sql"), start=s, end=e) for s, e in chunks]
    history.append(bind(statements.read("extract_history_ratings.sql"), end=since))
    return [window, history]


def copy_floor(url: str, queries: list[str]) -> tuple[float, int]:
    """Seconds to drain `COPY (query) TO STDOUT (FORMAT binary)` for every query, unparsed."""
    total_bytes = 0
    with psycopg.connect(database.libpq_url(url)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        started = time.perf_counter()
        for query in queries:
            with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
                for block in copy:
                    total_bytes += len(block)
        return time.perf_counter() - started, total_bytes


def concurrent_floor(url: str, streams: list[list[str]]) -> float:
    """Seconds until every stream is drained, each on its own connection, all at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(streams)) as pool:
        list(pool.map(lambda queries: copy_floor(url, queries), streams))
    return time.perf_counter() - started


def measure_floors(url: str, streams: list[list[str]]) -> dict[str, Any]:
    """The floor as defined (every query drained in turn on one connection) and, when the
    refresh reads on more than one connection, the same queries drained on as many at once."""
    serial, copied = copy_floor(url, [q for queries in streams for q in queries])
    floors: dict[str, Any] = {"serial": serial, "mib": copied / 2**20}
    if len(streams) > 1:
        floors["concurrent"] = concurrent_floor(url, streams)
    return floors


# ---------------------------------------------------------------- refresh


# METRICS_STORAGE_VERSION of every refresh and server (`--storage-version`; unset: the default).
STORAGE_VERSION: dict[str, str] = {}


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


# ---------------------------------------------------------------- API


def largest_tenant(url: str) -> dict[str, str]:
    with database.connect(url) as conn:
        account, sessions = conn.execute(
            "SELECT t.account_id::text, count(*) FROM sessions s JOIN trees t ON t.id = s.tree_id "
            "WHERE s.started_at >= %s::timestamptz - interval '30 days' GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
            (ANCHOR,),
        ).fetchone()  # type: ignore[misc]
        admin = conn.execute(
            "SELECT id::text FROM users WHERE account_id = %s::uuid AND is_team_admin AND is_active "
            "ORDER BY id LIMIT 1",
            (account,),
        ).fetchone()[0]  # type: ignore[index]
        tree = conn.execute(
            "SELECT s.tree_id::text FROM sessions s JOIN trees t ON t.id = s.tree_id WHERE t.account_id = %s::uuid "
            "AND s.started_at >= %s::timestamptz - interval '30 days' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
            (account, ANCHOR),
        ).fetchone()[0]  # type: ignore[index]
        user = conn.execute(
            "SELECT s.user_id::text FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.is_active "
            "AND s.started_at >= %s::timestamptz - interval '30 days' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
            (ANCHOR,),
        ).fetchone()[0]  # type: ignore[index]
    return {"account": account, "sessions_30d": str(sessions), "admin": admin, "tree": tree, "user": user}


def live_baseline(url: str, tenant: dict[str, str], repeats: int = 5) -> dict[str, float]:
    """p50 seconds of the app's live queries (tests/reference) for the same questions."""
    sys.path.insert(0, str(ROOT))
    from tests.reference import live_sql

    calls = {
        "team": lambda conn: live_sql.team_body(conn, tenant["account"], "30d", ANCHOR),
        "me": lambda conn: live_sql.me_body(conn, tenant["user"], "30d", ANCHOR),
        "flow": lambda conn: live_sql.flow_body(conn, tenant["tree"], "30d", ANCHOR),
    }
    result = {}
    with database.connect(url) as conn:
        for name, call in calls.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                call(conn)
                times.append(time.perf_counter() - t0)
            result[name] = sorted(times)[len(times) // 2] * 1000
    return result


def measure_api(url: str, store: Path, tenant: dict[str, str], port: int = 8765) -> dict[str, Any]:
    import jwt

    from bench.loadgen import closed_loop, open_loop

    server = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "-q", "serve", "--port", str(port)],
        env=env_for(url, store),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        token = {
            k: jwt.encode({"sub": tenant[k], "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
            for k in ("admin", "user")
        }
        endpoints = {
            "ping": ("/_ping", None),
            "team": ("/analytics/team?period=30d", token["admin"]),
            "me": ("/analytics/me?period=30d", token["user"]),
            "flow": (f"/analytics/flows/{tenant['tree']}?period=30d", token["admin"]),
        }
        results: dict[str, Any] = {}
        for name, (path, tok) in endpoints.items():
            closed_loop("127.0.0.1", port, path, tok, clients=4, seconds=1)  # warm-up
            # The constant-JSON endpoint again, right before: throughput on this shared
            # machine drifts by 30% within minutes, so each share is against its neighbour.
            ping = closed_loop("127.0.0.1", port, "/_ping", None, clients=50, seconds=6).as_dict()
            results[name] = {
                "c1": closed_loop("127.0.0.1", port, path, tok, clients=1, seconds=4).as_dict(),
                "c50": closed_loop("127.0.0.1", port, path, tok, clients=50, seconds=6).as_dict(),
                "open200": open_loop("127.0.0.1", port, path, tok, rate=200, seconds=8).as_dict(),
                "ping_c50_rps": ping["rps"],
            }
            log(f"api {name}: {results[name]}")
        results["publish_to_serving_ms"] = _publish_to_serving(url, store, port)
        return results
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(port: int, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_ping", timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the API did not start")


def _publish_to_serving(url: str, store: Path, port: int) -> float:
    """Milliseconds from the symlink swap to the first /health answer naming the new store."""
    import threading
    import urllib.request

    before = os.stat(store).st_ino
    seen: dict[str, float] = {}

    def poll() -> None:
        swapped_at = None
        deadline = time.time() + 600
        while time.time() < deadline:
            if swapped_at is None and os.stat(store).st_ino != before:
                swapped_at = time.perf_counter()
            body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())
            if swapped_at is not None and str(store.resolve().name) in str(body.get("store_path")):
                seen["ms"] = (time.perf_counter() - swapped_at) * 1000
                return
            time.sleep(0.001)

    poller = threading.Thread(target=poll)
    poller.start()
    measure_refresh(url, store, "hourly")
    poller.join()
    return round(seen.get("ms", float("nan")), 2)


# ---------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", help="session counts, comma-separated (default 1000000,10000000)")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--storage-version", help="METRICS_STORAGE_VERSION of the stores (default: flowmetrics')")
    parser.add_argument(
        "--only",
        choices=("workers",),
        help="just one part: workers = API throughput at 1 and 2 server processes (default 100k sessions)",
    )
    args = parser.parse_args(argv)
    if args.storage_version:
        STORAGE_VERSION["value"] = args.storage_version
    sizes = [int(s) for s in (args.sizes or ("100000" if args.only else "1000000,10000000")).split(",")]
    DATA.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    admin = embedded.start_embedded(DATA / "pg", stop_at_exit=False)
    if args.only == "workers":
        workers_only(admin, sizes[0])
        return
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(), "as_of": ANCHOR.isoformat(), "sizes": {}}
    for n in sizes:
        url = ensure_source(admin, f"bench_{n}", sessions=n, days=365)
        store = DATA / f"store_{n}" / "metrics.duckdb"
        entry: dict[str, Any] = {}
        for mode in ("nightly", "hourly"):
            streams = extraction_queries(url, mode)
            before = measure_floors(url, streams)
            run = measure_refresh(url, store, mode)
            after = measure_floors(url, streams)
            # The faster of two drains, one either side of the refresh.
            floor = min(before["serial"], after["serial"])
            run.update(
                floor_seconds=round(floor, 2),
                floor_runs=[round(before["serial"], 2), round(after["serial"], 2)],
                floor_mib=round(before["mib"], 1),
                extract_to_floor=round(run["extract_seconds"] / floor, 2),
                refresh_to_floor=round(run["wall_seconds"] / floor, 2),
                run_to_floor=round(run["run_seconds"] / floor, 2),
                sessions_per_second=round(n / run["wall_seconds"]),
            )
            if "concurrent" in before:
                concurrent = min(before["concurrent"], after["concurrent"])
                run.update(
                    concurrent_floor_seconds=round(concurrent, 2),
                    run_to_concurrent_floor=round(run["run_seconds"] / concurrent, 2),
                )
            entry[mode] = run
            log(f"{n:,} {mode}: {run}")
        if not args.skip_api and n == sizes[0]:
            tenant = largest_tenant(url)
            entry["tenant"] = tenant
            entry["live_ms"] = live_baseline(url, tenant)
            entry["api"] = measure_api(url, store, tenant)
            entry["workers"] = measure_workers(env_for(url, store), ROOT, tenant, SECRET, _wait_for)
            log(f"workers: {entry['workers']}")
        report["sizes"][str(n)] = entry
    if len(sizes) > 1:
        # The smallest size's data plus 9x as many sessions of older history: the same 90-day
        # window, 10x the total. The hourly refresh must cost about the same as the smallest's.
        n = sizes[0]
        url = ensure_source(admin, f"bench_{n}_plus_history", sessions=n, days=365, history_sessions=9 * n)
        store = DATA / f"store_{n}_plus_history" / "metrics.duckdb"
        measure_refresh(url, store, "nightly")
        [queries] = extraction_queries(url, "hourly")
        first_drain, _ = copy_floor(url, queries)
        run = measure_refresh(url, store, "hourly")
        second_drain, _ = copy_floor(url, queries)
        floor = min(first_drain, second_drain)
        run.update(
            floor_seconds=round(floor, 2),
            refresh_to_floor=round(run["wall_seconds"] / floor, 2),
            run_to_floor=round(run["run_seconds"] / floor, 2),
            total_sessions=10 * n,
            compared_with_total=n,
        )
        report["hourly_same_window_more_history"] = run
    write_report(report)


def workers_only(admin: str, n: int) -> None:
    """`python -m bench.run --only workers`: a store of n sessions (reused), then the workers part."""
    url = ensure_source(admin, f"bench_{n}", sessions=n, days=365)
    store = DATA / f"store_{n}" / "metrics.duckdb"
    if not store.exists():
        measure_refresh(url, store, "nightly")
    tenant = largest_tenant(url)
    result = measure_workers(env_for(url, store), ROOT, tenant, SECRET, _wait_for)
    report = {"date": datetime.now(UTC).isoformat(), "as_of": ANCHOR.isoformat(), "sessions": n, "workers": result}
    stamp = report["date"][:10]
    (RESULTS / f"{stamp}-workers.json").write_text(json.dumps(report, indent=2))
    text = "\n".join([f"# Workers benchmark {stamp} ({n:,} sessions)", *render_workers(result)]) + "\n"
    (RESULTS / f"{stamp}-workers.md").write_text(text)
    print(text)


def write_report(report: dict[str, Any]) -> None:
    stamp = report["date"][:10]
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2))
    markdown = render_markdown(report)
    (RESULTS / f"{stamp}.md").write_text(markdown)
    print(markdown)


# The tables analysts query over any range; their rows are most of a store's size.
FACT_TABLES = ("fact_sessions", "daily_step_feedback", "daily_sessions", "window_time_series")


def store_lines(report: dict[str, Any]) -> list[str]:
    """Rows of the largest tables and the storage format, per size (runs before they were recorded: none)."""
    lines = []
    for n, entry in report["sizes"].items():
        for mode in ("nightly", "hourly"):
            r = entry[mode]
            if "rows" not in r:
                continue
            if not lines:
                head = " | ".join(f"{name} rows" for name in FACT_TABLES)
                lines += ["", f"| sessions | mode | storage version | {head} | all rows | store MiB |"]
                lines.append("|---|---|---|" + "---|" * (len(FACT_TABLES) + 2))
            counts = " | ".join(f"{r['rows'].get(name, 0):,}" for name in FACT_TABLES)
            lines.append(
                f"| {int(n):,} | {mode} | {r['storage_version']} | {counts} | {sum(r['rows'].values()):,} | "
                f"{r['store_mib']} |"
            )
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Benchmark {report['date'][:10]} (as_of {report['as_of']})", ""]
    lines += [
        "Stages overlap (the source is read while the previous read is transformed and written), so",
        "extract + transform + publish exceeds the wall time. `run` is the refresh itself; `process`",
        "adds starting Python and importing (under 1 s), which the scheduler pays once. The floor is",
        "the faster of two raw COPY drains of the same queries, one before and one after the refresh,",
        "every query in turn on one connection (the window's sessions as one query; the refresh reads",
        "them in 10-day ranges). A nightly refresh reads the older history on a second connection while",
        "it reads the window; `2-conn floor` drains the same queries that way.",
        "",
        "| sessions | mode | extract s | transform s | publish s | run s | process s | COPY floor s | "
        "run/floor | process/floor | 2-conn floor s | run/2-conn floor | sessions/s | peak RSS MiB | store MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, entry in report["sizes"].items():
        for mode in ("nightly", "hourly"):
            r = entry[mode]
            lines.append(
                f"| {int(n):,} | {mode} | {r['extract_seconds']} | {r['transform_seconds']} | "
                f"{r['publish_seconds']} | {r.get('run_seconds', '-')} | {r['wall_seconds']} | {r['floor_seconds']} | "
                f"{r.get('run_to_floor', '-')} | {r['refresh_to_floor']} | {r.get('concurrent_floor_seconds', '-')} | "
                f"{r.get('run_to_concurrent_floor', '-')} | {r['sessions_per_second']:,} | "
                f"{r['peak_rss_mib']} | {r['store_mib']} |"
            )
    lines += store_lines(report)
    extra = report.get("hourly_same_window_more_history")
    if extra:
        small = report["sizes"][str(extra["compared_with_total"])]["hourly"]
        lines += [
            "",
            f"Hourly cost follows the 90-day window, not the total: {extra['compared_with_total']:,} sessions "
            f"refresh hourly in {small['wall_seconds']} s (extract {small['extract_seconds']} s); the same window "
            f"inside {extra['total_sessions']:,} sessions of history takes {extra['wall_seconds']} s (extract "
            f"{extra['extract_seconds']} s, transform {extra['transform_seconds']} s, publish "
            f"{extra['publish_seconds']} s, which includes copying the previous store file and deleting all "
            f"but its older per-day rows, while the window is read; store {extra['store_mib']} MiB).",
        ]
    for n, entry in report["sizes"].items():
        if "api" not in entry:
            continue
        api, live = entry["api"], entry["live_ms"]
        lines += [
            "",
            f"## Read API at {int(n):,} sessions (largest tenant: {entry['tenant']['sessions_30d']} sessions in 30d)",
            "",
            "| endpoint | c1 p50 ms | c1 p99 ms | c50 rps | c50 p99 ms | 200 rps offered: p50 / p99 ms | "
            "live SQL p50 ms | live / API p50 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in ("ping", "team", "me", "flow"):
            a = api[name]
            live_ms = live.get(name)
            ratio = f"{live_ms / a['c1']['p50_ms']:.0f}x" if live_ms else "-"
            lines.append(
                f"| {name} | {a['c1']['p50_ms']} | {a['c1']['p99_ms']} | {a['c50']['rps']} | {a['c50']['p99_ms']} | "
                f"{a['open200']['p50_ms']} / {a['open200']['p99_ms']} | "
                f"{round(live_ms, 1) if live_ms else '-'} | {ratio} |"
            )
        share = ", ".join(
            f"{name} {api[name]['c50']['rps'] / api[name].get('ping_c50_rps', api['ping']['c50']['rps']):.0%}"
            for name in ("team", "me", "flow")
        )
        lines += [
            "",
            f"Throughput at 50 clients vs the constant-JSON endpoint measured just before it (same server, "
            f"same run): {share}.",
            f"Publish to serving: {api['publish_to_serving_ms']} ms.",
        ]
        if "workers" in entry:
            lines += render_workers(entry["workers"])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render"]:  # re-render a saved report: python -m bench.run --render FILE
        write_report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
