"""The report's refresh tables: old against new, CPU per thread, stages, stores (Markdown lines)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.cpu import GROUPS

TREES = ("old", "new")
MODES = ("nightly", "hourly")
# The tables analysts query over any range; their rows are most of a store's size.
FACT_TABLES = ("fact_sessions", "daily_step_feedback", "daily_sessions", "window_time_series")
# The run log and the store's key/value metadata: not data, they grow or differ by design.
BOOKKEEPING = {"refresh_runs", "store_meta"}
Trees = dict[str, dict[str, Any]]  # "old"/"new" -> {"runs": [...], "median": {...}}


def table(head: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table, with an empty line before it."""
    lines = ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def refreshes(report: dict[str, Any]) -> Iterator[tuple[str, str, Trees]]:
    """(sessions, mode, trees) for every size and mode measured."""
    for n, entry in report["sizes"].items():
        for mode in MODES:
            if mode in entry:
                yield f"{int(n):,}", mode, entry[mode]


def per_tree(report: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(sessions, mode, tree label, that tree's figures) for every size, mode and tree measured."""
    for n, mode, trees in refreshes(report):
        for name in TREES:
            if name in trees:
                yield n, mode, f"{name} `{report['trees'][name]['commit']}`", trees[name]


def median(trees: Trees, tree: str, key: str) -> Any:
    return trees[tree]["median"].get(key, "-") if tree in trees else "-"


def pair(trees: Trees, key: str) -> str:
    return f"{median(trees, 'old', key)} / {median(trees, 'new', key)}"


def main_table(report: dict[str, Any]) -> list[str]:
    head = ["sessions", "mode", "raw floor s", "old run s", "old run/raw floor", "old run/own floor", "new run s"]
    head += ["new run/raw floor", "new run/own floor", "new/old wall", "CPU-s old / new", "PostgreSQL CPU-s old / new"]
    head += ["peak RSS MiB old / new", "store MiB old / new"]
    rows = []
    for n, mode, trees in refreshes(report):
        old, new = (median(trees, name, "wall_seconds") for name in TREES)
        ratio = f"{new / old:.2f}" if "old" in trees else "-"
        cells = [median(trees, "new", "raw_floor_seconds")]
        cells += [
            median(trees, name, key) for name in TREES for key in ("wall_seconds", "run_to_raw_floor", "run_to_floor")
        ]
        keys = ("cpu_seconds", "postgres_cpu_seconds", "peak_rss_mib", "store_mib")
        rows.append([n, mode, *cells, ratio, *(pair(trees, key) for key in keys)])
    return table(head, rows)


TARGET = 1.3
"""The run/floor the refresh is asked to reach."""


def thread_table(report: dict[str, Any], cores: int) -> list[str]:
    head = ["sessions", "mode", "tree", *GROUPS, "postgres", "total", "wall s", f"cores busy (of {cores})"]
    head += ["all cores busy: wall s", "its run/floor", f"CPU-s left at {TARGET}x"]
    rows = []
    for n, mode, label, figures in per_tree(report):
        m = figures["median"]
        if "threads" not in m:
            continue
        spent = m["cpu_seconds"] + m["postgres_cpu_seconds"]
        threads = [m["threads"][name] for name in GROUPS]
        fewest = spent / cores
        budget = TARGET * m["floor_seconds"] * cores - m["postgres_cpu_seconds"]
        rows.append(
            [n, mode, label, *threads, m["postgres_cpu_seconds"], m["cpu_seconds"], m["wall_seconds"]]
            + [
                f"{spent / m['wall_seconds']:.2f}",
                f"{fewest:.1f}",
                f"{fewest / m['floor_seconds']:.2f}",
                f"{budget:.1f}",
            ]
        )
    return table(head, rows)


def stage_table(report: dict[str, Any]) -> list[str]:
    head = ["sessions", "mode", "tree", "refresh s", "extract s", "transform s", "publish s", "rows read"]
    head += ["floor MiB (queries)", "tables"]
    rows = []
    for n, mode, label, figures in per_tree(report):
        m, first = figures["median"], figures["runs"][0]
        stages = [m.get(f"{stage}_seconds", "-") for stage in ("run", "extract", "transform", "publish")]
        rows_read = f"{first['extract_rows']:,}" if first.get("extract_rows") is not None else "-"
        floor = f"{first['floor_mib']} ({first['floor_queries']})"
        rows.append([n, mode, label, *stages, rows_read, floor, len(first["rows"])])
    return table(head, rows)


def store_table(report: dict[str, Any]) -> list[str]:
    """Rows of the largest tables and the storage format, per size, mode and tree (each one's last run)."""
    head = ["sessions", "mode", "tree", "storage version", *(f"{name} rows" for name in FACT_TABLES)]
    head += ["all rows", "store MiB"]
    rows = []
    for n, mode, label, figures in per_tree(report):
        last = figures["runs"][-1]
        counts = [f"{last['rows'].get(name, 0):,}" for name in FACT_TABLES]
        rows.append([n, mode, label, last["storage_version"], *counts, f"{sum(last['rows'].values()):,}"])
        rows[-1].append(last["store_mib"])
    return table(head, rows)


def same_rows(report: dict[str, Any]) -> bool:
    """Whether every run of both trees, per size and mode, built the same rows in the tables both build."""
    for _, _, trees in refreshes(report):
        runs = [run for figures in trees.values() for run in figures["runs"]]
        shared = set.intersection(*(set(run["rows"]) for run in runs)) - BOOKKEEPING
        if any(run["rows"][name] != runs[0]["rows"][name] for run in runs for name in shared):
            return False
    return True


def loads(report: dict[str, Any]) -> list[float]:
    """1-minute load averages before and after every measured refresh."""
    found = []
    for _, _, trees in refreshes(report):
        for figures in trees.values():
            found += [run[key] for run in figures["runs"] for key in ("load_before", "load_after") if key in run]
    return found
