"""One refresh: extract -> transform -> publish, with retries, the lock and run history.

Every failure names its step (connect, extract, transform, audit, publish) and leaves the
last good store published. Both the CLI and the scheduler come through `run_refresh`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from etl.config import LOOKBACK_DAYS, PERIODS, Config
from etl.errors import AuditError, FlowmetricsError, RefreshFailed, RefreshLocked, SourceError
from etl.extract import Source
from etl.publish import publish
from etl.transform import history, ratings, tables
from jobs.history import RunRecord, append_run, read_runs, runs_frame, utcnow
from jobs.lock import refresh_lock

log = logging.getLogger("flowmetrics.refresh")

MODES = ("hourly", "nightly")
HISTORY_CHUNK_DAYS = 31


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
) -> RunRecord:
    """Refresh under the lock, retrying transient source errors; records every run.

    Raises RefreshLocked when another refresh holds the lock past `wait_seconds`, and
    RefreshFailed when the run failed (the previous store stays published). `before_run`
    is called once the lock is held (the scheduler claims its slot there); whatever it
    raises cancels the run unrecorded.
    """
    if mode not in MODES:
        raise FlowmetricsError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    as_of = (as_of or utcnow()).astimezone(UTC)
    record = RunRecord(mode=mode, trigger=trigger, as_of=as_of)
    try:
        with refresh_lock(config.lock_path, wait_seconds=wait_seconds):
            if before_run is not None:
                before_run()
            _run_with_retries(config, database_url, record, sleep)
    except RefreshLocked as exc:
        record.status, record.error, record.finished_at = "skipped", str(exc), utcnow()
        append_run(config.runs_log, record)
        raise
    return record


def _run_with_retries(config: Config, url: str, record: RunRecord, sleep: Callable[[float], None]) -> None:
    delay = config.retry_backoff_seconds
    step = _Step("connect")
    while True:
        record.attempts += 1
        try:
            refresh_once(config, url, record, step)
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
    append_run(config.runs_log, record)
    if record.status == "failed":
        log.error("refresh %s failed in %s: %s", record.mode, record.failed_step, record.error)
        raise RefreshFailed(record.failed_step or "refresh", Exception(record.error))
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


def refresh_once(config: Config, url: str, record: RunRecord, step: _Step) -> None:
    """One attempt. `step.name` tracks where it is, for the failure message."""
    as_of = record.as_of
    if record.mode == "hourly" and not config.metrics_db.exists():
        log.info("no store at %s yet: running a nightly refresh instead", config.metrics_db)
        record.mode = "nightly"
    since = lookback_start(as_of)
    say = log.info

    step.name = "connect"
    with Source(url, progress=say) as source:
        step.name = "extract"
        started = time.perf_counter()
        users = source.users()
        trees = source.trees()
        sessions = source.window_sessions(since)
        session_ratings = source.session_ratings(since)
        candidates = source.comment_candidates()
        step_ratings = source.step_ratings(since)
        extract_seconds = time.perf_counter() - started

        step.name = "transform"
        started = time.perf_counter()
        built = tables.window_tables(
            sessions=sessions,
            users=users,
            trees=trees,
            session_ratings=session_ratings,
            comment_candidates=candidates,
            step_ratings=step_ratings,
            as_of=as_of,
            periods=PERIODS,
        )
        transform_seconds = time.perf_counter() - started
        say(f"transform window tables: {sum(f.height for f in built.values())} rows in {transform_seconds:.2f} s")

        history_before: date | None = since.date()
        if record.mode == "nightly":
            history_before = None
            ext, tra = _build_history(source, trees, since, built, step)
            extract_seconds += ext
            transform_seconds += tra

    record.extract_rows, record.extract_seconds = source.stats.total_rows, extract_seconds
    record.transform_rows = sum(f.height for f in built.values())
    record.transform_seconds = transform_seconds

    step.name = "publish"
    built["refresh_runs"] = runs_frame([*read_runs(config.runs_log), _as_published(record)])
    meta = {
        "as_of": as_of.isoformat(),
        "built_at": utcnow().isoformat(),
        "mode": record.mode,
        "run_id": record.run_id,
        "lookback_start": since.isoformat(),
    }
    result = publish(config.metrics_db, built, meta=meta, history_before=history_before, progress=say)
    record.publish_rows, record.publish_seconds = result.rows, result.seconds
    say(f"publish: {result.rows} rows, {result.bytes / 1e6:.1f} MB in {result.seconds:.2f} s -> {result.path.name}")


def _as_published(record: RunRecord) -> RunRecord:
    # The run that builds a file is in its refresh_runs; if publishing fails the file never
    # appears, so within a published store this run is a success.
    return RunRecord(**{**record.__dict__, "status": "success"})


def _build_history(
    source: Source, trees: pl.DataFrame, since: datetime, built: dict[str, pl.DataFrame], step: _Step
) -> tuple[float, float]:
    """Add days before the lookback to daily_sessions/daily_ratings, in bounded chunks."""
    extract_seconds = transform_seconds = 0.0
    day_parts = [built["daily_sessions"]]
    for start, end in history_chunks(source.first_session_at(), since):
        step.name = "extract"
        t0 = time.perf_counter()
        chunk = source.history_sessions(start, end)
        t1 = time.perf_counter()
        step.name = "transform"
        day_parts.append(history.daily_sessions(chunk.lazy(), trees.lazy()).collect())
        extract_seconds += t1 - t0
        transform_seconds += time.perf_counter() - t1
    step.name = "extract"
    t0 = time.perf_counter()
    old_ratings = source.history_ratings(since)
    t1 = time.perf_counter()
    step.name = "transform"
    built["daily_sessions"] = pl.concat(day_parts, how="diagonal")
    built["daily_ratings"] = pl.concat(
        [built["daily_ratings"], ratings.daily_ratings(old_ratings.lazy()).collect()], how="diagonal"
    )
    transform_seconds += time.perf_counter() - t1
    extract_seconds += t1 - t0
    return extract_seconds, transform_seconds
