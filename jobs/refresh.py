"""One refresh under the lock: plan it, run it (jobs.runner), retry, record the run.

Every failure names the step that raised it (connect, extract, transform, audit, publish)
and leaves the last good store published. Both the CLI and the scheduler come through
`run_refresh`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime

from etl.config import Config
from etl.errors import FlowmetricsError, RefreshFailed, RefreshLocked, SourceError
from etl.previous import StoreDamaged
from etl.publish.leftovers import remove_abandoned_builds
from etl.runs import RunRecord, append_run, utcnow
from etl.store import overlay_path
from jobs.cluster import ClusterSpec
from jobs.lock import refresh_lock
from jobs.plan import MODES
from jobs.quality_log import record_quality
from jobs.runner import execute

log = logging.getLogger("flowmetrics.refresh")


def run_refresh(
    config: Config,
    database_url: str,
    *,
    mode: str,
    as_of: datetime | None = None,
    trigger: str = "manual",
    scheduled_for: datetime | None = None,
    full: bool = False,
    wait_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    before_run: Callable[[], None] | None = None,
    progress: Callable[[str], None] | None = None,
    cluster: ClusterSpec | None = None,
) -> RunRecord:
    """Refresh under the lock, retrying transient source errors; records every run.

    `as_of` None: the time of the run's source snapshot (when its reads begin), also for a
    scheduled run, whose slot is `scheduled_for`; an explicit `as_of` is a backfill or test
    time. `full` (nightly): rebuild every table from the source.

    Raises RefreshLocked when another refresh holds the lock past `wait_seconds`, and
    RefreshFailed when the run failed (the previous store stays published). `before_run`
    is called once the lock is held (the scheduler claims its slot there); whatever it
    raises cancels the run unrecorded. `progress` gets a line per read and write (default:
    debug log lines). `cluster` (nightly full): where the older history is read and built
    (default: METRICS_DASK_SCHEDULER's cluster, or this process).
    """
    if mode not in MODES:
        raise FlowmetricsError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    if full and mode != "nightly":
        raise FlowmetricsError("--full rebuilds all history: use it with --mode nightly")
    if cluster is not None and not full:
        raise FlowmetricsError("a cluster builds the history of a full rebuild: use it with --mode nightly --full")
    explicit = as_of.astimezone(UTC) if as_of is not None else None
    # Until the snapshot is taken the run's as_of is not known; a run that never reads keeps now.
    record = RunRecord(mode=mode, trigger=trigger, as_of=explicit or utcnow(), scheduled_for=scheduled_for)
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
        for leftover in [
            *remove_abandoned_builds(config.metrics_db),
            *remove_abandoned_builds(overlay_path(config.metrics_db)),
        ]:
            log.warning("removed %s, left by a refresh that was killed", leftover.name)
        if before_run is not None:
            before_run()
        _run_with_retries(config, database_url, record, sleep, progress, full=full, as_of=explicit, cluster=cluster)
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
    *,
    full: bool = False,
    as_of: datetime | None = None,
    cluster: ClusterSpec | None = None,
) -> None:
    delay = config.retry_backoff_seconds
    failure: RefreshFailed | None = None
    while True:
        record.attempts += 1
        try:
            refresh_once(config, url, record, progress, full=full, as_of=as_of, cluster=cluster)
            record.status = "success"
            break
        except RefreshFailed as failed:
            cause = failed.cause
            if isinstance(cause, SourceError) and cause.transient and record.attempts <= config.refresh_retries:
                log.warning("retrying in %.1f s: %s", delay, cause)
                sleep(delay)
                delay *= 2
                continue
            _fail(record, failed.step, cause)
            failure = failed
            break
        except BaseException as exc:  # KeyboardInterrupt/SystemExit: record, then re-raise
            _fail(record, "refresh", exc)
            record.finished_at = utcnow()
            append_run(config.runs_log, record)
            raise
    record.finished_at = utcnow()
    if failure is not None:
        raise _recorded(config, record, failure) from failure.cause
    try:
        append_run(config.runs_log, record)
    except OSError as exc:
        raise FlowmetricsError(
            f"the refresh was published but could not be recorded in {config.runs_log}: {exc.strerror}; "
            "free space on its filesystem"
        ) from exc


def summary(record: RunRecord) -> str:
    """The run in one line, with the figures refresh_runs keeps."""
    seconds = (record.extract_seconds or 0) + (record.transform_seconds or 0) + (record.publish_seconds or 0)
    notes = [
        *(["a backfill"] if record.backfill else []),
        *([f"recomputed: {record.fallback}"] if record.fallback else []),
        *([f"drift {record.drift_rows}"] if record.drift_rows else []),
    ]
    return (
        f"refresh {record.mode} {record.status}: as_of {record.as_of.isoformat()}, "
        f"{record.extract_rows or 0} rows read, {record.publish_rows or 0} rows published in {seconds:.1f} s"
        + "".join(f"; {n}" for n in notes)
    )


def _fail(record: RunRecord, step: str, exc: BaseException) -> None:
    record.status, record.failed_step = "failed", step
    record.error = str(exc) or type(exc).__name__


def refresh_once(
    config: Config,
    url: str,
    record: RunRecord,
    progress: Callable[[str], None] | None = None,
    *,
    full: bool = False,
    as_of: datetime | None = None,
    cluster: ClusterSpec | None = None,
) -> None:
    """One attempt: read from one source snapshot, build a new store, publish it.

    A published store found damaged only once the build reads it is not retried as it is:
    the attempt recomputes everything from the source instead (and says so).
    """
    say = progress or log.debug
    try:
        result = execute(record, config, url, say, full=full, as_of=as_of, cluster=cluster)
    except RefreshFailed as failed:
        if full or not isinstance(failed.cause, StoreDamaged):
            raise
        reason = f"the published store is damaged: {failed.cause}"
        log.warning("%s refresh recomputes from the source: %s", record.mode, reason)
        result = execute(record, config, url, say, as_of=as_of, fallback=reason)
    record.publish_rows, record.publish_seconds = result.rows, result.seconds
    say(f"publish: {result.rows} rows, {result.bytes / 1e6:.1f} MB in {result.seconds:.2f} s -> {result.path.name}")
