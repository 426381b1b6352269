"""`make bench`: refresh against its extraction floor, memory, store size, API latency vs live SQL.

Builds (or reuses) benchmark source databases in an embedded PostgreSQL under bench/data/,
then prints a table and writes bench/results/<date>.json and .md. Every ratio is against a
baseline measured in the same run. Never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.api import _wait_for, largest_tenant, live_baseline, measure_api
from bench.common import (
    ANCHOR,
    DATA,
    RESULTS,
    ROOT,
    SECRET,
    STORAGE_VERSION,
    ensure_source,
    env_for,
    log,
    measure_refresh,
)
from bench.floors import copy_floor, extraction_queries, measure_floors
from bench.report import write_report
from bench.workers import measure_workers
from bench.workers import render as render_workers
from synthetic import embedded


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


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render"]:  # re-render a saved report: python -m bench.run --render FILE
        write_report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
