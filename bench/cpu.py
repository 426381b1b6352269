"""CPU-seconds of a refresh per thread, and of PostgreSQL's processes, while the refresh runs.

What it measures: every `interval` (50 ms) a thread reads utime + stime and the name (comm)
of each thread of the refresh process (`/proc/<pid>/task/*/stat`; the refresh is the child
of GNU time, found in `/proc/<time>/task/<time>/children`) and of each child process of the
postmaster (the processes whose parent it is, from the postmaster's `children` file; their
`/proc/<pid>/stat` counts all of a process's threads). A thread's last value is kept, since
threads exit before the process does. PostgreSQL's figure is what its processes used between
the start and the end of the refresh: all of it for a process started meanwhile (a backend
of the refresh), the difference from a reading taken just before the start for the others
(the checkpointer, the walwriter, IO workers).

Error: what a thread uses after its last sample is not seen, up to one interval (50 ms) of
each thread busy when it ends: on 2 cores up to 0.1 s for the threads that end with the
process, and up to 50 ms more for each busy thread that ends before it; a thread that lives
less than an interval may be missed altogether. Readings are whole ticks (1/CLK_TCK s, 10 ms
here), truncated. PostgreSQL's processes have the same error. The refresh's total CPU (user
+ system, from wait4) is exact; the groups add up to a little less.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

TICK = float(os.sysconf("SC_CLK_TCK"))
# The refresh's own threads, named in the OS since commit 74eca6d (older code: all `python`).
NAMED = ("read-window", "read-history", "history", "write")
GROUPS = ("main", *NAMED, "polars", "native", "other")


def _stat(path: str) -> tuple[str, list[str]] | None:
    """(comm, the fields after it) of a /proc stat file; None once the task is gone."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    head, _, rest = text.rpartition(")")  # comm may hold spaces and parentheses
    return head.partition("(")[2], rest.split()


def _ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def postmaster_pid(pgdata: Path) -> int | None:
    """The postmaster's pid: the first line of postmaster.pid (None when the server is not running)."""
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def group(tid: int, pid: int, comm: str, process_comm: str) -> str:
    """The group a refresh thread's CPU counts in."""
    if tid == pid:
        return "main"
    if comm in NAMED:
        return comm
    if comm.startswith(("polars-", "async-executor")):
        return "polars"
    # DuckDB's, Arrow's and the drivers' pools keep the name of the process.
    return "native" if comm == process_comm else "other"


class CpuSampler:
    """Create right before starting the refresh (PostgreSQL's reading), `start(time_pid)`
    right after, `stop()` once it has exited."""

    def __init__(self, postmaster: int | None, interval: float = 0.05) -> None:
        self.interval = interval
        self._postmaster = postmaster
        self._baseline = self._postgres()
        self._pg = dict(self._baseline)
        self._threads: dict[int, tuple[str, int]] = {}
        self._pid: int | None = None
        self._parent = 0
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self, parent: int) -> None:
        """Follow the child of `parent` (GNU time's pid)."""
        self._parent = parent
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        if self._pid is None:
            return {"samples": self._samples}
        main = self._threads.get(self._pid, ("", 0))[0]
        seconds = dict.fromkeys(GROUPS, 0.0)
        names: dict[str, float] = {}  # by thread name, main's as "main"
        for tid, (comm, ticks) in self._threads.items():
            seconds[group(tid, self._pid, comm, main)] += ticks / TICK
            name = "main" if tid == self._pid else comm
            names[name] = names.get(name, 0.0) + ticks / TICK
        spent = sum(ticks - self._baseline.get(key, 0) for key, ticks in self._pg.items())
        return {
            "threads": {name: round(value, 2) for name, value in seconds.items()},
            "thread_names": {name: round(value, 2) for name, value in sorted(names.items())},
            "thread_count": len(self._threads),
            "postgres_cpu_seconds": round(spent / TICK, 2),
            "postgres_processes": len(self._pg),
            "samples": self._samples,
        }

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                return

    def _sample(self) -> None:
        self._samples += 1
        if self._pid is None:
            found = _children(self._parent)
            if not found:
                return
            self._pid = found[0]
        try:
            tids = os.listdir(f"/proc/{self._pid}/task")
        except OSError:
            tids = []
        for tid in tids:
            stat = _stat(f"/proc/{self._pid}/task/{tid}/stat")
            if stat is not None:
                self._threads[int(tid)] = (stat[0], _ticks(stat[1]))
        self._pg.update(self._postgres())

    def _postgres(self) -> dict[tuple[int, str], int]:
        """CPU ticks of each child of the postmaster, keyed by (pid, start time) against pid reuse."""
        found = {}
        for pid in _children(self._postmaster) if self._postmaster else []:
            stat = _stat(f"/proc/{pid}/stat")
            if stat is not None:
                found[(pid, stat[1][19])] = _ticks(stat[1])  # field 22: start time
        return found
