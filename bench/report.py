"""The benchmark's report: bench/results/<date>.json and .md."""

from __future__ import annotations

import json
from typing import Any

from bench.common import RESULTS
from bench.incremental import render as render_incremental
from bench.tables import TARGET, loads, main_table, same_rows, stage_table, store_table, table, thread_table
from bench.workers import render as render_workers


def write_report(report: dict[str, Any], *, echo: bool = True) -> None:
    """bench/results/<date>.json and .md; a later run the same day gets <date>-2, -3, ..."""
    stamp = report.setdefault("file", free_stamp(report["date"][:10]))
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2))
    markdown = render_markdown(report)
    (RESULTS / f"{stamp}.md").write_text(markdown)
    if echo:
        print(markdown)


def free_stamp(day: str) -> str:
    stamp, n = day, 1
    while (RESULTS / f"{stamp}.json").exists():
        n += 1
        stamp = f"{day}-{n}"
    return stamp


def describe(tree: dict[str, Any] | None) -> str:
    return f"`{tree['commit']}` ({tree['subject']})" if tree else "none (`--old none`)"


def render_markdown(report: dict[str, Any]) -> str:
    trees = report["trees"]
    rounds = report["rounds"]
    lines = [
        f"# Benchmark {report['date'][:10]} (as_of {report['as_of']})",
        "",
        f"old = {describe(trees.get('old'))}; new = {describe(trees['new'])}. One source database per size, "
        "seeded once; per size and mode the source is drained once, untimed, then each round runs "
        + (
            "the old tree's floor, its refresh, the new tree's floor, its refresh, each tree against its own store. "
            if "old" in trees
            else "the floor, then the refresh. "
        )
        + f"Figures are medians over {rounds} round{'s' if rounds != 1 else ''}; run/floor is the median of each "
        "round's ratio.",
        "",
        "`run s`: wall seconds of the refresh process (`python -m jobs.cli refresh`, Python start and imports "
        "included; both trees pay them). `raw floor s`: a `COPY (SELECT <raw columns> FROM sessions | "
        "session_ratings | step_ratings [WHERE in the lookback]) TO STDOUT (FORMAT binary)` drain on one "
        "connection (`bench.floors.raw_queries`, the same for both trees), right before each refresh; "
        "`run/raw floor` is the ratio the budgets are set on. `own floor`: the same drain of the queries that "
        "tree's refresh runs (its own `bench.floors.extraction_queries`, with the work they do inside PostgreSQL). "
        "CPU-s: user + system seconds of the refresh process and its threads (wait4). "
        "PostgreSQL CPU-s: what the server's processes used during the refresh (sampled from /proc, see below). "
        "Peak RSS: the refresh process's maxrss from GNU `/usr/bin/time -f %M`. Store: the published file.",
    ]
    lines += main_table(report)
    lines += [
        "",
        "CPU-seconds per thread, sampled every 50 ms from `/proc/<pid>/task/*/stat` while the refresh runs "
        "(each thread's last reading; up to 50 ms of each busy thread's last interval is not seen, so the "
        "groups add up to slightly less than `total`, the exact user + system from wait4). `main`: the "
        "calling thread (transforms); `read-window`, `read-history`, `history`, `write`: the refresh's "
        "threads by their OS names (a tree before commit 74eca6d does not name them: their CPU counts as "
        "`native`); `polars`: Polars' pool (`polars-*`, `async-executor-*`); `native`: other threads named "
        "like the process (DuckDB's, Arrow's and the drivers' pools); `other`: the rest. `postgres`: the "
        "CPU-seconds the postmaster's child processes used during the run (all of it for a backend started "
        "meanwhile, the difference for one already running). `cores busy`: (total + postgres) / wall. "
        "`all cores busy: wall s`: (total + postgres) / cores, the shortest wall this much CPU allows; `its "
        f"run/floor`: that over the floor, the lowest ratio this CPU allows; `CPU-s left at {TARGET}x`: "
        f"{TARGET} x floor x cores - postgres, the refresh process's CPU-seconds that would reach {TARGET}x "
        "with every core busy.",
    ]
    lines += thread_table(report, report.get("cpu_count") or 2)
    lines += [
        "",
        "Stages, from each run's history (medians): `refresh s` is the refresh itself, without starting Python "
        "and importing (the scheduler pays those once); the stages overlap (the source is read while the "
        "previous read is transformed and written), so they add up to more than it. `rows read`, the floor's "
        "size and the number of tables: the first round.",
    ]
    lines += stage_table(report)
    lines += ["", "Stores: rows of the largest tables and the storage format (the last round)."]
    lines += store_table(report)
    if "old" in trees:
        same = same_rows(report)
        lines += [
            "",
            "Data tables both trees build (all but refresh_runs and store_meta): "
            + ("the same row counts in every run." if same else "row counts DIFFER between runs or trees (see JSON)."),
        ]
    if load := loads(report):
        lines += ["", f"1-minute load average around the refreshes: {min(load)} to {max(load)}."]
    lines += more_history(report)
    lines += render_incremental(report)
    if report.get("notes"):
        lines += ["", "Notes: " + "; ".join(report["notes"]) + "."]
    for n, entry in report["sizes"].items():
        if "api" in entry:
            lines += api_lines(int(n), entry)
    return "\n".join(lines) + "\n"


def more_history(report: dict[str, Any]) -> list[str]:
    """The hourly cost follows the window: the same 90 days inside 10x the history (this tree)."""
    extra = report.get("hourly_same_window_more_history")
    hourly = report["sizes"].get(str(extra["compared_with_total"]), {}).get("hourly") if extra else None
    if not extra or not hourly:
        return []
    small = hourly["new"]["median"]
    return [
        "",
        f"The same window inside 10x the history, hourly (new tree): {extra['compared_with_total']:,} "
        f"sessions refresh hourly in {small['wall_seconds']} s (extract {small['extract_seconds']} s); the same "
        f"window inside {extra['total_sessions']:,} sessions of history takes {extra['wall_seconds']} s (extract "
        f"{extra['extract_seconds']} s, transform {extra['transform_seconds']} s, publish "
        f"{extra['publish_seconds']} s, which includes carrying the older days over from the previous store "
        f"(etl.carry) while the window is read; floor {extra['floor_seconds']} s, the faster of two drains, one "
        f"either side; run/floor {extra['run_to_floor']}; store {extra['store_mib']} MiB).",
    ]


def api_lines(n: int, entry: dict[str, Any]) -> list[str]:
    """The read API at one size (the new tree's store and server), against the app's live queries."""
    api, live = entry["api"], entry["live_ms"]
    lines = [
        "",
        f"## Read API at {n:,} sessions (largest tenant: {entry['tenant']['sessions_30d']} sessions in 30d)",
    ]
    head = ["endpoint", "c1 p50 ms", "c1 p99 ms", "c50 rps", "c50 p99 ms", "200 rps offered: p50 / p99 ms"]
    rows = []
    for name in ("ping", "team", "me", "flow"):
        a = api[name]
        live_ms = live.get(name)
        ratio = f"{live_ms / a['c1']['p50_ms']:.0f}x" if live_ms else "-"
        rows.append(
            [name, a["c1"]["p50_ms"], a["c1"]["p99_ms"], a["c50"]["rps"], a["c50"]["p99_ms"]]
            + [f"{a['open200']['p50_ms']} / {a['open200']['p99_ms']}", round(live_ms, 1) if live_ms else "-", ratio]
        )
    lines += table([*head, "live SQL p50 ms", "live / API p50"], rows)
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
    return lines
