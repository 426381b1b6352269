"""The benchmark's API side: latency and throughput of the read API against the live SQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ANCHOR, ROOT, SECRET, env_for, log
from bench.refresh import measure_refresh
from bench.trees import Tree
from etl import database


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


def measure_api(url: str, store: Path, tenant: dict[str, str], tree: Tree, port: int = 8765) -> dict[str, Any]:
    """The API of this tree (`tree`: the one that refreshes `store` for the publish-to-serving figure)."""
    import jwt

    from bench.loadgen import closed_loop, open_loop

    server = subprocess.Popen(
        [str(tree.python), "-m", "jobs.cli", "-q", "serve", "--port", str(port)],
        env=env_for(url, store),
        cwd=tree.root,
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
        results["publish_to_serving_ms"] = _publish_to_serving(url, store, port, tree)
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


def _publish_to_serving(url: str, store: Path, port: int, tree: Tree) -> float:
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
            # /health names the served file (store_version), not its path.
            if swapped_at is not None and body.get("store_version") == store.resolve().name:
                seen["ms"] = (time.perf_counter() - swapped_at) * 1000
                return
            time.sleep(0.001)

    poller = threading.Thread(target=poll)
    poller.start()
    measure_refresh(tree, url, store, "hourly")
    poller.join()
    return round(seen.get("ms", float("nan")), 2)
