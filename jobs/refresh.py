"""One refresh: extract -> transform -> publish, with retries, the lock and run history.

Every failure names its step (connect, extract, transform, audit, publish) and leaves the
last good store published. Both the CLI and the scheduler come through `run_refresh`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import polars as pl

from etl.config import LOOKBACK_DAYS, PERIODS, Config
from etl.errors import AuditError, FlowmetricsError, RefreshFailed, RefreshLocked, SourceError
from etl.extract import Source
from etl.leftovers import remove_abandoned_builds
from etl.publish import StoreBuild
from etl.store import SCHEMA_VERSION, schema_version
from etl.transform import ids, ratings, tables
from jobs.history import RunRecord, append_run, read_runs, runs_frame, utcnow
from jobs.lock import refresh_lock
from jobs.prefetch import Prefetch
from jobs.quality_log import record_quality

log = logging.getLogger("flowmetrics.refresh")

MODES = ("hourly", "nightly")
HISTORY_CHUNK_DAYS = 31
# The lookback is read in ranges of days: each range is built and written while the next
# is read, so only the last range and the whole-window rollups remain after the last row.
WINDOW_CHUNK_DAYS = 10


def lookback_start(as_of: datetime) -> datetime:
    """UTC midnight at or before as_of - 90 days: the lookback starts on a whole day."""
    start = as_of - timedelta(days=LOOKBACK_DAYS)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def history_chunks(first: datetime | None, since: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges of whole UTC days before the lookback, HISTORY_CHUNK_DAYS each."""
    if first is None or first >= since:
        return []
    chunks = []
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    while start < since:
        end = min(start + timedelta(days=HISTORY_CHUNK_DAYS), since)
        chunks.append((start, end))
        start = end
    return chunks


def window_chunks(since: datetime, as_of: datetime) -> list[tuple[datetime, datetime | None]]:
    """[start, end) ranges of the lookback, WINDOW_CHUNK_DAYS whole UTC days each from `since`.

    The last range starts before as_of and has no end (None): sessions started after
    as_of are in every window.
    """
    starts = [since]
    while starts[-1] + timedelta(days=WINDOW_CHUNK_DAYS) < as_of:
        starts.append(starts[-1] + timedelta(days=WINDOW_CHUNK_DAYS))
    return list(zip(starts, [*starts[1:], None], strict=True))


@dataclass
class _Step:
    name: str


def run_refresh(
    config: Config,
    database_url: str,
    *,
    mode: str,
    as_of: datetime | None = None,
    trigger: str = "manual",
    wait_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    before_run: Callable[[], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunRecord:
    """Refresh under the lock, retrying transient source errors; records every run.

    Raises RefreshLocked when another refresh holds the lock past `wait_seconds`, and
    RefreshFailed when the run failed (the previous store stays published). `before_run`
    is called once the lock is held (the scheduler claims its slot there); whatever it
    raises cancels the run unrecorded. `progress` gets a line per read and write (default:
    debug log lines).
    """
    if mode not in MODES:
        raise FlowmetricsError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    as_of = (as_of or utcnow()).astimezone(UTC)
    record = RunRecord(mode=mode, trigger=trigger, as_of=as_of)
    waiting = time.monotonic()
    with ExitStack() as held:
        try:
            record.lock_wait_seconds = held.enter_context(refresh_lock(config.lock_path, wait_seconds=wait_seconds))
        except RefreshLocked as exc:
            record.lock_wait_seconds = time.monotonic() - waiting
            record.status, record.error = "skipped", str(exc)
            record.started_at = record.finished_at = utcnow()
            append_run(config.runs_log, record)
            raise
        except RefreshFailed as exc:  # the lock file itself could not be written (a full disk)
            record.lock_wait_seconds = time.monotonic() - waiting
            _fail(record, exc.step, exc.cause)
            record.started_at = record.finished_at = utcnow()
            raise _recorded(config, record, exc) from exc.cause
        # Run time starts once the lock is held: serial runs never look overlapping.
        record.started_at = utcnow()
        # Under the lock no other build can be in progress: whatever a killed refresh left
        # is abandoned, and goes now rather than after an hour.
        for leftover in remove_abandoned_builds(config.metrics_db):
            log.warning("removed %s, left by a refresh that was killed", leftover.name)
        if before_run is not None:
            before_run()
        _run_with_retries(config, database_url, record, sleep, progress)
        record_quality(config, record.run_id, record.as_of)
    return record


def _recorded(config: Config, record: RunRecord, failure: RefreshFailed) -> RefreshFailed:
    """Append the failed run to the history; a history that cannot be written is said too."""
    try:
        append_run(config.runs_log, record)
    except OSError as exc:
        return RefreshFailed(
            failure.step,
            Exception(f"{failure.cause} (the run could not be recorded in {config.runs_log}: {exc.strerror})"),
        )
    return failure


def _run_with_retries(
    config: Config,
    url: str,
    record: RunRecord,
    sleep: Callable[[float], None],
    progress: Callable[[str], None] | None = None,
) -> None:
    delay = config.retry_backoff_seconds
    step = _Step("connect")
    while True:
        record.attempts += 1
        try:
            refresh_once(config, url, record, step, progress)
            record.status = "success"
            break
        except SourceError as exc:
            if exc.transient and record.attempts <= config.refresh_retries:
                log.warning("attempt %d failed in %s: %s; retrying in %.0f s", record.attempts, step.name, exc, delay)
                sleep(delay)
                delay *= 2
                continue
            _fail(record, step.name, exc)
            break
        except AuditError as exc:
            _fail(record, "audit", exc)
            break
        except (FlowmetricsError, OSError, pl.exceptions.PolarsError) as exc:
            _fail(record, step.name, exc)
            break
        except BaseException as exc:  # KeyboardInterrupt/SystemExit: record, then re-raise
            _fail(record, step.name, exc)
            record.finished_at = utcnow()
            append_run(config.runs_log, record)
            raise
    record.finished_at = utcnow()
    if record.status == "failed":
        log.error("refresh %s failed in %s: %s", record.mode, record.failed_step, record.error)
        raise _recorded(config, record, RefreshFailed(record.failed_step or "refresh", Exception(record.error)))
    try:
        append_run(config.runs_log, record)
    except OSError as exc:
        raise FlowmetricsError(
            f"the refresh was published but could not be recorded in {config.runs_log}: {exc.strerror}; "
            "free space on its filesystem"
        ) from exc
    log.info(
        "refresh %s done: as_of %s, %d rows extracted in %.1f s, %d rows built in %.1f s, published %d rows in %.1f s",
        record.mode,
        record.as_of.isoformat(),
        record.extract_rows or 0,
        record.extract_seconds or 0,
        record.transform_rows or 0,
        record.transform_seconds or 0,
        record.publish_rows or 0,
        record.publish_seconds or 0,
    )


def _fail(record: RunRecord, step: str, exc: BaseException) -> None:
    record.status, record.failed_step = "failed", step
    record.error = str(exc) or type(exc).__name__


def refresh_once(
    config: Config, url: str, record: RunRecord, step: _Step, progress: Callable[[str], None] | None = None
) -> None:
    """One attempt. `step.name` tracks where it is, for the failure message.

    The source is read on worker threads (jobs.prefetch) while this thread transforms and
    writes: the window's queries one ahead on one connection and, for a nightly refresh,
    the older history in bounded chunks on a second connection at the same time, so
    PostgreSQL reads history while the window is read and built. Each part is written into
    the new store as soon as it is built. The stages overlap, so their seconds add up to
    more than the wall time.
    """
    as_of = record.as_of
    if record.mode == "hourly" and schema_version(config.metrics_db) != SCHEMA_VERSION:
        log.info("no store of this version at %s yet: running a nightly refresh instead", config.metrics_db)
        record.mode = "nightly"
    nightly = record.mode == "nightly"
    since = lookback_start(as_of)
    say = progress or log.debug
    transform = _Timer(step, "transform")
    history_before = None if nightly else since.date()

    step.name = "connect"
    with ExitStack() as stack:
        source = stack.enter_context(Source(url, progress=say))
        history_source = stack.enter_context(Source(url, progress=say)) if nightly else None
        step.name = "extract"
        users, trees = source.users(), source.trees()
        chunks = history_chunks(history_source.first_session_at(), since) if history_source is not None else []
        with transform:
            dims = tables.Dimensions.of(users, trees)
        # Up to three reads ahead (a range of the window is 1/9 of it): the source is read
        # without pause, and the ratings are in by the time the session rollups are built.
        window_ranges = window_chunks(since, as_of)
        window_reads = Prefetch(_window_reads(source, since, window_ranges), ahead=3, name="extract-window")
        window = iter(stack.enter_context(window_reads))
        step.name = "publish"
        build = stack.enter_context(
            StoreBuild(
                config.metrics_db, history_before=history_before, progress=say, storage_version=config.storage_version
            )
        )
        history: Prefetch[int] | None = None
        history_step = _Step("extract")
        history_transform = _Timer(history_step, "transform")
        if history_source is not None:
            # The older history is read, built and written on its own thread while this one
            # builds the window. Leaving the block stops its reads first, then joins it.
            reads = Prefetch(_history_reads(history_source, since, chunks), ahead=1, name="extract-history")
            build_history = partial(_write_history, iter(reads), build, dims, chunks, history_step, history_transform)
            history = stack.enter_context(Prefetch([build_history], name="history"))
            stack.enter_context(reads)
        built_rows = _write_window(window, build, dims, as_of, window_ranges, step, transform)
        if history is not None:
            try:
                built_rows += next(iter(history))
            except BaseException:
                step.name = history_step.name
                raise
        transform.seconds += history_transform.seconds

        stats = [source.stats, *([history_source.stats] if history_source is not None else [])]
        record.extract_rows = sum(s.total_rows for s in stats)
        record.extract_seconds = sum(sum(s.seconds.values()) for s in stats)
        record.transform_rows, record.transform_seconds = built_rows, transform.seconds
        build.write("refresh_runs", runs_frame([*read_runs(config.runs_log), _as_published(record)]))
        meta = {
            "as_of": as_of.isoformat(),
            "built_at": utcnow().isoformat(),
            "mode": record.mode,
            "run_id": record.run_id,
            "lookback_start": since.isoformat(),
            "storage_version": build.storage_version,
        }
        result = build.publish(meta)
    record.publish_rows, record.publish_seconds = result.rows, result.seconds
    say(f"publish: {result.rows} rows, {result.bytes / 1e6:.1f} MB in {result.seconds:.2f} s -> {result.path.name}")


def _write_history(
    got: Iterator[tuple[str, pl.DataFrame | None]],
    build: StoreBuild,
    dims: tables.Dimensions,
    chunks: list[tuple[datetime, datetime]],
    step: _Step,
    transform: _Timer,
) -> int:
    """Per-day history and sessions before the lookback, chunk by chunk, oldest first; returns rows built."""
    built_rows = 0
    rated = _take(got, "rated_sessions", step)
    old_steps = _take(got, "history_step_ratings", step)
    with transform:
        helpful = tables.helpful_days(old_steps)
    for start, end in chunks:
        chunk = _take(got, "history_sessions", step)
        with transform:
            built = tables.history_part(
                chunk, dims, rated=rated, helpful=tables.days_between(helpful, start.date(), end.date())
            )
        del chunk
        step.name = "publish"
        built_rows += sum(build.write(name, frame) for name, frame in built.items())
    # Step ratings of days before the first session: feedback without visits.
    earlier = tables.days_between(helpful, None, chunks[0][0].date() if chunks else None)
    built_rows += build.write("daily_step_feedback", tables.helpful_only(earlier))
    old_ratings = _take(got, "history_ratings", step)
    with transform:
        days = ratings.daily_ratings(old_ratings.lazy()).collect()
    step.name = "publish"
    return built_rows + build.write("daily_ratings", days)


def _write_window(
    got: Iterator[tuple[str, pl.DataFrame | None]],
    build: StoreBuild,
    dims: tables.Dimensions,
    as_of: datetime,
    ranges: list[tuple[datetime, datetime | None]],
    step: _Step,
    transform: _Timer,
) -> int:
    """Every table built from the lookback, read in these day ranges; returns rows built.

    Tables are written on a writer thread while the next ones are built; their write errors
    surface at the end, as the publish step. Each range's per-day history is written as it
    is built. The time series is written once, whole: the API looks its rows up by scope,
    so they must be stored in one run sorted by scope (written range by range, the lookups
    took 4x longer at 10M sessions).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") as writer:
        writes = []
        built_rows = 0
        series, rollup_parts = [], []
        rated = _take(got, "rated_sessions", step)
        step_ratings = _take(got, "step_ratings", step)
        with transform:
            helpful = tables.helpful_days(step_ratings)
        for start, end in ranges:
            sessions = _take(got, "sessions", step)
            with transform:
                days = tables.days_between(helpful, start.date(), end.date() if end else None)
                part = tables.window_part(sessions, dims, as_of, PERIODS, rated=rated, helpful=days)
            del sessions  # the wide frame (node lists) is not needed past this point
            built_rows += part.daily_sessions.height + part.time_series.height
            built_rows += part.fact_sessions.height + part.daily_step_feedback.height
            writes.append(writer.submit(build.write, "daily_sessions", part.daily_sessions))
            writes.append(writer.submit(build.write, "fact_sessions", part.fact_sessions))
            writes.append(writer.submit(build.write, "daily_step_feedback", part.daily_step_feedback))
            series.append(part.time_series)
            rollup_parts.append(part.rollups)
            del part
        rollups = tables.Rollups.combine(rollup_parts)
        del rollup_parts
        # The rollups of sessions alone are built while the ratings are still being read.
        with transform:
            built = tables.session_tables(rollups, dims, as_of, PERIODS)
        # The time series is written once they are built. The machine is CPU-bound here:
        # writing it alongside saved about 1 s of 26 (10M sessions, hourly) and nothing
        # measurable at 1M, and it added 0.5 GiB to the peak memory of a nightly refresh.
        writes.append(writer.submit(build.write, "window_time_series", pl.concat(series)))
        del series
        writes += [writer.submit(build.write, name, frame) for name, frame in built.items()]
        built_rows += sum(f.height for f in built.values())
        del built
        window_ratings = _take(got, "session_ratings", step)
        candidates = _take(got, "comment_candidates", step)
        with transform:
            built = tables.rating_tables(
                rollups=rollups,
                dims=dims,
                session_ratings=window_ratings,
                comment_candidates=candidates,
                step_ratings=step_ratings,
                as_of=as_of,
                periods=PERIODS,
            )
        writes += [writer.submit(build.write, name, frame) for name, frame in built.items()]
        built_rows += sum(f.height for f in built.values())
        log.debug("transform: window tables built in %.2f s so far", transform.seconds)
        del built, rollups
        step.name = "publish"
        for write in writes:
            write.result()
    return built_rows


def _window_reads(
    source: Source, since: datetime, chunks: list[tuple[datetime, datetime | None]]
) -> list[Callable[[], tuple[str, pl.DataFrame | None]]]:
    """The lookback's queries, in the order a refresh consumes them: sessions range by range.

    The sessions' ratings and the step ratings come first: each range's sessions fact and
    per-day step feedback need them.
    """
    return [
        _named("rated_sessions", partial(source.rated_sessions, since, None)),
        _named("step_ratings", partial(source.step_ratings, since)),
        *(_named("sessions", partial(source.window_sessions, start, end)) for start, end in chunks),
        _named("session_ratings", partial(source.session_ratings, since)),
        _named("comment_candidates", source.comment_candidates),
    ]


def _history_reads(
    source: Source, since: datetime, chunks: list[tuple[datetime, datetime]]
) -> list[Callable[[], tuple[str, pl.DataFrame | None]]]:
    """The older history's queries: ratings of its sessions, step ratings, sessions chunk by
    chunk (oldest first), then session ratings.

    Chunks are read with Categorical ids and outcomes (small while they wait for their turn).
    """
    first = chunks[0][0] if chunks else since
    reads = [
        _named("rated_sessions", partial(source.rated_sessions, first, since)),
        _named("history_step_ratings", partial(source.history_step_ratings, since)),
    ]
    reads += [_named("history_sessions", partial(_coded_history, source, start, end)) for start, end in chunks]
    reads.append(_named("history_ratings", partial(source.history_ratings, since)))
    return reads


def _coded_history(source: Source, start: datetime, end: datetime) -> pl.DataFrame:
    return ids.encode(source.history_sessions(start, end), ["tree_id", "user_id", "outcome"])


def _named(name: str, read: Callable[[], pl.DataFrame | None]) -> Callable[[], tuple[str, pl.DataFrame | None]]:
    return lambda: (name, read())


def _take(got: Iterator[tuple[str, pl.DataFrame | None]], name: str, step: _Step) -> Any:
    """The next prefetched read (waiting for it); its errors surface here, as the extract step."""
    step.name = "extract"
    read, frame = next(got)
    if read != name:
        raise RuntimeError(f"expected the {name} read, got {read}")
    return frame


class _Timer:
    """Accumulated seconds of one stage; entering it names the step."""

    def __init__(self, step: _Step, name: str) -> None:
        self.step, self.name, self.seconds = step, name, 0.0
        self._started = 0.0

    def __enter__(self) -> None:
        self.step.name = self.name
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._started


def _as_published(record: RunRecord) -> RunRecord:
    # The run that builds a file is in its refresh_runs; if publishing fails the file never
    # appears, so within a published store this run is a success.
    return RunRecord(**{**record.__dict__, "status": "success"})
