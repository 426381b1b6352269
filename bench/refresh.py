"""One refresh of a tree, measured. Every refresh the benchmark runs goes through `measure_refresh`.

The refresh is `<python> -m jobs.cli -q refresh` with cwd = the tree, run under GNU
`/usr/bin/time -f %M` for its peak RSS. (Not wait4's maxrss of a child forked from the
benchmark: on Linux a forked child's maxrss starts at its parent's RSS, hundreds of MiB
here, and hides the refresh's own.) CPU: user + system from wait4 of GNU time, which has
waited for the refresh; per thread and PostgreSQL's, from bench.cpu's sampler. Bytes
written: /proc/<time>/io once GNU time has exited (waitid WNOWAIT, before it is reaped):
a process's io counts include its reaped children's, so the refresh's are in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ANCHOR, DATA, env_for, store_contents
from bench.cpu import CpuSampler, postmaster_pid
from bench.trees import Tree, refresh_args
from etl.store import current_store

TIME = "/usr/bin/time"  # GNU time: %M is the peak RSS (KiB) of the command it runs
STAGES = ("extract", "transform", "publish")


def measure_refresh(tree: Tree, url: str, store: Path, mode: str, *, as_of: datetime | None = ANCHOR) -> dict[str, Any]:
    """Wall and CPU seconds, CPU per thread, PostgreSQL's CPU, peak RSS, bytes written, stages
    from the run history, store. `mode` is a benchmark mode (bench.trees.refresh_args);
    `as_of` None: the refresh's own (its source snapshot's time)."""
    store.parent.mkdir(parents=True, exist_ok=True)
    peak_file = store.with_name("peak_rss_kib")
    cmd = [str(tree.python), "-m", "jobs.cli", "-q", "refresh", *refresh_args(tree, mode)]
    if as_of is not None:
        cmd += ["--as-of", as_of.isoformat()]
    load_before = os.getloadavg()[0]
    sampler = CpuSampler(postmaster_pid(DATA / "pg"))
    started = time.perf_counter()
    child = subprocess.Popen([TIME, "-f", "%M", "-o", str(peak_file), *cmd], env=env_for(url, store), cwd=tree.root)
    sampler.start(child.pid)
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: its io is readable
        written = io_counts(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        cpu = sampler.stop()
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"refresh {mode} of the {tree.name} tree ({tree.commit}) failed (exit {child.returncode})")
    result: dict[str, Any] = {
        "mode": mode,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(int(peak_file.read_text().split()[-1]) / 1024, 1),
        **cpu,
        **written,
        **last_run(store),
        "store_mib": round(store.resolve().stat().st_size / 2**20, 1),
        **overlay_size(store),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        **store_contents(store),
    }
    return result


def io_counts(pid: int) -> dict[str, float]:
    """MiB a process (and its reaped children) wrote: `write_mib` to storage (write_bytes,
    counted as pages are dirtied; less `cancelled_write_mib` when a file went before its
    pages were written), `wchar_mib` through write calls."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return {}
    io = {key: int(value) for key, _, value in (line.partition(": ") for line in text.splitlines())}
    return {
        "write_mib": round(io["write_bytes"] / 2**20, 1),
        "cancelled_write_mib": round(io["cancelled_write_bytes"] / 2**20, 1),
        "wchar_mib": round(io["wchar"] / 2**20, 1),
        "read_mib": round(io["read_bytes"] / 2**20, 1),
    }


def last_run(store: Path) -> dict[str, Any]:
    """The refresh's own seconds and its stages, from the newest line of the run history.

    Read as plain JSON, not through this tree's etl.runs: an old tree's lines may differ.
    The run seconds leave out starting Python and importing (the scheduler pays those once);
    the stages overlap, so they add up to more than the run.
    """
    line: dict[str, Any] = json.loads(store.with_name(store.name + ".runs.jsonl").read_text().splitlines()[-1])
    result: dict[str, Any] = {}
    if line.get("started_at") and line.get("finished_at"):
        elapsed = datetime.fromisoformat(line["finished_at"]) - datetime.fromisoformat(line["started_at"])
        result["run_seconds"] = round(elapsed.total_seconds(), 2)
    for stage in STAGES:
        if line.get(f"{stage}_seconds") is not None:
            result[f"{stage}_seconds"] = round(line[f"{stage}_seconds"], 2)
    for key in ("extract_rows", "transform_rows", "publish_rows"):
        if line.get(key) is not None:
            result[key] = line[key]
    if line.get("fallback"):
        result["fallback"] = line["fallback"]
    if line.get("drift_rows"):
        result["drift_rows"] = json.loads(line["drift_rows"])
    return result


def overlay_size(store: Path) -> dict[str, float]:
    """`overlay_mib`: the incremental's published overlay, when one lies beside the store."""
    overlay = current_store(store).overlay
    return {"overlay_mib": round(overlay.stat().st_size / 2**20, 1)} if overlay is not None else {}
