"""Executes a refresh plan: connect, read, assemble, write, publish. The only module that
knows about threads.

The overlap is the one measured to pay off: each lane's reads run on a worker thread a
few queries ahead of their consumer; the window is assembled on the calling thread while
a writer thread writes what it yields; a nightly refresh assembles and writes the older
history on a thread and connection of its own at the same time, or, given a cluster
(jobs.cluster), has it read and built there in partitions and writes what comes back. The
stages overlap, so their seconds add up to more than the wall time.

A failure is reported in the step whose code raised it: every step is a `stage(...)`
block, the innermost one names the failure (`RefreshFailed`, with `raise … from` intact).
The run's own rows (its refresh_runs row, store_meta) are written here too, last.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

import polars as pl

from etl.changes import (
    Changes,
    DriftCheck,
    IncrementalReads,
    Stale,
    Unvouched,
    detect_ratings,
    detect_sessions,
    stale,
    vouched_watermark,
)
from etl.config import PERIODS, Config
from etl.contract import check_source
from etl.errors import FlowmetricsError, RefreshFailed, StoreUnavailable
from etl.extract import ExtractStats, Snapshot, Source
from etl.previous import PreviousStore, StoreDamaged
from etl.publish import PublishResult, StoreBuild
from etl.runs import RunRecord, read_runs, runs_frame, utcnow
from etl.store import SCHEMA_VERSION, current_meta
from etl.transform import parts
from etl.transform.assembly import (
    Built,
    DayRange,
    WindowRatings,
    history_before,
    history_tables,
    rebuilt_days,
    window_tables,
)
from jobs.cluster import ClusterHistory, ClusterSpec
from jobs.incremental import rebuilt_tables, stale_keys
from jobs.partition import Partition
from jobs.plan import HistoryLane, Plan, Read, WindowLane, plan_refresh
from jobs.prefetch import Prefetch, name_os_thread

T = TypeVar("T")

log = logging.getLogger("flowmetrics.refresh")


@contextmanager
def stage(step: str) -> Iterator[None]:
    """Errors raised in the block are failures of `step`, unless an inner stage named them."""
    try:
        yield
    except RefreshFailed:
        raise
    except FlowmetricsError as exc:
        raise RefreshFailed(exc.step or step, exc) from exc
    except Exception as exc:
        raise RefreshFailed(step, exc) from exc


@dataclass
class Counts:
    """Rows and seconds per stage, for refresh_runs."""

    extract_rows: int = 0
    extract_seconds: float = 0.0
    transform_rows: int = 0
    transform_seconds: float = 0.0


class Reads:
    """A lane's reads, run in plan order on one worker thread, at most `ahead` waiting."""

    def __init__(self, source: Any, reads: list[Read[Any]], *, ahead: int, name: str) -> None:
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


def _bound(read: Read[Any], source: Any) -> Callable[[], Any]:
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


@dataclass(frozen=True)
class Outcome:
    """What a run learnt on its way, for its refresh_runs row and the new store's metadata."""

    as_of: datetime
    since: datetime
    snapshot: Snapshot
    fallback: str | None = None
    drift: dict[str, int] | None = None
    backfill: bool = False


@dataclass
class _Start:
    """Where a refresh starts: from the published store and what changed, or from scratch."""

    full: bool
    fallback: str | None = None
    held: IncrementalReads | None = None
    dirty: set[date] = field(default_factory=set)
    previous: PreviousStore | None = None
    found: Stale | None = None
    """What the changes make stale (days, fact rows, keys of the history)."""


def execute(
    record: RunRecord,
    config: Config,
    url: str,
    say: Callable[[str], None],
    *,
    full: bool = False,
    as_of: datetime | None = None,
    fallback: str | None = None,
    cluster: ClusterSpec | None = None,
) -> PublishResult:
    """Run `record.mode`'s refresh into a new store, with the run's own rows, and publish it.

    `record` gets what the run learnt (as_of, fallback, drift, rows and seconds per stage)
    before its refresh_runs row is written into the new store.

    All reads share one source snapshot; `as_of` None is the time it was taken. Unless
    `full`, the run starts from the published store and the changes since its snapshot,
    or recomputes everything (and says why in Outcome.fallback) when the store cannot vouch
    for them. `fallback` forces a full run for that reason. A full run's older history is
    read and built on `cluster` (default: METRICS_DASK_SCHEDULER's), or here without one.
    """
    mode = record.mode
    counts = Counts()
    stats: list[ExtractStats] = []
    with ExitStack() as stack:
        with stage("connect"):
            source = stack.enter_context(Source(url, progress=say))
        stats.append(source.stats)
        with stage("extract"):
            check_source(url)
            snapshot = source.begin_snapshot()
            users, trees = source.users(), source.trees()
        when = as_of or snapshot.taken_at
        backfill = _check_as_of(config, when, explicit=as_of is not None)
        start = (
            _Start(True, fallback)
            if full or fallback
            else _start(
                mode, config, source, snapshot, trees, stack, lambda: _second_source(url, snapshot, say, stats, stack)
            )
        )
        if start.fallback:
            log.warning("%s refresh recomputes from the source: %s", mode, start.fallback)
            say(f"recomputing from the source: {start.fallback}")
        plan = plan_refresh(mode, when, full=start.full)
        started = time.perf_counter()
        with stage("transform"):
            dims = parts.Dimensions.of(users, trees)
        counts.transform_seconds += time.perf_counter() - started
        history_source = None
        first = None
        if plan.history is not None:
            with stage("connect"):
                history_source = stack.enter_context(Source(url, progress=say))
                history_source.join_snapshot(snapshot.snapshot_id)
            stats.append(history_source.stats)
            with stage("extract"):
                first = history_source.first_session_at()
        older = sorted(day for day in start.dirty if day < plan.since.date())
        # An incremental writes an overlay of the stale keys on the base store (jobs.incremental);
        # hourly and nightly write a new base with the whole lookback again.
        rebuild = None
        if mode == "incremental" and start.found is not None and start.previous is not None:
            started = time.perf_counter()
            with stage("transform"):
                rebuild = stale_keys(start.previous, start.found, users, trees, dims, plan)
            counts.transform_seconds += time.perf_counter() - started
            say(f"{sum(frame.height for frame in rebuild.keys.values())} stale keys to rebuild")
        window, checked = None, None
        if rebuild is None:
            checked = DriftCheck(source, start.held) if start.held is not None else None
            reader: Any = checked or source
            window = stack.enter_context(
                Reads(reader, plan.window.reads(), ahead=plan.window.ahead, name="read-window")
            )
        with stage("publish"):
            build = stack.enter_context(
                StoreBuild(
                    config.metrics_db,
                    history_before=None if plan.full or rebuild is not None else plan.since.date(),
                    rebuilt_days=older,
                    overlay=rebuild is not None,
                    replaced=rebuild.keys if rebuild is not None else None,
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
            spread = cluster or ClusterSpec.configured(config)
            if spread is None:
                # Entered after the pool: leaving the block stops these reads first, then joins the thread.
                reads = stack.enter_context(Reads(history_source, lane.reads(), ahead=lane.ahead, name="read-history"))
                history = pool.submit(_write_history, lane, reads, build, dims)
            else:
                # Entered after the pool too: leaving the block cancels the tasks, then joins the thread.
                remote = stack.enter_context(
                    ClusterHistory(spread, url=url, snapshot_id=snapshot.snapshot_id, run_id=record.run_id, say=say)
                )
                stats.append(remote.stats)
                history = pool.submit(_write_history_on_cluster, remote, lane, history_source, build, dims, plan.since)
        with Writer(build) as writer:
            if rebuild is not None and start.previous is not None and start.found is not None:
                built = rebuilt_tables(start.previous, start.found.changes, rebuild, dims, plan)
                _drain(built, None, writer.write, counts)
            elif window is not None:
                _drain(_window(plan, window, dims), window, writer.write, counts)
                if older and start.held is not None:
                    say(f"rebuilding {len(older)} older days that changed")
                    _drain(_older_days(start.held, dims, set(older)), window, writer.write, counts)
        if history is not None:
            history_counts = history.result()
            counts.transform_rows += history_counts.transform_rows
            counts.transform_seconds += history_counts.transform_seconds
        counts.extract_rows = sum(s.total_rows for s in stats)
        counts.extract_seconds = sum(sum(s.seconds.values()) for s in stats)
        outcome = Outcome(
            as_of=when,
            since=plan.since,
            snapshot=snapshot,
            fallback=start.fallback,
            drift=checked.drift if checked is not None else None,
            backfill=backfill,
        )
        with stage("publish"):
            return _publish(build, config, record, counts, outcome)


def _publish(build: StoreBuild, config: Config, record: RunRecord, counts: Counts, outcome: Outcome) -> PublishResult:
    """The run's refresh_runs row and store_meta into the new store, then publish it."""
    record.as_of, record.fallback, record.backfill = outcome.as_of, outcome.fallback, outcome.backfill
    record.drift_rows = json.dumps(outcome.drift, sort_keys=True) if outcome.drift is not None else None
    record.extract_rows, record.extract_seconds = counts.extract_rows, counts.extract_seconds
    record.transform_rows, record.transform_seconds = counts.transform_rows, counts.transform_seconds
    if outcome.drift and any(outcome.drift.values()):
        log.warning("%s refresh: the incremental state differed from the source: %s", record.mode, outcome.drift)
    # The run that builds a file is in its refresh_runs; if publishing fails the file never
    # appears, so within a published store this run is a success.
    published = replace(record, status="success")
    build.write("refresh_runs", runs_frame([*read_runs(config.runs_log), published]))
    meta = {
        "as_of": outcome.as_of.isoformat(),
        "built_at": utcnow().isoformat(),
        "mode": record.mode,
        "run_id": record.run_id,
        "lookback_start": outcome.since.isoformat(),
        "storage_version": build.storage_version,
        "source_watermark": str(outcome.snapshot.watermark),
        "source_identity": outcome.snapshot.identity,
        "source_filenodes": outcome.snapshot.filenodes,
        "snapshot_at": outcome.snapshot.taken_at.isoformat(),
        **({"backfill": "true"} if outcome.backfill else {}),
    }
    return build.publish(meta)


def _second_source(
    url: str, snapshot: Snapshot, say: Callable[[str], None], stats: list[ExtractStats], stack: ExitStack
) -> Source:
    """Another connection, reading from the same snapshot."""
    with stage("connect"):
        second = stack.enter_context(Source(url, progress=say))
        second.join_snapshot(snapshot.snapshot_id)
    stats.append(second.stats)
    return second


def _start(
    mode: str,
    config: Config,
    source: Source,
    snapshot: Snapshot,
    trees: pl.DataFrame,
    stack: ExitStack,
    second: Callable[[], Source],
) -> _Start:
    """The published store and the changes since its snapshot, or why the run recomputes.

    The changes of the sessions and of the ratings are found side by side, on `source` and
    on a `second` connection in the same snapshot.
    """
    with stage("extract"):
        try:
            previous = stack.enter_context(PreviousStore(config.metrics_db))
        except StoreUnavailable:
            return _Start(True, f"no store at {config.metrics_db} yet")
        except StoreDamaged as exc:
            return _Start(True, f"the published store is damaged: {exc}")
        if not previous.is_current_schema():
            return _Start(
                True,
                f"the store has schema version {previous.schema_version}, this flowmetrics writes {SCHEMA_VERSION}",
            )
        try:
            xid = vouched_watermark(previous.meta, snapshot)
            other = second()
            with ThreadPoolExecutor(max_workers=1, initializer=name_os_thread, initargs=("detect",)) as pool:
                ratings = pool.submit(detect_ratings, other, previous, xid)
                sessions = detect_sessions(source, previous, xid)
                changes = Changes(sessions, *ratings.result())
            found = stale(previous, changes, trees)
        except Unvouched as exc:
            return _Start(True, f"the watermark cannot be vouched for: {exc}")
        except StoreDamaged as exc:
            return _Start(True, f"the published store is damaged: {exc}")
    log.info("%s refresh: %s; %d days to rebuild", mode, changes.describe(), len(found.days))
    return _Start(False, None, IncrementalReads(previous, changes), found.days, previous, found)


def _check_as_of(config: Config, as_of: datetime, *, explicit: bool) -> bool:
    """True for a backfill (an explicit as_of before the published one); an implicit one never goes back."""
    published = current_meta(config.metrics_db).get("as_of")
    if published is None or as_of >= datetime.fromisoformat(published):
        return False
    if explicit:
        return True
    raise FlowmetricsError(
        f"the source's clock says {as_of.isoformat()}, before the published store's as_of {published}: "
        "not publishing an older store (check the clocks of this host and the database)"
    )


def _older_days(held: IncrementalReads, dims: parts.Dimensions, days: set[date]) -> Built:
    return rebuilt_days(
        dims,
        sessions=held.sessions_on_days(days),
        rated=held.rated_sessions(datetime.min.replace(tzinfo=UTC)),
        step_ratings=held.step_ratings_on_days(days),
        session_ratings=held.ratings_on_days(days),
    )


def _window(plan: Plan, reads: Reads, dims: parts.Dimensions) -> Built:
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


def _write_history(lane: HistoryLane, reads: Reads, build: StoreBuild, dims: parts.Dimensions) -> Counts:
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


def _write_history_on_cluster(
    remote: ClusterHistory,
    lane: HistoryLane,
    source: Source,
    build: StoreBuild,
    dims: parts.Dimensions,
    since: datetime,
) -> Counts:
    """The lane's days in partitions on the cluster; the ratings older than its first day read here."""
    counts = Counts()

    def write(name: str, frame: pl.DataFrame) -> None:
        counts.transform_rows += frame.height
        with stage("publish"):
            build.write(name, frame)

    partitions = [Partition(start, end) for (start, end), _ in lane.chunks]
    first = partitions[0].start if partitions else since
    with stage("extract"):
        step_ratings = source.step_ratings(None, first, name="history_step_ratings")
        ratings = source.history_ratings(first)
    started = time.perf_counter()
    with stage("transform"):
        older = list(history_before(step_ratings, ratings))
    counts.transform_seconds += time.perf_counter() - started
    for name, frame in older:
        write(name, frame)
    figures = remote.run(partitions, dims, write)
    counts.transform_seconds += figures.build_seconds
    return counts


def _drain(built: Built, reads: Reads | None, write: Callable[[str, pl.DataFrame], None], counts: Counts) -> None:
    """Build table after table, writing each; time waiting for reads is not transform time."""
    while True:
        started, waited = time.perf_counter(), reads.waited if reads is not None else 0.0
        with stage("transform"):
            item = next(built, None)
        seconds = time.perf_counter() - started - ((reads.waited if reads else 0.0) - waited)
        counts.transform_seconds += seconds
        if item is None:
            return
        name, frame = item
        log.debug("built %s: %d rows in %.2f s", name, frame.height, seconds)
        counts.transform_rows += frame.height
        write(name, frame)
