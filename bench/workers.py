"""Read-API throughput with 1 and 2 server processes (`flowmetrics serve --workers N`), same run.

Each count is served in turn, twice (1, 2, 1, 2), and the better round of each is kept:
throughput on this shared machine drifts by 30% within minutes. The load generator runs
on the same cores as the server, so on a 2-core machine 2 workers cannot double it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from bench.loadgen import closed_loop

WORKER_COUNTS = (1, 2)


def measure_workers(
    env: dict[str, str],
    root: Path,
    tenant: dict[str, str],
    secret: str,
    wait_for: Callable[[int], None],
    *,
    port: int = 8766,
    rounds: int = 2,
    seconds: float = 6.0,
) -> dict[str, Any]:
    token = jwt.encode({"sub": tenant["admin"], "exp": int(time.time()) + 3600}, secret, algorithm="HS256")
    paths = {"team": ("/analytics/team?period=30d", token), "ping": ("/_ping", None)}
    best: dict[int, dict[str, dict[str, float]]] = {n: {} for n in WORKER_COUNTS}
    for _ in range(rounds):
        for workers in WORKER_COUNTS:
            command = [sys.executable, "-m", "jobs.cli", "-q", "serve", "--workers", str(workers), "--port", str(port)]
            server = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for(port)
                for name, (path, tok) in paths.items():
                    closed_loop("127.0.0.1", port, path, tok, clients=8, seconds=1)  # warm-up, every worker
                    result = closed_loop("127.0.0.1", port, path, tok, clients=50, seconds=seconds).as_dict()
                    if result["rps"] > best[workers].get(name, {}).get("rps", -1.0):
                        best[workers][name] = result
            finally:
                server.terminate()
                server.wait(timeout=30)
    return {
        "cpu_count": os.cpu_count(),
        "clients": 50,
        "seconds": seconds,
        "rounds": rounds,
        **{str(n): best[n] for n in WORKER_COUNTS},
        "team_speedup": round(best[2]["team"]["rps"] / best[1]["team"]["rps"], 2),
        "ping_speedup": round(best[2]["ping"]["rps"] / best[1]["ping"]["rps"], 2),
    }


def render(result: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Server processes (`serve --workers N`, {result['clients']} clients, {result['seconds']} s, "
        f"best of {result['rounds']} rounds, {result['cpu_count']} cores shared with the load generator)",
        "",
        "| workers | team rps | team p50 ms | team p99 ms | ping rps | ping p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for n in WORKER_COUNTS:
        team, ping = result[str(n)]["team"], result[str(n)]["ping"]
        lines.append(
            f"| {n} | {team['rps']} | {team['p50_ms']} | {team['p99_ms']} | {ping['rps']} | {ping['p99_ms']} |"
        )
    lines += ["", f"2 workers vs 1: team {result['team_speedup']}x, ping {result['ping_speedup']}x."]
    return lines
