"""`make soak`: the read API under 50 clients across publishes and SIGKILLed refreshes.

An embedded PostgreSQL with a seeded source, a nightly store, `flowmetrics serve` in its
own process; then for SECONDS: 50 keep-alive clients cycle through team, me and flow
requests of many users while a loop publishes hourly refreshes (real `flowmetrics refresh`
processes) and SIGKILLs others mid-run. Prints requests, non-200, mixed answers (one
request and as_of, two bodies), latency overall / quiet / in the second after a publish,
kills, broken stores, leftover files, then the store's size after 24 hourlies against a
nightly on the same data. Never part of `make test`; every figure is this machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from bench.soak_http import HOST, Sample, free_port, load, pct, requests_for, timed_load, wait_for_server
from synthetic import embedded
from synthetic.seed import seed

SECRET = "soak-secret-0123456789abcdef-0123456789abcdef-0123456789abcdef"
AFTER_PUBLISH_SECONDS = 1.0


def say(message: str) -> None:
    print(f"[soak {datetime.now():%H:%M:%S}] {message}", flush=True)


@dataclass
class Refreshes:
    publishes: list[float] = field(default_factory=list)  # perf_counter when the symlink moved
    kills: int = 0
    broken: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    hourlies: int = 0
    seconds: float = 0.0


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "--quiet", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run_cli(env: dict[str, str], *args: str) -> None:
    process = cli(env, *args)
    _, err = process.communicate(timeout=600)
    if process.returncode != 0:
        raise SystemExit(f"error: flowmetrics {' '.join(args)} failed: {err.decode().strip()}")


def store_problem(store: Path) -> str | None:
    """Why the published store would not serve, or None: opened as a new reader would."""
    try:
        con = duckdb.connect(str(store.resolve(strict=True)), read_only=True)
        try:
            con.sql("SELECT count(*) FROM window_summary").fetchall()
            meta = dict(con.sql("SELECT key, value FROM store_meta").fetchall())
        finally:
            con.close()
    except (OSError, duckdb.Error) as exc:
        return str(exc)
    return None if "as_of" in meta else "no as_of"


def leftovers(store: Path) -> list[str]:
    """Files beside the store other than it, its current and one previous version, lock, history."""
    current = store.resolve().name
    expected = {store.name, current, f"{store.name}.lock", f"{store.name}.runs.jsonl"}
    names = sorted(p.name for p in store.parent.iterdir())
    older = [n for n in names if n.startswith(f"{store.name}.v") and n != current]
    return [n for n in names if n not in expected and n not in older[-1:]]


def refresh_loop(env: dict[str, str], store: Path, stop: threading.Event, result: Refreshes) -> None:
    """Until `stop`: a refresh that publishes, then one SIGKILLed at a random moment, and again."""
    pick = random.Random(13)
    while not stop.is_set():
        process = cli(env, "refresh", "--mode", "hourly")
        _, err = process.communicate(timeout=600)
        if process.returncode == 0:
            result.hourlies += 1
        else:
            result.failed.append(err.decode().strip())
        if stop.is_set():
            break
        process = cli(env, "refresh", "--mode", "hourly")
        time.sleep(pick.uniform(0.5, 2.5))  # python starts in ~1 s: some die before the build
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            result.kills += 1
        process.communicate()
        if process.returncode == 0:
            result.hourlies += 1
        problem = store_problem(store)
        if problem is not None:
            result.broken.append(problem)


def watch_publishes(store: Path, stop: threading.Event, result: Refreshes, t0: float) -> None:
    target = os.readlink(store)
    while not stop.is_set():
        now = os.readlink(store)
        if now != target:
            result.publishes.append(time.perf_counter() - t0)
            target = now
        time.sleep(0.002)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--publishes", type=int, default=10, help="runs on past --seconds until this many")
    parser.add_argument("--hourlies", type=int, default=24, help="hourly refreshes in all before the size check")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowmetrics-soak-") as tmp:
        folder = Path(tmp)
        pgdata = folder / "pg"
        admin = embedded.start_embedded(pgdata, stop_at_exit=True)
        try:
            return soak(args, folder, admin)
        finally:
            embedded.stop_embedded(pgdata)


def soak(args: argparse.Namespace, folder: Path, admin: str) -> int:
    url = embedded.create_database(admin, prefix="soak")
    report = seed(url, sessions=args.sessions, accounts=8, days=400, seed=7)
    say(f"seeded {report.sessions} sessions")
    store = folder / "store" / "metrics.duckdb"
    env = {
        **os.environ,
        "METRICS_DB": str(store),
        "DATABASE_URL": url,
        "METRICS_JWT_SECRET": SECRET,
        "METRICS_REFRESH_RETRIES": "0",
    }
    run_cli(env, "refresh", "--mode", "nightly")
    nightly_first = store.resolve().stat().st_size
    requests = requests_for(store, SECRET)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "--quiet", "serve", "--host", HOST, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_server(port)
        say(f"{len(requests)} distinct requests, {args.clients} clients, {args.seconds:.0f} s")
        idle = timed_load(port, requests, args.clients, 10.0)  # no refresh running: the baseline
        stop = threading.Event()
        result = Refreshes()
        t0 = time.perf_counter()

        def until_done() -> None:
            # SECONDS, and on a slow machine longer, until the publishes are in (at most 3x).
            while time.perf_counter() - t0 < args.seconds or len(result.publishes) < args.publishes:
                if time.perf_counter() - t0 > 3 * args.seconds:
                    break
                time.sleep(0.1)
            stop.set()

        threads = [
            threading.Thread(target=refresh_loop, args=(env, store, stop, result)),
            threading.Thread(target=watch_publishes, args=(store, stop, result, t0)),
            threading.Thread(target=until_done),
        ]
        for thread in threads:
            thread.start()
        try:
            samples = asyncio.run(load(port, requests, args.clients, stop, t0))
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        result.seconds = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(30)

    run_cli(env, "refresh", "--mode", "hourly")
    result.hourlies += 1
    left = leftovers(store)
    while result.hourlies < args.hourlies:
        run_cli(env, "refresh", "--mode", "hourly")
        result.hourlies += 1
    hourly_size = store.resolve().stat().st_size
    as_of = last_as_of(store)
    run_cli(env, "refresh", "--mode", "nightly", "--as-of", as_of)
    nightly_size = store.resolve().stat().st_size
    print_report(samples, idle, result, left, nightly_first, hourly_size, nightly_size)
    return 0


def print_report(
    samples: list[Sample],
    idle: list[Sample],
    result: Refreshes,
    left: list[str],
    nightly_first: int,
    hourly: int,
    nightly: int,
) -> None:
    non_200 = sum(s.status != 200 for s in samples)
    bodies: dict[tuple[int, str], set[str]] = defaultdict(set)
    for s in samples:
        if s.status == 200:
            bodies[(s.request, s.as_of)].add(s.digest)
    mixed = sum(len(b) > 1 for b in bodies.values())
    after, quiet = [], []
    for s in samples:
        near = any(p <= s.started < p + AFTER_PUBLISH_SECONDS for p in result.publishes)
        (after if near else quiet).append(s)
    seconds = [s.seconds for s in samples]
    quiet_p99 = pct([s.seconds for s in quiet], 0.99)
    after_p99 = pct([s.seconds for s in after], 0.99)
    figures = {
        "idle_requests": len(idle),
        "idle_p50_ms": round(pct([s.seconds for s in idle], 0.5), 1),
        "idle_p99_ms": round(pct([s.seconds for s in idle], 0.99), 1),
        "seconds": round(result.seconds, 1),
        "requests": len(samples),
        "non_200": non_200 + sum(s.status != 200 for s in idle),
        "mixed_answers": mixed,
        "publishes": len(result.publishes),
        "p50_ms": round(statistics.median(seconds) * 1000, 1) if seconds else 0.0,
        "p99_ms": round(pct(seconds, 0.99), 1),
        "quiet_p50_ms": round(pct([s.seconds for s in quiet], 0.5), 1),
        "quiet_p99_ms": round(quiet_p99, 1),
        "after_publish_requests": len(after),
        "after_publish_p50_ms": round(pct([s.seconds for s in after], 0.5), 1),
        "after_publish_p99_ms": round(after_p99, 1),
        "after_publish_p99_vs_quiet": round(after_p99 / quiet_p99, 2) if quiet_p99 else None,
        "kills": result.kills,
        "broken_stores": len(result.broken),
        "failed_refreshes": len(result.failed),
        "leftover_files": len(left),
        "hourlies": result.hourlies,
        "store_mb_nightly_first": round(nightly_first / 1e6, 2),
        "store_mb_after_hourlies": round(hourly / 1e6, 2),
        "store_mb_nightly_same_data": round(nightly / 1e6, 2),
        "store_hourly_vs_nightly": round(hourly / nightly, 2),
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")
    for problem in result.broken[:5]:
        print(f"  broken: {problem}")
    for problem in result.failed[:5]:
        print(f"  failed: {problem}")
    for name in left:
        print(f"  leftover: {name}")
    print(json.dumps(figures))


def last_as_of(store: Path) -> str:
    con = duckdb.connect(str(store.resolve()), read_only=True)
    try:
        return str(con.sql("SELECT value FROM store_meta WHERE key = 'as_of'").fetchall()[0][0])
    finally:
        con.close()


if __name__ == "__main__":
    sys.exit(main())
