"""`make bench`: this tree's refresh and an older commit's, on the same seeded data, side by side.

    python -m bench.run [--old HEAD~1 | REV | none] [--new REV] [--sizes 1000000,10000000] [--rounds 1] [--skip-api]
                        [--modes nightly,hourly,incremental] [--freshness-seconds 300]

Builds (or reuses) benchmark source databases in an embedded PostgreSQL under bench/data/.
Per size and mode it drains the source once, untimed, then each round measures the old
tree's floor, its refresh, the new tree's floor, its refresh (bench.trees: the old commit,
extracted and run from its own folder; bench.refresh: one measured refresh). Each floor is
a raw COPY drain of the queries that tree's refresh runs. Also: where the CPU goes, per
thread and in PostgreSQL (bench.cpu), peak memory, store size, at the smallest size the
read API against the live SQL and 1 vs 2 server processes, and an hourly refresh of the
same window inside 10x the history. Mode "nightly" rebuilds all history in both trees (an old
tree's `--mode nightly`, this tree's `--mode nightly --full`: bench.trees.refresh_args).
Mode "incremental" (this tree only, bench.incremental): per size the incremental refresh
against the hourly of the same round, and at 1M (or the smallest size) how soon the API
counts a new session under `flowmetrics schedule`. Writes bench/results/<date>.json and .md
(bench.report).
Never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    store_path,
)
from bench.cpu import GROUPS
from bench.floors import copy_floor, raw_queries
from bench.incremental import measure_freshness, measure_incremental
from bench.refresh import measure_refresh
from bench.report import write_report
from bench.trees import Tree, commit_tree, old_tree, this_tree, tree_queries
from bench.workers import measure_workers
from bench.workers import render as render_workers
from synthetic import embedded

# Figures of a run whose median over the rounds the report shows.
MEDIANS = (
    "wall_seconds",
    "run_seconds",
    "extract_seconds",
    "transform_seconds",
    "publish_seconds",
    "raw_floor_seconds",
    "run_to_raw_floor",
    "floor_seconds",
    "run_to_floor",
    "cpu_seconds",
    "postgres_cpu_seconds",
    "peak_rss_mib",
    "store_mib",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="session counts, comma-separated (default 1000000,10000000)")
    parser.add_argument("--old", default="HEAD~1", help="the commit to measure against (default HEAD~1; none: skip)")
    parser.add_argument(
        "--new",
        help="measure this commit (extracted, like --old) instead of the checkout: edits made meanwhile stay out",
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds per size and mode (default 1)")
    parser.add_argument(
        "--modes", default="nightly,hourly,incremental", help="default nightly,hourly,incremental (bench.trees)"
    )
    parser.add_argument(
        "--freshness-seconds", type=float, default=300, help="freshness writer seconds (default 300; 0: none)"
    )
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
    new = commit_tree(args.new, "new") if args.new else this_tree()
    trees = [new] if args.old == "none" or args.only else [old_tree(args.old), new]
    admin = embedded.start_embedded(DATA / "pg", stop_at_exit=False)
    try:
        if args.only == "workers":
            workers_only(admin, sizes[0], new)
            return
        report: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(),
            "as_of": ANCHOR.isoformat(),
            "rounds": args.rounds,
            "cpu_count": os.cpu_count(),
            "trees": {t.name: {"commit": t.commit, "subject": t.subject, "root": str(t.root)} for t in trees},
            "sizes": {},
        }
        modes = args.modes.split(",")
        freshness_at = 1_000_000 if 1_000_000 in sizes else min(sizes)
        for n in sizes:
            url = ensure_source(admin, f"bench_{n}", sessions=n, days=365)
            entry = measure_size(url, n, trees, [m for m in modes if m != "incremental"], args.rounds)
            if not args.skip_api and n == sizes[0]:
                store = store_path(n, new.name)
                tenant = largest_tenant(url)
                entry["tenant"] = tenant
                entry["live_ms"] = live_baseline(url, tenant)
                entry["api"] = measure_api(url, store, tenant, new)
                entry["workers"] = measure_workers(env_for(url, store), ROOT, tenant, SECRET, _wait_for)
                log(f"workers: {entry['workers']}")
            if "incremental" in modes:
                # After the other modes: its changes to the source come after their comparisons.
                entry["incremental"] = measure_incremental(url, n, new, args.rounds)
                report["sizes"][str(n)] = entry
                write_report(report, echo=False)
                if n == freshness_at and args.freshness_seconds > 0:
                    entry["freshness"] = measure_freshness(url, n, new, seconds=args.freshness_seconds)
            report["sizes"][str(n)] = entry
            write_report(report, echo=False)  # after every size, so a stopped run keeps what it measured
        if len(sizes) > 1:
            report["hourly_same_window_more_history"] = more_history(admin, sizes[0], new)
        write_report(report)
    finally:
        # The bench leaves no server behind: its PostgreSQL starts again (with its data) next time.
        embedded.stop_embedded(DATA / "pg")


def measure_size(url: str, n: int, trees: list[Tree], modes: list[str], rounds: int) -> dict[str, Any]:
    """Per mode: one untimed drain, then per round each tree's floor and refresh, in turn."""
    entry: dict[str, Any] = {}
    nightly: set[str] = set()  # trees whose store a nightly of this run built
    for mode in modes:
        for tree in trees:
            if mode == "hourly" and tree.name not in nightly:  # an hourly refresh builds on a nightly store
                log(f"{n:,} {tree.name}: a nightly first (untimed), for the hourly")
                measure_refresh(tree, url, store_path(n, tree.name), "nightly")
        queries = {tree.name: tree_queries(tree, url, mode) for tree in trees}
        copy_floor(url, queries[trees[-1].name])  # warm the source's cache once, untimed
        raw = raw_queries(mode)
        runs: dict[str, list[dict[str, Any]]] = {tree.name: [] for tree in trees}
        for i in range(rounds):
            for tree in trees:
                raw_floor, raw_copied = copy_floor(url, raw)
                floor, copied = copy_floor(url, queries[tree.name])
                run = measure_refresh(tree, url, store_path(n, tree.name), mode)
                run.update(
                    raw_floor_seconds=round(raw_floor, 2),
                    raw_floor_mib=round(raw_copied / 2**20, 1),
                    run_to_raw_floor=round(run["wall_seconds"] / raw_floor, 2),
                    floor_seconds=round(floor, 2),
                    floor_mib=round(copied / 2**20, 1),
                    floor_queries=len(queries[tree.name]),
                    run_to_floor=round(run["wall_seconds"] / floor, 2),
                )
                runs[tree.name].append(run)
                log(
                    f"{n:,} {mode} round {i + 1}/{rounds} {tree.name}: run {run['wall_seconds']} s, raw floor "
                    f"{run['raw_floor_seconds']} s, own floor {run['floor_seconds']} s, CPU {run['cpu_seconds']} s, "
                    "PostgreSQL "
                    f"{run.get('postgres_cpu_seconds')} s, peak {run['peak_rss_mib']} MiB, store {run['store_mib']} MiB"
                )
        entry[mode] = {name: {"runs": figures, "median": medians(figures)} for name, figures in runs.items()}
        if mode == "nightly":
            nightly.update(runs)
    return entry


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        key: round(statistics.median(run[key] for run in runs), 2) for key in MEDIANS if all(key in run for run in runs)
    }
    if all("threads" in run for run in runs):
        result["threads"] = {g: round(statistics.median(run["threads"][g] for run in runs), 2) for g in GROUPS}
    return result


def more_history(admin: str, n: int, tree: Tree) -> dict[str, Any]:
    """The smallest size's data plus 9x as many sessions of older history: the same 90-day
    window, 10x the total. The hourly refresh must cost about the same as the smallest's."""
    url = ensure_source(admin, f"bench_{n}_plus_history", sessions=n, days=365, history_sessions=9 * n)
    store = DATA / f"store_{n}_plus_history" / "metrics.duckdb"
    measure_refresh(tree, url, store, "nightly")
    queries = tree_queries(tree, url, "hourly")
    first_drain, _ = copy_floor(url, queries)
    run = measure_refresh(tree, url, store, "hourly")
    second_drain, _ = copy_floor(url, queries)
    floor = min(first_drain, second_drain)
    run.update(
        floor_seconds=round(floor, 2),
        run_to_floor=round(run["wall_seconds"] / floor, 2),
        total_sessions=10 * n,
        compared_with_total=n,
    )
    return run


def workers_only(admin: str, n: int, tree: Tree) -> None:
    """`python -m bench.run --only workers`: a store of n sessions (reused), then the workers part."""
    url = ensure_source(admin, f"bench_{n}", sessions=n, days=365)
    store = store_path(n, tree.name)
    if not store.exists():
        measure_refresh(tree, url, store, "nightly")
    tenant = largest_tenant(url)
    result = measure_workers(env_for(url, store), ROOT, tenant, SECRET, _wait_for)
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(), "as_of": ANCHOR.isoformat(), "sessions": n}
    report["workers"] = result
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
