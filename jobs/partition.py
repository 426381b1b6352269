"""One partition of a full rebuild's older history, as a Dask task runs it on a worker.

A partition is whole UTC days. The task opens its own source connection, joins the
refresh's snapshot, reads the partition's sessions, their newest ratings, and the step
ratings and session ratings created on those days, builds their rows with the pure
`assembly.history_days` and returns them to the refresh (jobs.cluster), which writes them.
No Dask import at the top: the refresh imports this module without it.
"""

from __future__ import annotations

import importlib
import os
import pickle
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from etl.errors import FlowmetricsError
from etl.extract import ExtractStats, Source, compose
from etl.transform.assembly import history_days
from etl.transform.parts import Dimensions


@dataclass(frozen=True)
class Partition:
    """Sessions started, and ratings created, in [start, end): whole UTC days."""

    start: datetime
    end: datetime

    @property
    def days(self) -> str:
        """The days, first and last (inclusive): 2025-01-01..2025-01-08."""
        return f"{self.start:%Y-%m-%d}..{self.end - timedelta(days=1):%Y-%m-%d}"


@dataclass
class PartitionResult:
    partition: Partition
    tables: list[tuple[str, pl.DataFrame]]
    stats: ExtractStats
    read_seconds: float
    build_seconds: float
    worker: str


class PartitionFailed(FlowmetricsError):
    """A partition of the history failed on the cluster (after its retries); `error` is why."""

    step: str

    def __init__(self, step: str, partition: Partition, error: BaseException) -> None:
        super().__init__(f"history partition {partition.days} failed on the cluster: {type(error).__name__}: {error}")
        self.step = step
        self.partition = partition
        self.error = error
        self.__cause__ = error

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a worker, raised again in the driver
        return (PartitionFailed, (self.step, self.partition, self.error))


def history_partition(url: str, snapshot_id: str, partition: Partition, held: str) -> PartitionResult:
    """The task: read one partition's days in the refresh's snapshot, build their rows.

    `held` names the plugin holding the run's dimensions on this worker (jobs.cluster_dimensions).
    """
    step = "connect"
    started = time.perf_counter()
    try:
        dims: Dimensions = importlib.import_module("distributed").get_worker().plugins[held].dims
        with Source(url) as source:
            step = "extract"
            source.join_snapshot(snapshot_id)
            start, end = partition.start, partition.end
            sessions = source.history_sessions(start, end)
            rated = source.rated_sessions(start, end)
            step_ratings = source.step_ratings(start, end, name="history_step_ratings")
            session_ratings = source.query(
                "history_ratings",
                compose("extract_session_ratings.sql", rows="rows_created_in.sql", start=start, end=end),
            )
        read = time.perf_counter()
        step = "transform"
        built = history_days(
            dims,
            start=start,
            end=end,
            sessions=sessions,
            rated=rated,
            step_ratings=step_ratings,
            session_ratings=session_ratings,
        )
        tables = list(built)
    except Exception as exc:
        raise PartitionFailed(step, partition, _portable(exc)) from exc
    return PartitionResult(
        partition=partition,
        tables=tables,
        stats=source.stats,
        read_seconds=read - started,
        build_seconds=time.perf_counter() - read,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


def _portable(error: Exception) -> BaseException:
    """`error`, or its text when it cannot travel back to the driver (pickled)."""
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
