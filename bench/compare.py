"""`make bench-compare`: the refresh of this tree against another checkout of flowmetrics, same data, one run.

    python -m bench.compare --sessions 1000000 --old-tree /work/wtold

Seeds one source database (with this tree's generator; reused when it already holds the
sessions asked for), then for each mode runs the refresh of both trees as child processes,
interleaved (old, new, old, new, ...), each against its own store and with its own COPY
floor drained right before it. The other tree needs its own `.venv` (`make install` there).

Per run: wall seconds of the child process (Python start and imports included, both trees
pay them), the refresh's own seconds from its run history, peak RSS of the refresh process
(GNU time; wait4 of a child forked from this process would report at least this process's RSS),
store file size, and the floor: a raw `COPY (...) TO STDOUT (FORMAT binary)` drain of the
queries that tree's refresh runs (taken from that tree's own `extraction_queries`,
so each tree's floor covers exactly its own reads). Figures are medians over the rounds;
the ratio is the median of run / floor within each round. Writes a Markdown table and the
raw figures as JSON. Never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ANCHOR, DATA, RESULTS, ensure_source, env_for, log, store_contents
from bench.floors import copy_floor
from synthetic import embedded

ROOT = Path(__file__).resolve().parents[1]
TREES = ("old", "new")
# The run log and the store's key/value metadata: not data, they grow or differ by design.
BOOKKEEPING = {"refresh_runs", "store_meta"}
TIME = "/usr/bin/time"  # GNU time: %M is the peak RSS (KiB) of the command it runs

# Run inside a tree's own venv (cwd = the tree): that tree's floor queries, as JSON.
QUERIES_SCRIPT = (
    "import json, sys\n"
    "try:\n"
    "    from bench.floors import extraction_queries\n"
    "except ImportError:  # a checkout from before bench.floors\n"
    "    from bench.run import extraction_queries\n"
    "print(json.dumps([q for stream in extraction_queries(sys.argv[1], sys.argv[2]) for q in stream]))\n"
)


def tree_queries(tree: Path, url: str, mode: str) -> list[str]:
    """The queries a refresh of `mode` in `tree` runs, as that tree's own benchmark defines them."""
    out = subprocess.run(
        [str(tree / ".venv" / "bin" / "python"), "-c", QUERIES_SCRIPT, url, mode],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("METRICS_", "PYTHON"))},
    )
    queries: list[str] = json.loads(out.stdout)
    return queries


def load() -> float:
    return os.getloadavg()[0]


def run_refresh(tree: Path, url: str, store: Path, mode: str) -> dict[str, Any]:
    """One refresh of `tree` in a child process; wall seconds, peak RSS (wait4), store size."""
    cmd = [str(tree / ".venv" / "bin" / "flowmetrics"), "-q", "refresh", "--mode", mode, "--as-of", ANCHOR.isoformat()]
    env = env_for(url, store)
    env = {k: v for k, v in env.items() if not k.startswith("PYTHON")}
    peak_file = store.with_name("peak_rss_kib")
    load_before = load()
    started = time.perf_counter()
    # Through /usr/bin/time, not wait4 of a child forked from here: a forked child's maxrss
    # starts at this (seeding, hence large) process's RSS and would hide the refresh's own.
    child = subprocess.Popen([TIME, "-f", "%M", "-o", str(peak_file), *cmd], env=env, cwd=tree)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"refresh {mode} of {tree} failed (exit {code})")
    result: dict[str, Any] = {
        "wall_seconds": round(wall, 2),
        "peak_rss_mib": round(int(peak_file.read_text().split()[-1]) / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "store_mib": round(store.resolve().stat().st_size / 2**20, 1),
        "load_before": round(load_before, 2),
        "load_after": round(load(), 2),
    }
    history = store.with_name(store.name + ".runs.jsonl")
    last = json.loads(history.read_text().strip().splitlines()[-1])
    if last.get("started_at") and last.get("finished_at"):
        elapsed = datetime.fromisoformat(last["finished_at"]) - datetime.fromisoformat(last["started_at"])
        result["run_seconds"] = round(elapsed.total_seconds(), 2)
    for stage in ("extract", "transform", "publish"):  # stages overlap: they add up to more than the run
        if last.get(f"{stage}_seconds") is not None:
            result[f"{stage}_seconds"] = round(last[f"{stage}_seconds"], 2)
    contents = store_contents(store)
    result["tables"] = len(contents["rows"])
    result["rows"] = contents["rows"]
    return result


def measure_size(url: str, n: int, trees: dict[str, Path], modes: list[str], runs: int) -> dict[str, Any]:
    stores = {name: DATA / f"compare_{n}" / name / "metrics.duckdb" for name in TREES}
    for store in stores.values():
        store.parent.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {}
    for mode in modes:
        if mode == "hourly":
            for name in TREES:  # an hourly refresh builds on a nightly store
                if not stores[name].exists():
                    log(f"{n:,} {name}: a nightly first (untimed), for the hourly")
                    run_refresh(trees[name], url, stores[name], "nightly")
        queries = {name: tree_queries(trees[name], url, mode) for name in TREES}
        copy_floor(url, queries["new"])  # warm the source's cache once, untimed
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in TREES}
        for i in range(runs):
            for name in TREES:
                floor, copied = copy_floor(url, queries[name])
                run = run_refresh(trees[name], url, stores[name], mode)
                run.update(
                    floor_seconds=round(floor, 2),
                    floor_mib=round(copied / 2**20, 1),
                    floor_queries=len(queries[name]),
                    ratio=round(run["wall_seconds"] / floor, 2),
                )
                rounds[name].append(run)
                log(
                    f"{n:,} {mode} round {i + 1}/{runs} {name}: run {run['wall_seconds']} s, floor "
                    f"{run['floor_seconds']} s, ratio {run['ratio']}, peak {run['peak_rss_mib']} MiB, "
                    f"store {run['store_mib']} MiB, load {run['load_before']}->{run['load_after']}"
                )
        entry[mode] = {name: {"runs": rounds[name], "median": medians(rounds[name])} for name in TREES}
    return entry


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = (
        "wall_seconds",
        "run_seconds",
        "extract_seconds",
        "transform_seconds",
        "publish_seconds",
        "floor_seconds",
        "ratio",
        "peak_rss_mib",
        "store_mib",
        "cpu_seconds",
    )
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in keys if all(k in r for r in runs)}


def render(report: dict[str, Any]) -> str:
    lines = [
        f"# Refresh before and after the plan/runner refactor ({report['date'][:10]}, as_of {report['as_of']})",
        "",
        f"old = `{report['old_commit']}` ({report['old_tree']}), new = `{report['new_commit']}`; one source "
        "database per size, seeded once with the new tree's generator; both trees refreshed it in the same run, "
        "interleaved old, new, old, new. Each figure is the median over the rounds (`runs` per tree and mode).",
        "",
        "`run s`: wall seconds of the `flowmetrics refresh` child process (Python start and imports included). "
        "`floor s`: raw `COPY (...) TO STDOUT (FORMAT binary)` drain, on one connection, of the queries that "
        "tree's refresh runs, measured right before its run; the new tree builds two more tables "
        "(fact_sessions, daily_step_feedback), so its floor includes their queries. `ratio`: median of run / "
        "its own floor per round. Peak RSS: the refresh process's maxrss, from GNU `/usr/bin/time -f %M`. "
        "(Not wait4 of a child forked from the benchmark: on Linux a forked child's maxrss starts at its "
        "parent's RSS; `python -c pass` forked from a 600 MiB process reported 611 MiB.) Store: the published "
        "file.",
        "",
        "| sessions | mode | old run s | old floor s | old ratio | new run s | new floor s | new ratio | "
        "peak RSS MiB old / new | store MiB old / new | runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, entry in report["sizes"].items():
        for mode, both in entry.items():
            o, w = both["old"]["median"], both["new"]["median"]
            lines.append(
                f"| {int(n):,} | {mode} | {o['wall_seconds']} | {o['floor_seconds']} | {o['ratio']} | "
                f"{w['wall_seconds']} | {w['floor_seconds']} | {w['ratio']} | "
                f"{o['peak_rss_mib']} / {w['peak_rss_mib']} | {o['store_mib']} / {w['store_mib']} | "
                f"{len(both['old']['runs'])} |"
            )
    lines += [
        "",
        "Refresh only (from each run's history, without process start), CPU seconds (user + system of the child) "
        "and the floor's size:",
        "",
        "| sessions | mode | old refresh s | new refresh s | new / old wall | old CPU s | new CPU s | "
        "old floor MiB (queries) | new floor MiB (queries) | tables old / new |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, entry in report["sizes"].items():
        for mode, both in entry.items():
            o, w = both["old"]["median"], both["new"]["median"]
            ro, rw = both["old"]["runs"][0], both["new"]["runs"][0]
            lines.append(
                f"| {int(n):,} | {mode} | {o.get('run_seconds', '-')} | {w.get('run_seconds', '-')} | "
                f"{w['wall_seconds'] / o['wall_seconds']:.2f} | {o['cpu_seconds']} | {w['cpu_seconds']} | "
                f"{ro['floor_mib']} ({ro['floor_queries']}) | {rw['floor_mib']} ({rw['floor_queries']}) | "
                f"{ro['tables']} / {rw['tables']} |"
            )
    lines += [
        "",
        "Stages from each run's history (medians; they overlap, so they add up to more than the refresh):",
        "",
        "| sessions | mode | extract s old / new | transform s old / new | publish s old / new |",
        "|---|---|---|---|---|",
    ]
    for n, entry in report["sizes"].items():
        for mode, both in entry.items():
            o, w = both["old"]["median"], both["new"]["median"]
            cells = " | ".join(
                f"{o.get(f'{stage}_seconds', '-')} / {w.get(f'{stage}_seconds', '-')}"
                for stage in ("extract", "transform", "publish")
            )
            lines.append(f"| {int(n):,} | {mode} | {cells} |")
    same = all(
        r["rows"][table] == runs[0]["rows"][table]
        for e in report["sizes"].values()
        for b in e.values()
        for runs in [b["old"]["runs"] + b["new"]["runs"]]
        for r in runs
        for table in (set(b["old"]["runs"][0]["rows"]) & set(b["new"]["runs"][0]["rows"])) - BOOKKEEPING
    )
    lines += [
        "",
        "Data tables both trees build (all but refresh_runs and store_meta): "
        + ("the same row counts in every run." if same else "row counts DIFFER between runs or trees (see JSON)."),
    ]
    loads = [
        r[k]
        for e in report["sizes"].values()
        for b in e.values()
        for t in b.values()
        for r in t["runs"]
        for k in ("load_before", "load_after")
    ]
    if loads:
        lines += ["", f"1-minute load average around the runs: {min(loads)} to {max(loads)} (2 cores, shared)."]
    lines += ["", "Every round's figures: the JSON file of the same name."]
    return "\n".join(lines) + "\n"


def git_head(tree: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1000000", help="session counts, comma-separated (default 1000000)")
    parser.add_argument("--old-tree", required=True, type=Path, help="a checkout of the old code with its own .venv")
    parser.add_argument("--runs", type=int, default=3, help="rounds per mode (each: old, then new); default 3")
    parser.add_argument("--modes", default="nightly,hourly")
    parser.add_argument("--out", type=Path, help="Markdown file (default bench/results/<date>-refactor.md)")
    args = parser.parse_args(argv)
    old = args.old_tree.resolve()
    if not (old / ".venv" / "bin" / "flowmetrics").exists():
        raise SystemExit(f"{old}/.venv/bin/flowmetrics is missing: run `make install` in {old}")
    trees = {"old": old, "new": ROOT}
    modes = args.modes.split(",")
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(),
        "as_of": ANCHOR.isoformat(),
        "old_tree": str(old),
        "old_commit": git_head(old),
        "new_commit": git_head(ROOT),
        "sizes": {},
    }
    out = args.out or RESULTS / f"{report['date'][:10]}-refactor.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    admin = embedded.start_embedded(DATA / "pg", stop_at_exit=False)
    for n in (int(s) for s in args.sessions.split(",")):
        url = ensure_source(admin, f"bench_{n}", sessions=n, days=365)
        report["sizes"][str(n)] = measure_size(url, n, trees, modes, args.runs)
        # Written after every size, so a stopped run keeps what it measured.
        out.with_suffix(".json").write_text(json.dumps(report, indent=2))
        out.write_text(render(report))
    print(out.read_text())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render"]:  # python -m bench.compare --render FILE.json [OUT.md]
        saved = json.loads(Path(sys.argv[2]).read_text())
        target = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(sys.argv[2]).with_suffix(".md")
        target.write_text(render(saved))
    else:
        main()
