"""The benchmark's report: bench/results/<date>.json and .md."""

from __future__ import annotations

import json
from typing import Any

from bench.common import RESULTS
from bench.workers import render as render_workers


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
