"""Executes a refresh plan: connect, read, assemble, write, publish. The only module that
knows about threads.

The overlap is the one measured to pay off: each lane's reads run on a worker thread a
few queries ahead of their consumer; the window is assembled on the calling thread while
a writer thread writes what it yields; a nightly refresh assembles and writes the older
history on a thread and connection of its own at the same time. The stages overlap, so
their seconds add up to more than the wall time.

A failure is reported in the step whose code raised it: every step is a `stage(...)`
block, the innermost one names the failure (`StepFailed`, with `raise … from` intact).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import polars as pl

from etl.config import PERIODS, Config
from etl.errors import FlowmetricsError
from etl.extract import ExtractStats, Source
from etl.publish import PublishResult, StoreBuild
from etl.transform import tables
from etl.transform.assembly import Built, DayRange, WindowRatings, history_tables, window_tables
from jobs.plan import HistoryLane, Plan, Read, WindowLane
from jobs.prefetch import Prefetch, name_os_thread

T = TypeVar("T")


class StepFailed(Exception):
    """What failed, and in which step of the refresh (connect, extract, transform, audit, publish)."""

    def __init__(self, step: str, cause: Exception) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


@contextmanager
def stage(step: str) -> Iterator[None]:
    """Errors raised in the block are failures of `step`, unless an inner stage named them."""
    try:
        yield
    except StepFailed:
        raise
    except FlowmetricsError as exc:
        raise StepFailed(exc.step or step, exc) from exc
    except Exception as exc:
        raise StepFailed(step, exc) from exc


@dataclass
class Counts:
    """Rows and seconds per stage, for refresh_runs."""

    extract_rows: int = 0
    extract_seconds: float = 0.0
    transform_rows: int = 0
    transform_seconds: float = 0.0


class Reads:
    """A lane's reads, run in plan order on one worker thread, at most `ahead` waiting."""

    def __init__(self, source: Source, reads: list[Read[Any]], *, ahead: int, name: str) -> None:
        self._order = reads
        self._taken = 0
        self._prefetch = Prefetch([_bound(read, source) for read in reads], ahead=ahead, name=name)
        self._results: Iterator[Any] = iter(())
        self.waited = 0.0

    def __enter__(self) -> Reads:
        self._results = iter(self._prefetch.__enter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._prefetch.__exit__(*exc)  # stops the worker after its current read, then joins it

    def take(self, read: Read[T]) -> T:
        """The result of `read`, the next one of the plan (waiting for it)."""
        expected = self._order[self._taken]
        if read is not expected:
            raise RuntimeError(f"the plan reads {expected.name} next, not {read.name}")
        self._taken += 1
        started = time.perf_counter()
        try:
            with stage(read.step):
                return cast(T, next(self._results))
        finally:
            self.waited += time.perf_counter() - started


def _bound(read: Read[Any], source: Source) -> Callable[[], Any]:
    return lambda: read.run(source)


class Writer:
    """Writes tables into the build on one thread while the next ones are built.

    A write's error surfaces when the block is left, in the publish step; a block left by
    an error abandons the writes not yet started (the build is discarded anyway).
    """

    def __init__(self, build: StoreBuild) -> None:
        self._build = build
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="write", initializer=name_os_thread, initargs=("write",)
        )
        self._pending: list[Future[int]] = []

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, error: type[BaseException] | None, *exc: object) -> None:
        try:
            if error is None:
                with stage("publish"):
                    for pending in self._pending:
                        pending.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def write(self, name: str, frame: pl.DataFrame) -> None:
        self._pending.append(self._pool.submit(self._build.write, name, frame))


def execute(
    plan: Plan,
    config: Config,
    url: str,
    publish: Callable[[StoreBuild, Counts], PublishResult],
    say: Callable[[str], None],
) -> PublishResult:
    """Run the plan into a new store; `publish` writes the run's own rows and publishes it."""
    counts = Counts()
    stats: list[ExtractStats] = []
    with ExitStack() as stack:
        with stage("connect"):
            source = stack.enter_context(Source(url, progress=say))
            history_source = stack.enter_context(Source(url, progress=say)) if plan.history else None
        stats += [source.stats, *([history_source.stats] if history_source is not None else [])]
        with stage("extract"):
            users, trees = source.users(), source.trees()
            first = history_source.first_session_at() if history_source is not None else None
        started = time.perf_counter()
        with stage("transform"):
            dims = tables.Dimensions.of(users, trees)
        counts.transform_seconds += time.perf_counter() - started
        window = stack.enter_context(Reads(source, plan.window.reads(), ahead=plan.window.ahead, name="read-window"))
        with stage("publish"):
            history_before = None if plan.mode == "nightly" else plan.since.date()
            build = stack.enter_context(
                StoreBuild(
                    config.metrics_db,
                    history_before=history_before,
                    progress=say,
                    storage_version=config.storage_version,
                )
            )
        history: Future[Counts] | None = None
        if plan.history is not None and history_source is not None:
            lane = plan.history(first)
            pool = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, initializer=name_os_thread, initargs=("history",))
            )
            # Entered after the pool: leaving the block stops these reads first, then joins the thread.
            reads = stack.enter_context(Reads(history_source, lane.reads(), ahead=lane.ahead, name="read-history"))
            history = pool.submit(_write_history, lane, reads, build, dims)
        with Writer(build) as writer:
            _drain(_window(plan, window, dims), window, writer.write, counts)
        if history is not None:
            history_counts = history.result()
            counts.transform_rows += history_counts.transform_rows
            counts.transform_seconds += history_counts.transform_seconds
        counts.extract_rows = sum(s.total_rows for s in stats)
        counts.extract_seconds = sum(sum(s.seconds.values()) for s in stats)
        with stage("publish"):
            return publish(build, counts)


def _window(plan: Plan, reads: Reads, dims: tables.Dimensions) -> Built:
    lane: WindowLane = plan.window
    return window_tables(
        dims,
        plan.as_of,
        PERIODS,
        rated=reads.take(lane.rated),
        step_ratings=reads.take(lane.step_ratings),
        ranges=(DayRange(start, end, reads.take(read)) for (start, end), read in lane.ranges),
        window_ratings=lambda: WindowRatings(reads.take(lane.session_ratings), reads.take(lane.comment_candidates)),
    )


def _write_history(lane: HistoryLane, reads: Reads, build: StoreBuild, dims: tables.Dimensions) -> Counts:
    counts = Counts()

    def write(name: str, frame: pl.DataFrame) -> None:
        with stage("publish"):
            build.write(name, frame)

    built = history_tables(
        dims,
        rated=reads.take(lane.rated),
        step_ratings=reads.take(lane.step_ratings),
        chunks=(DayRange(start, end, reads.take(read)) for (start, end), read in lane.chunks),
        history_ratings=lambda: reads.take(lane.history_ratings),
    )
    _drain(built, reads, write, counts)
    return counts


def _drain(built: Built, reads: Reads, write: Callable[[str, pl.DataFrame], None], counts: Counts) -> None:
    """Build table after table, writing each; time waiting for reads is not transform time."""
    while True:
        started, waited = time.perf_counter(), reads.waited
        with stage("transform"):
            item = next(built, None)
        counts.transform_seconds += time.perf_counter() - started - (reads.waited - waited)
        if item is None:
            return
        name, frame = item
        counts.transform_rows += frame.height
        write(name, frame)
