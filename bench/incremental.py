"""The incremental refresh: its cost against the hourly's, and how fresh the API is under the scheduler.

Budgets, per size (`measure_incremental`): a store built by a nightly --full (untimed),
then each round an hourly (timed), the app's changes applied to the source (`apply_changes`:
1,000 changed sessions, 300 changed ratings), an incremental (timed); after the last round
one more hourly, whose drift_rows (source against the incremental state) must be all zeros.
Every refresh is one measured process (bench.refresh.measure_refresh) at the benchmark's
as_of. An older tree has no incremental mode: the incremental is compared with the hourly
of the same round and tree.

Freshness (`measure_freshness`): `flowmetrics schedule` (incremental every
METRICS_INCREMENTAL_SECONDS, default 60) and `flowmetrics serve` as processes on a store of
their own, built by a nightly --full as of now; a writer inserts one finished session every
few seconds into a few trees; a poller reads each tree's flow dashboard (7d) until its
total_sessions counts the session. Lag: from the insert's commit to the first answer that
counts it. The hourly and nightly crons are moved out of the way (METRICS_*_CRON), so what
is measured is the incremental ticks alone.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from bench.api import _wait_for
from bench.common import ANCHOR, DATA, SECRET, env_for, log, store_path
from bench.refresh import measure_refresh
from bench.trees import Tree
from etl import database
from jobs.plan import lookback_start

# The app's changes between two refreshes (apply_changes).
SESSION_CHANGES = {"inserted": 600, "completed": 200, "deleted": 100, "moved": 100}
RATING_CHANGES = {"inserted": 150, "updated": 100, "deleted": 50}
RECENT_DAYS = 3
"""Inserted sessions start within the last RECENT_DAYS days before as_of."""
MOVE_DAYS = 2
"""A moved session starts this many days earlier."""

# Budgets: incremental wall / hourly wall per size (the largest size's applies above it),
# rows read incremental / hourly, freshness p99 over the interval.
WALL_BUDGET = {1_000_000: 0.30, 10_000_000: 0.10}
ROWS_BUDGET = 0.05
FRESHNESS_SLACK_SECONDS = 15.0

# Figures of a refresh the report keeps per run (measure_refresh gives more; the JSON keeps all).
KEPT = (
    "wall_seconds",
    "run_seconds",
    "extract_seconds",
    "transform_seconds",
    "publish_seconds",
    "extract_rows",
    "transform_rows",
    "publish_rows",
    "cpu_seconds",
    "postgres_cpu_seconds",
    "peak_rss_mib",
    "write_mib",
    "cancelled_write_mib",
    "wchar_mib",
    "store_mib",
    "overlay_mib",
    "fallback",
    "drift_rows",
    "load_before",
    "load_after",
)


def wall_budget(n: int) -> float:
    """The incremental/hourly wall ratio allowed at n sessions (the nearest size at or below n)."""
    fitting = [size for size in WALL_BUDGET if size <= n]
    return WALL_BUDGET[max(fitting)] if fitting else WALL_BUDGET[min(WALL_BUDGET)]


def kept(run: dict[str, Any]) -> dict[str, Any]:
    return {key: run[key] for key in KEPT if key in run}


def apply_changes(url: str, salt: str) -> dict[str, int]:
    """The app's writes between two refreshes, in the lookback before as_of, in one transaction.

    Sessions: inserts of finished ones (copies of random window sessions' tree, user and
    decisions) started in the last days; completions of unfinished ones; deletes; started_at
    moved MOVE_DAYS earlier. Ratings: inserts (of the inserted sessions), updates, deletes.
    Rows are picked by md5(id || salt): each round its own.
    """
    since = lookback_start(ANCHOR)
    early = since + timedelta(days=MOVE_DAYS + 1)  # moved sessions stay in the window
    s, r = SESSION_CHANGES, RATING_CHANGES
    counts: dict[str, int] = {}
    started = time.perf_counter()
    with database.connect(url) as conn:
        inserted = conn.execute(
            """
            INSERT INTO sessions (id, tree_id, user_id, started_at, completed_at, outcome, decisions)
            SELECT gen_random_uuid(), tree_id, user_id, t.started,
                   t.started + interval '1 minute' * (4 + 20 * random()),
                   (ARRAY['resolved', 'escalated', 'workaround', 'unresolved'])[1 + floor(random() * 4)::int], decisions
            FROM (
                SELECT tree_id, user_id, decisions,
                       %(anchor)s::timestamptz - interval '30 minutes' - random() * %(recent)s * interval '1 day'
                           AS started
                FROM sessions
                WHERE started_at >= %(since)s AND jsonb_typeof(decisions) = 'array'
                ORDER BY md5(id::text || %(salt)s) LIMIT %(n)s
            ) t
            RETURNING id
            """,
            {"anchor": ANCHOR, "recent": RECENT_DAYS, "since": since, "salt": salt, "n": s["inserted"]},
        ).fetchall()
        new_ids = [row[0] for row in inserted]
        counts["sessions_inserted"] = len(new_ids)
        counts["sessions_completed"] = conn.execute(
            """
            UPDATE sessions SET completed_at = started_at + interval '15 minutes', outcome = 'resolved'
            WHERE id IN (
                SELECT id FROM sessions
                WHERE started_at >= %(since)s AND started_at < %(anchor)s AND completed_at IS NULL
                  AND NOT (id = ANY(%(new)s))
                ORDER BY md5(id::text || %(salt)s) LIMIT %(n)s
            )
            """,
            {"since": since, "anchor": ANCHOR, "new": new_ids, "salt": salt, "n": s["completed"]},
        ).rowcount
        # Deleted and moved: finished sessions (the completions above picked unfinished ones).
        picked = [
            row[0]
            for row in conn.execute(
                """
                SELECT id FROM sessions
                WHERE started_at >= %(early)s AND started_at < %(anchor)s AND completed_at IS NOT NULL
                  AND NOT (id = ANY(%(new)s))
                ORDER BY md5(id::text || %(salt)s || 'dm') LIMIT %(n)s
                """,
                {"early": early, "anchor": ANCHOR, "new": new_ids, "salt": salt, "n": s["deleted"] + s["moved"]},
            ).fetchall()
        ]
        gone, moved = picked[: s["deleted"]], picked[s["deleted"] :]
        counts["sessions_deleted"] = conn.execute("DELETE FROM sessions WHERE id = ANY(%s)", (gone,)).rowcount
        counts["sessions_moved"] = conn.execute(
            "UPDATE sessions SET started_at = started_at - make_interval(days => %s), "
            "completed_at = completed_at - make_interval(days => %s) WHERE id = ANY(%s)",
            (MOVE_DAYS, MOVE_DAYS, moved),
        ).rowcount
        counts["ratings_inserted"] = conn.execute(
            """
            INSERT INTO session_ratings (id, session_id, tree_id, user_id, rating, comment, created_at)
            SELECT gen_random_uuid(), id, tree_id, user_id, 1 + floor(random() * 5)::int,
                   CASE WHEN random() < 0.3 THEN 'bench comment ' || %(salt)s END, completed_at + interval '1 minute'
            FROM sessions WHERE id = ANY(%(ids)s)
            """,
            {"ids": new_ids[: r["inserted"]], "salt": salt},
        ).rowcount
        rated = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM session_ratings WHERE created_at >= %s AND created_at < %s "
                "ORDER BY md5(id::text || %s) LIMIT %s",
                (since, ANCHOR, salt, r["updated"] + r["deleted"]),
            ).fetchall()
        ]
        counts["ratings_updated"] = conn.execute(
            "UPDATE session_ratings SET rating = 1 + rating %% 5, comment = coalesce(comment, 'changed') "
            "WHERE id = ANY(%s)",
            (rated[: r["updated"]],),
        ).rowcount
        counts["ratings_deleted"] = conn.execute(
            "DELETE FROM session_ratings WHERE id = ANY(%s)", (rated[r["updated"] :],)
        ).rowcount
    counts["apply_ms"] = round((time.perf_counter() - started) * 1000)
    return counts


def measure_incremental(url: str, n: int, tree: Tree, rounds: int) -> dict[str, Any]:
    """Per round: hourly (timed), the app's changes, incremental (timed); then the drift check."""
    store = store_path(n, "incremental")
    log(f"{n:,} incremental: a nightly --full first (untimed), into {store}")
    build = measure_refresh(tree, url, store, "nightly")
    runs = []
    for i in range(rounds):
        hourly = kept(measure_refresh(tree, url, store, "hourly"))
        changes = apply_changes(url, uuid.uuid4().hex[:8])
        incremental = kept(measure_refresh(tree, url, store, "incremental"))
        result = {"hourly": hourly, "changes": changes, "incremental": incremental, **ratios(incremental, hourly)}
        runs.append(result)
        log(
            f"{n:,} incremental round {i + 1}/{rounds}: hourly {hourly['wall_seconds']} s "
            f"({hourly.get('extract_rows')} rows), incremental {incremental['wall_seconds']} s "
            f"({incremental.get('extract_rows')} rows; extract {incremental.get('extract_seconds')} s, transform "
            f"{incremental.get('transform_seconds')} s, publish {incremental.get('publish_seconds')} s), "
            f"wall ratio {result['wall_ratio']}, rows ratio {result['rows_ratio']}, "
            f"written {incremental.get('write_mib')} MiB vs {hourly.get('write_mib')} MiB"
        )
    # The hourly after the last incremental: the source against the incremental state.
    check = kept(measure_refresh(tree, url, store, "hourly"))
    drift = check.get("drift_rows")
    log(f"{n:,} the hourly after the incremental: drift {drift}")
    return {
        "build": kept(build),
        "runs": runs,
        "median": {
            key: round(statistics.median(run[key] for run in runs), 3)
            for key in ("wall_ratio", "run_ratio", "rows_ratio")
            if all(run.get(key) is not None for run in runs)
        },
        "check_hourly": check,
        "drift_zero": drift is not None and not any(drift.values()),
        "wall_budget": wall_budget(n),
        "rows_budget": ROWS_BUDGET,
    }


def ratios(incremental: dict[str, Any], hourly: dict[str, Any]) -> dict[str, float | None]:
    def ratio(key: str) -> float | None:
        a, b = incremental.get(key), hourly.get(key)
        return round(a / b, 3) if a is not None and b else None

    return {"wall_ratio": ratio("wall_seconds"), "run_ratio": ratio("run_seconds"), "rows_ratio": ratio("extract_rows")}


# --- freshness through the API ---------------------------------------------------------------


def dashboard_trees(url: str, count: int) -> list[dict[str, str]]:
    """`count` trees of distinct accounts, each with an active team admin and a session to copy."""
    with database.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT DISTINCT ON (t.account_id) t.id::text, t.account_id::text, a.id::text, s.id::text
            FROM trees t
            JOIN users a ON a.account_id = t.account_id AND a.is_team_admin AND a.is_active
            JOIN LATERAL (
                SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id AND u.is_active
                WHERE s.tree_id = t.id AND jsonb_typeof(s.decisions) = 'array' LIMIT 1
            ) s ON true
            ORDER BY t.account_id, t.id, a.id
            """
        ).fetchall()
    return [{"tree": r[0], "account": r[1], "admin": r[2], "template": r[3]} for r in rows[:count]]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q * len(ordered) + 0.5)) - 1))]


def stop(process: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout` s: this one process, by its id."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {process.pid}) did not stop in {timeout:.0f} s: killing it")
        process.kill()
        process.wait(timeout=30)


def measure_freshness(
    url: str,
    n: int,
    tree: Tree,
    *,
    seconds: float = 300,
    every: float = 5.0,
    trees: int = 4,
    port: int = 8766,
    interval: int = 60,
) -> dict[str, Any]:
    """Lag from a session's insert to the first dashboard answer counting it (schedule + serve)."""
    import jwt

    store = DATA / f"store_{n}" / "freshness" / "metrics.duckdb"
    log(f"{n:,} freshness: a nightly --full as of now (untimed), into {store}")
    build = measure_refresh(tree, url, store, "nightly", as_of=None)
    picked = dashboard_trees(url, trees)
    env = env_for(url, store)
    env.update(
        METRICS_INCREMENTAL_SECONDS=str(interval),
        # Never within the run, nor within a misfire grace of it: the incremental ticks alone.
        METRICS_HOURLY_CRON="0 0 1 1 *",
        METRICS_NIGHTLY_CRON="0 0 1 1 *",
        METRICS_MISFIRE_GRACE_SECONDS="60",
    )
    logs = store.parent
    runs_log = store.with_name(store.name + ".runs.jsonl")
    runs_before = len(runs_log.read_text().splitlines()) if runs_log.exists() else 0
    token = {
        p["tree"]: jwt.encode({"sub": p["admin"], "exp": int(time.time()) + 7200}, SECRET, algorithm="HS256")
        for p in picked
    }

    def total(tree_id: str) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/analytics/flows/{tree_id}?period=7d",
            headers={"Authorization": f"Bearer {token[tree_id]}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(json.loads(response.read())["summary"]["total_sessions"])

    processes: list[tuple[str, subprocess.Popen[bytes], float]] = []
    inserted: dict[str, list[float]] = {p["tree"]: [] for p in picked}  # commit times, per tree in order
    seen: dict[str, list[float]] = {p["tree"]: [] for p in picked}
    errors: list[str] = []
    polls = 0
    done = threading.Event()
    try:
        with open(logs / "serve.log", "ab") as out:
            server = subprocess.Popen(
                [str(tree.python), "-m", "jobs.cli", "serve", "--port", str(port)],
                env=env,
                cwd=tree.root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(("serve", server, 15))
        _wait_for(port)
        base = {tree_id: total(tree_id) for tree_id in inserted}
        with open(logs / "schedule.log", "ab") as out:
            scheduler = subprocess.Popen(
                [str(tree.python), "-m", "jobs.cli", "schedule"],
                env=env,
                cwd=tree.root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.insert(0, ("schedule", scheduler, 300))  # stopped first: it finishes its refresh in flight
        started = time.time()
        log(f"freshness: schedule (pid {scheduler.pid}) and serve (pid {server.pid}) up; writing for {seconds:.0f} s")

        def poll() -> None:
            nonlocal polls
            while True:
                for tree_id in inserted:
                    try:
                        count = total(tree_id) - base[tree_id]
                    except OSError as exc:
                        errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    polls += 1
                    now = time.time()
                    while len(seen[tree_id]) < min(count, len(inserted[tree_id])):
                        seen[tree_id].append(now)
                if done.is_set() and all(len(seen[t]) >= len(inserted[t]) for t in inserted):
                    return
                time.sleep(0.25)

        poller = threading.Thread(target=poll, name="freshness-poller", daemon=True)
        poller.start()
        with database.connect(url, autocommit=True) as conn:
            i = 0
            while time.time() - started < seconds:
                if scheduler.poll() is not None or server.poll() is not None:
                    raise SystemExit(f"freshness: the scheduler or the server exited (see their logs in {logs})")
                p = picked[i % len(picked)]
                conn.execute(
                    "INSERT INTO sessions (id, tree_id, user_id, started_at, completed_at, outcome, decisions) "
                    "SELECT gen_random_uuid(), tree_id, user_id, now() - interval '12 minutes', now(), 'resolved', "
                    "decisions FROM sessions WHERE id = %s",
                    (p["template"],),
                )
                inserted[p["tree"]].append(time.time())
                i += 1
                time.sleep(max(0.0, started + i * every - time.time()))
        done.set()
        poller.join(timeout=2 * interval + 120)
        if poller.is_alive():
            errors.append("sessions never counted within 2 intervals + 120 s of the last insert")
    finally:
        done.set()
        for name, process, timeout in processes:
            stop(process, name, timeout)
    lags = [s - c for t in inserted for c, s in zip(inserted[t], seen[t], strict=False)]
    unseen = sum(len(inserted[t]) - len(seen[t]) for t in inserted)
    runs = [json.loads(line) for line in runs_log.read_text().splitlines()[runs_before:]]
    incrementals = [r for r in runs if r.get("mode") == "incremental"]
    done_runs = [r for r in incrementals if r.get("status") == "success"]

    def stage(key: str) -> float | None:
        values = [r[key] for r in done_runs if r.get(key) is not None]
        return round(statistics.median(values), 2) if values else None

    run_seconds = [
        (datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["started_at"])).total_seconds()
        for r in done_runs
        if r.get("finished_at")
    ]
    result: dict[str, Any] = {
        "sessions": n,
        "interval_seconds": interval,
        "write_every_seconds": every,
        "write_seconds": seconds,
        "trees": len(picked),
        "inserted": sum(len(v) for v in inserted.values()),
        "counted": len(lags),
        "unseen": unseen,
        "polls": polls,
        "poll_errors": len(errors),
        "errors": errors[:5],
        "lag_p50_seconds": round(statistics.median(lags), 2) if lags else None,
        "lag_p99_seconds": round(percentile(lags, 0.99), 2) if lags else None,
        "lag_max_seconds": round(max(lags), 2) if lags else None,
        "lag_min_seconds": round(min(lags), 2) if lags else None,
        "budget_seconds": interval + FRESHNESS_SLACK_SECONDS,
        "incremental_runs": len(incrementals),
        "incremental_failed": len(incrementals) - len(done_runs),
        "other_runs": sorted({r.get("mode", "?") for r in runs if r.get("mode") != "incremental"}),
        "fallbacks": sorted({r["fallback"] for r in done_runs if r.get("fallback")}),
        "run_seconds_each": [round(value, 2) for value in run_seconds],
        "run_seconds_median": round(statistics.median(run_seconds), 2) if run_seconds else None,
        "run_seconds_max": round(max(run_seconds), 2) if run_seconds else None,
        "extract_seconds_median": stage("extract_seconds"),
        "transform_seconds_median": stage("transform_seconds"),
        "publish_seconds_median": stage("publish_seconds"),
        "extract_rows_median": stage("extract_rows"),
        "build_wall_seconds": build["wall_seconds"],
    }
    log(f"freshness: {result}")
    return result


# --- the report's lines ------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], side: str, key: str) -> Any:
    values = [run[side][key] for run in runs if run[side].get(key) is not None]
    if not values:
        return "-"
    value = statistics.median(values)
    return f"{value:,.0f}" if key.endswith("_rows") else round(value, 2)


def _held(value: Any, budget: float) -> str:
    return "-" if not isinstance(value, int | float) else f"{value} ({'held' if value <= budget else 'MISSED'})"


def render(report: dict[str, Any]) -> list[str]:
    """The incremental against the hourly per size, and the freshness figures (Markdown lines)."""
    from bench.tables import table

    sizes = [(int(n), entry) for n, entry in report["sizes"].items() if "incremental" in entry]
    if not sizes:
        return []
    changes = ", ".join(f"{v} {k}" for k, v in SESSION_CHANGES.items())
    ratings = ", ".join(f"{v} {k}" for k, v in RATING_CHANGES.items())
    lines = [
        "",
        "## Incremental refresh against the hourly (new tree)",
        "",
        "Per size: a store built by a nightly --full (untimed), then each round an hourly, the app's changes "
        f"to the source in one transaction (sessions: {changes}; ratings: {ratings}; within the lookback before "
        "as_of), an incremental; each refresh one process timed as above. Medians over the rounds; the ratios "
        "are the medians of each round's. `wall`: the process (Python start and imports included, ~1-2 s on "
        "this machine); `refresh s`: the run itself from its history. `rows read`: extract_rows, rows read "
        "from the source. `written MiB`: write_bytes of the process (/proc/<pid>/io: pages it dirtied), "
        "`store MiB` the published base file, `overlay MiB` the incremental's overlay on it "
        "(docs/freshness.md; what the minute path writes is the overlay), `overlay/store` their ratio "
        "(budget <= 25% at 10M). Budgets: wall ratio "
        + ", ".join(f"<= {v} at {k:,}" for k, v in WALL_BUDGET.items())
        + f"; rows read <= {ROWS_BUDGET:.0%} of the hourly's. The machine's 2 cores are shared with other "
        "work: wall figures are noisy.",
    ]
    head = ["sessions", "mode", "wall s", "refresh s", "extract s", "transform s", "publish s", "rows read"]
    head += ["written MiB", "peak RSS MiB", "CPU-s", "PostgreSQL CPU-s", "store MiB", "overlay MiB"]
    rows = []
    for n, entry in sizes:
        runs = entry["incremental"]["runs"]
        keys = ("wall_seconds", "run_seconds", "extract_seconds", "transform_seconds", "publish_seconds")
        keys += ("extract_rows", "write_mib", "peak_rss_mib", "cpu_seconds", "postgres_cpu_seconds", "store_mib")
        keys += ("overlay_mib",)
        for side in ("hourly", "incremental"):
            rows.append([f"{n:,}", side, *(_median(runs, side, key) for key in keys)])
    lines += table(head, rows)
    head = ["sessions", "rounds", "wall inc/hourly (budget)", "refresh s inc/hourly", "rows read inc/hourly"]
    head += ["written inc/hourly", "overlay/store", "drift of the hourly after", "fallbacks"]
    rows = []
    for n, entry in sizes:
        inc = entry["incremental"]
        runs, median = inc["runs"], inc["median"]
        written = [
            run["incremental"]["write_mib"] / run["hourly"]["write_mib"]
            for run in runs
            if run["incremental"].get("write_mib") is not None and run["hourly"].get("write_mib")
        ]
        shares = [
            run["incremental"]["overlay_mib"] / run["incremental"]["store_mib"]
            for run in runs
            if run["incremental"].get("overlay_mib") is not None and run["incremental"].get("store_mib")
        ]
        drift = inc["check_hourly"].get("drift_rows")
        fallbacks = {run["incremental"]["fallback"] for run in runs if run["incremental"].get("fallback")}
        rows.append(
            [
                f"{n:,}",
                len(runs),
                _held(median.get("wall_ratio"), inc["wall_budget"]),
                median.get("run_ratio", "-"),
                _held(median.get("rows_ratio"), inc["rows_budget"]),
                round(statistics.median(written), 3) if written else "-",
                round(statistics.median(shares), 3) if shares else "-",
                ("all zero: " if inc["drift_zero"] else "NOT ZERO: ") + json.dumps(drift, sort_keys=True),
                "; ".join(sorted(fallbacks)) or "none",
            ]
        )
    lines += table(head, rows)
    for _, entry in sizes:
        if "freshness" in entry:
            lines += freshness_lines(entry["freshness"])
    return lines


def freshness_lines(f: dict[str, Any]) -> list[str]:
    from bench.tables import table

    p99 = f["lag_p99_seconds"]
    held = "held" if isinstance(p99, int | float) and p99 <= f["budget_seconds"] and not f["unseen"] else "MISSED"
    lines = [
        "",
        f"## Freshness through the API at {f['sessions']:,} sessions",
        "",
        f"`flowmetrics schedule` (incremental every {f['interval_seconds']} s; hourly and nightly crons moved out "
        f"of the way) and `flowmetrics serve` as processes; one finished session inserted every "
        f"{f['write_every_seconds']:g} s for {f['write_seconds']:g} s, round-robin into {f['trees']} trees of "
        "distinct accounts; each tree's `GET /analytics/flows/{tree_id}?period=7d` polled every 0.25 s until "
        "its total_sessions counts the session. Lag: the insert's commit to the first answer counting it.",
    ]
    head = ["sessions inserted", "counted", "lag p50 s", "lag p99 s", "lag max s", "budget p99 s", "held"]
    head += ["incremental runs (failed)", "incremental refresh s median / max", "extract / transform / publish s"]
    stages = " / ".join(str(f.get(f"{k}_seconds_median")) for k in ("extract", "transform", "publish"))
    row = [f["inserted"], f["counted"], f["lag_p50_seconds"], p99, f["lag_max_seconds"], f["budget_seconds"], held]
    row += [f"{f['incremental_runs']} ({f['incremental_failed']})"]
    row += [f"{f['run_seconds_median']} / {f['run_seconds_max']}", stages]
    lines += table(head, [row])
    if f.get("run_seconds_each"):
        lines += [
            "",
            "Each scheduled incremental's refresh seconds, in order (the first is the scheduler process's first "
            f"run): {', '.join(str(v) for v in f['run_seconds_each'])}.",
        ]
    if f.get("poll_errors") or f.get("fallbacks") or f.get("other_runs"):
        lines += [
            "",
            f"Poll errors: {f['poll_errors']}; fallbacks: {f['fallbacks'] or 'none'}; "
            f"other runs: {f['other_runs'] or 'none'}.",
        ]
    return lines
