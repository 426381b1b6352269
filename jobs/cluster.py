"""A full rebuild's older history on a Dask cluster: one task per partition of whole days.

Dask is imported here only, and only once a refresh asks for a cluster (`--cluster`,
`--workers`, METRICS_DASK_SCHEDULER): a refresh in one process never loads it.

Each task (jobs.partition) reads and builds its days in the refresh's snapshot, which the
driver keeps open until every task is done; the driver writes what comes back into the new
store as it comes. The driver reads the dimensions once and sends them to every worker
(jobs.cluster_dimensions). The history's rows are per session, per rating or per day, so
the partitions' rows are disjoint, and with `history_before` (the few ratings older than
the first session's day, read by the driver) they are the in-process lane's rows exactly.

Faults: a task that raises runs again (up to RETRIES times), a task whose worker is lost runs
elsewhere (Dask's own rescheduling, up to its `allowed-failures`). A partition that still
fails fails the refresh in the step it failed in, naming its days; nothing is published.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from etl.config import Config
from etl.errors import ConfigError, FlowmetricsError, RefreshFailed
from etl.extract import ExtractStats
from etl.transform.parts import Dimensions
from jobs.partition import Partition, PartitionFailed, PartitionResult, history_partition

log = logging.getLogger("flowmetrics.refresh")

RETRIES = 2
"""Reruns of a partition whose task raised (Client.submit(retries=...))."""
WORKER_WAIT_SECONDS = 120.0
STALL_SECONDS = 30.0
"""How often a run waiting for partitions checks that the cluster still has workers."""
POLL_SECONDS = 0.05
"""How long a run waits for a first worker to join the scheduler (an autoscaled cluster starts empty)."""
NOT_INSTALLED = "Dask is not installed: install flowmetrics with its cluster extra (pip install 'flowmetrics[cluster]')"


@dataclass(frozen=True)
class ClusterSpec:
    """Where a full rebuild's history runs: a running scheduler, or `workers` local processes."""

    scheduler: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if (self.scheduler is None) == (self.workers is None):
            raise ConfigError("a cluster is either a scheduler address or a number of local workers")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers {self.workers}: start at least 1 worker")

    @classmethod
    def configured(cls, config: Config) -> ClusterSpec | None:
        """METRICS_DASK_SCHEDULER's cluster, or None: in this process."""
        return cls(scheduler=config.dask_scheduler) if config.dask_scheduler else None

    def describe(self) -> str:
        return f"the Dask scheduler at {self.scheduler}" if self.scheduler else f"{self.workers} local Dask workers"


def check_installed() -> None:
    """Raise ConfigError when Dask is not installed (found without importing it)."""
    if importlib.util.find_spec("distributed") is None:
        raise ConfigError(NOT_INSTALLED)


@dataclass
class LaneFigures:
    """What the cluster lane did, for refresh_runs and the run's progress lines."""

    partitions: int = 0
    read_seconds: float = 0.0
    build_seconds: float = 0.0
    longest: float = 0.0
    longest_days: str = ""
    wall_seconds: float = 0.0
    workers: int = 0


class ClusterHistory:
    """The history partitions of one full rebuild on a Dask cluster.

    Enter it where the run's resources are held; `run` (on the history thread) connects, or
    starts the local cluster, and leaving the block cancels what is still running and closes
    what `run` opened, also when `run` is still on its way.
    """

    def __init__(
        self, spec: ClusterSpec, *, url: str, snapshot_id: str, run_id: str, say: Callable[[str], None]
    ) -> None:
        self.spec = spec
        self.stats = ExtractStats()
        self._url = url
        self._snapshot_id = snapshot_id
        self._prefix = f"flowmetrics-{run_id[:12]}"
        self._say = say
        self._lock = threading.Lock()
        self._closed = False
        self._client: Any = None
        self._cluster: Any = None
        self._held: str | None = None  # the plugin holding the dimensions, once registered

    def __enter__(self) -> ClusterHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closed = True
            client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        if client is not None:
            self._unregister(client)
        _close(client, cluster)

    def _unregister(self, client: Any) -> None:
        """A scheduler that outlives the run keeps no copy of its dimensions."""
        held, self._held = self._held, None
        if held is not None:
            try:
                client.unregister_worker_plugin(held)
            except Exception as exc:
                log.warning("unregistering %s from the Dask cluster failed: %s", held, exc)

    def run(
        self, partitions: list[Partition], dims: Dimensions, write: Callable[[str, pl.DataFrame], None]
    ) -> LaneFigures:
        """Every partition's rows, written with `write` as each partition arrives."""
        figures = LaneFigures(partitions=len(partitions))
        if not partitions:
            return figures
        client = self._connect()
        started = time.perf_counter()
        figures.workers = sum(client.nthreads().values())
        from jobs.cluster_dimensions import HeldDimensions

        self._held = f"{self._prefix}-dimensions"
        client.register_plugin(HeldDimensions(self._held, dims))
        # Oldest first, as in one process: the parts of a table arrive about in the order of its sort key.
        futures = {
            client.submit(
                history_partition,
                self._url,
                self._snapshot_id,
                partition,
                self._held,
                key=f"{self._prefix}-history-{partition.days}",
                retries=RETRIES,
                pure=False,
                priority=len(partitions) - index,
            ): partition
            for index, partition in enumerate(partitions)
        }
        self._say(
            f"history: {len(partitions)} partitions of {(partitions[0].end - partitions[0].start).days} days "
            f"on {self.spec.describe()} ({figures.workers} threads)"
        )
        try:
            pending = list(futures)
            while pending:
                done, pending = self._next_done(client, pending)
                for future in sorted(done, key=lambda f: futures[f].start):
                    result = self._result(future, futures[future])
                    future.release()
                    self._take(result, figures, write)
        finally:
            if not self._closed:  # the rest, when a partition failed; the dimensions
                client.cancel(list(futures))
                self._unregister(client)
        figures.wall_seconds = time.perf_counter() - started
        self._summary(figures)
        return figures

    def _connect(self) -> Any:
        dask = _dask()
        cluster: Any = None
        try:
            if self.spec.workers is not None:
                started = time.perf_counter()
                cluster = dask.LocalCluster(
                    n_workers=self.spec.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # One Polars pool per worker process, sharing this machine's cores.
                    env={"POLARS_MAX_THREADS": str(max(1, (os.cpu_count() or 1) // self.spec.workers))},
                )
                client = dask.Client(cluster, set_as_default=False)
                self._say(
                    f"history: started {self.spec.workers} local Dask workers in {time.perf_counter() - started:.1f} s"
                )
            else:
                client = dask.Client(self.spec.scheduler, set_as_default=False)
        except Exception as exc:
            _close(None, cluster)
            fix = "check --cluster or METRICS_DASK_SCHEDULER" if self.spec.scheduler else "try fewer --workers"
            what = "reach" if self.spec.scheduler else "start"
            raise RefreshFailed(
                "connect", FlowmetricsError(f"cannot {what} {self.spec.describe()}: {exc}; {fix}")
            ) from exc
        with self._lock:
            closed = self._closed
            if not closed:
                self._client, self._cluster = client, cluster
        if closed:  # the run ended while the cluster was starting
            _close(client, cluster)
            raise RefreshFailed("connect", FlowmetricsError("the refresh stopped while the Dask cluster was starting"))
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        except Exception as exc:
            raise RefreshFailed(
                "connect",
                FlowmetricsError(
                    f"no Dask worker joined {self.spec.describe()} within {WORKER_WAIT_SECONDS:.0f} s: "
                    f"start one with `dask worker {self.spec.scheduler}`"
                ),
            ) from exc
        return client

    def _next_done(self, client: Any, pending: list[Any]) -> tuple[list[Any], list[Any]]:
        """The futures done next, and those still pending; fails when no worker is left.

        Dask keeps a task waiting while no worker is there to run it: a cluster whose
        workers are all gone would make the refresh wait for ever.
        """
        deadline = time.monotonic() + STALL_SECONDS
        while True:
            done = [future for future in pending if future.done()]
            if done:
                return done, [future for future in pending if future not in done]
            if time.monotonic() > deadline:
                if not client.scheduler_info().get("workers"):
                    raise RefreshFailed(
                        "extract",
                        FlowmetricsError(
                            f"no Dask worker left on {self.spec.describe()} for {STALL_SECONDS:.0f} s "
                            f"with {len(pending)} partitions to go"
                        ),
                    )
                deadline = time.monotonic() + STALL_SECONDS  # a long partition: the workers are there
            time.sleep(POLL_SECONDS)

    def _result(self, future: Any, partition: Partition) -> PartitionResult:
        try:
            result = future.result()
        except PartitionFailed as failed:
            raise RefreshFailed(failed.step, failed) from failed
        except Exception as exc:  # a worker lost too often (KilledWorker), the scheduler gone
            lost = PartitionFailed("extract", partition, exc)
            raise RefreshFailed(lost.step, lost) from lost
        assert isinstance(result, PartitionResult)
        return result

    def _take(self, result: PartitionResult, figures: LaneFigures, write: Callable[[str, pl.DataFrame], None]) -> None:
        for name, frame in result.tables:
            write(name, frame)
        for query, rows in result.stats.rows.items():
            self.stats.rows[query] = self.stats.rows.get(query, 0) + rows
            self.stats.seconds[query] = self.stats.seconds.get(query, 0.0) + result.stats.seconds[query]
        days = result.partition.days
        seconds = result.read_seconds + result.build_seconds
        figures.read_seconds += result.read_seconds
        figures.build_seconds += result.build_seconds
        if seconds > figures.longest:
            figures.longest, figures.longest_days = seconds, days
        self._say(
            f"extract history[{days}]: {result.stats.total_rows} rows in {result.read_seconds:.2f} s, "
            f"built in {result.build_seconds:.2f} s on {result.worker}"
        )

    def _summary(self, figures: LaneFigures) -> None:
        work = figures.read_seconds + figures.build_seconds
        self._say(
            f"history: {figures.partitions} partitions in {figures.wall_seconds:.1f} s on {figures.workers} threads; "
            f"tasks {work:.1f} s in all (read {figures.read_seconds:.1f}, build {figures.build_seconds:.1f}), "
            f"{work / max(figures.workers, 1):.1f} s per thread; critical path: the longest task, "
            f"{figures.longest:.2f} s ({figures.longest_days})"
        )


def _dask() -> Any:
    """dask.distributed, imported when a run first needs it."""
    try:
        dask = importlib.import_module("distributed")
    except ImportError as exc:
        raise RefreshFailed("connect", ConfigError(NOT_INSTALLED)) from exc
    # A local cluster's scheduler and nannies run in this process: their INFO lines would
    # bury the run's own. Their warnings (a worker lost, restarted) still show.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    return dask


def _close(client: Any, cluster: Any) -> None:
    # Closing is best effort: a scheduler that is gone has nothing left to release.
    for closable in (client, cluster):
        if closable is not None:
            try:
                closable.close()
            except Exception as exc:
                log.warning("closing the Dask %s failed: %s", type(closable).__name__, exc)
