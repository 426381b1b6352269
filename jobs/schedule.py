"""`flowmetrics schedule`: the incremental refresh every METRICS_INCREMENTAL_SECONDS, hourly
and nightly refreshes on their cron schedules, until SIGTERM.

One APScheduler 3 BackgroundScheduler (UTC) with one worker thread, so no two jobs run at
once in this process; the refresh lock keeps them apart from any other process, and a
claim per (job, scheduled slot) stops a late-firing second scheduler from running an
hourly or nightly slot again after the first finished. Every scheduled run is as of its
source snapshot (the moment its reads begin), not of its slot: a run that starts late
still publishes what the source held when it read, and a slot caught up on start never
publishes an older as_of than the store already serves. The slot names the run's claim
and log lines and is recorded as the run's `scheduled_for`.

What a second refresh does while one is running: a scheduled hourly or nightly run is
skipped at once and recorded as `skipped` in the run history (the next slot tries again);
a manual `flowmetrics refresh` fails at once with a message naming the lock and the
holder's pid and exits 1, unless it was given `--wait SECONDS`.

Incremental ticks: a tick that finds a refresh running, in this process (queued or in
flight) or in another one (the lock visibly held), is skipped with one log line and not
recorded (the next tick reads whatever changed meanwhile, so nothing is lost, and a
`skipped` line a minute would bury the runs that matter in the history and in /health's
last run). Ticks are never queued: after a long hourly or nightly the next tick runs, not
one per tick missed. They take no claims: their slots depend on when each process started,
so two schedulers never share one, and a second incremental run right after another reads
next to nothing.

Misfires: an hourly or nightly slot missed while the process was down or busy still runs
if it is no more than METRICS_MISFIRE_GRACE_SECONDS late, once however many slots were
missed (coalesced); on start, the latest slot within the grace that nobody has claimed
runs at once. An incremental tick's grace is its interval: a process that slept runs one
tick on waking, never the ones it slept through.

SIGTERM or SIGINT stops the scheduler after the refresh in flight finishes (runs still
queued behind it are dropped); a second signal exits at once. That is safe: the store is
swapped by one rename, so it is never half-published, and a build file abandoned that way
is deleted by a later refresh (etl.publish.remove_stale_builds).

This module never computes metrics and never writes the store except through run_refresh.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from etl.config import Config
from etl.errors import ConfigError, FlowmetricsError, RefreshFailed, RefreshLocked
from etl.runs import RunRecord, utcnow
from jobs.claims import KEEP_CLAIMS, SlotAlreadyRun, claim_slot, claims_dir, is_claimed, prune_claims
from jobs.refresh import run_refresh, summary

log = logging.getLogger("flowmetrics.schedule")

POLL_SECONDS = 0.2
"""How often the main thread checks for a stop request."""

INCREMENTAL = "incremental"
"""The job (and refresh mode) run every `Config.incremental_seconds`, without claims."""


def run_schedule(config: Config, database_url: str, *, stop: threading.Event | None = None) -> None:
    """Run the incremental, hourly and nightly refreshes until SIGTERM/SIGINT or until `stop` is set.

    Returns once the refresh in flight (if any) has finished. Signal handlers are installed
    only when called from the main thread (and restored on return).
    """
    stop = stop if stop is not None else threading.Event()
    stopping = threading.Event()  # set when shutting down: runs still queued are dropped
    received: list[int] = []
    scheduler = build_scheduler(config, database_url, stopping=stopping, now=utcnow())
    previous_handlers = _install_signal_handlers(received)
    try:
        scheduler.start()
        try:
            # Signal handlers only record the signal: stopping (which waits for a refresh)
            # happens here, in ordinary code, where a second signal can still interrupt it.
            while not received and not stop.wait(POLL_SECONDS):
                pass
            cause = f"{signal.Signals(received[0]).name} received" if received else "stop requested"
            log.info("%s: stopping after the refresh in progress, if any (a second signal exits now)", cause)
        finally:
            stopping.set()
            scheduler.shutdown(wait=True)
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    log.info("scheduler stopped")


def build_scheduler(
    config: Config, database_url: str, *, stopping: threading.Event, now: datetime
) -> BackgroundScheduler:
    """The scheduler with its jobs added (not started); logs the plan."""
    grace = max(1, config.misfire_grace_seconds)  # APScheduler needs a positive grace
    scheduler = BackgroundScheduler(
        timezone="UTC",
        executors={"default": _SlotExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
    )
    folder = claims_dir(config.metrics_db)
    prune_claims(folder, older_than=_claim_lifetime(config))
    for job, cron in (("hourly", config.hourly_cron), ("nightly", config.nightly_cron)):
        trigger = _trigger(job, cron)
        extra: dict[str, Any] = {}
        missed = latest_slot(trigger, now, timedelta(seconds=grace))
        if missed is not None and not is_claimed(folder, job, missed):
            # APScheduler 3 keeps no memory of past runs: without this, a slot missed while
            # the scheduler was down would never run, whatever the grace.
            extra["next_run_time"] = missed
            log.info("%s: the slot at %s was missed and is within the grace: running it now", job, missed.isoformat())
        scheduler.add_job(
            run_scheduled,
            trigger,
            id=job,
            name=f"{job} refresh",
            kwargs={"config": config, "database_url": database_url, "job": job, "stopping": stopping},
            **extra,
        )
        upcoming = trigger.get_next_fire_time(None, now)
        log.info("%s refresh: cron %r (UTC), next run at %s", job, cron, upcoming.isoformat() if upcoming else "never")
    every = config.incremental_seconds
    if every > 0:
        first = now + timedelta(seconds=every)
        scheduler.add_job(
            run_scheduled,
            IntervalTrigger(seconds=every, start_date=first, timezone="UTC"),
            id=INCREMENTAL,
            name=f"{INCREMENTAL} refresh",
            kwargs={"config": config, "database_url": database_url, "job": INCREMENTAL, "stopping": stopping},
            # A tick later than its interval has been overtaken by the next one.
            misfire_grace_time=every,
        )
        log.info("%s refresh: every %d s, next run at %s", INCREMENTAL, every, first.isoformat())
    else:
        log.info("%s refresh: off (METRICS_INCREMENTAL_SECONDS=0)", INCREMENTAL)
    return scheduler


def run_scheduled(
    config: Config,
    database_url: str,
    job: str,
    slot: datetime | None = None,
    *,
    stopping: threading.Event | None = None,
) -> RunRecord | None:
    """One scheduled run of `job` ("incremental", "hourly" or "nightly") for the slot fired at `slot`.

    Hourly and nightly claim the slot under the refresh lock; every run is as of its source
    snapshot, with scheduled_for=slot. Returns the run's record, or None when it did not
    run or failed (locked, already claimed, stopping, failed); each case is logged and
    recorded by run_refresh, not raised, so the scheduler carries on. An incremental run
    that finds the lock visibly held is not started, so not recorded either.
    """
    if slot is None:  # _SlotExecutor always passes it; a direct call means "now"
        slot = utcnow()
    if stopping is not None and stopping.is_set():
        log.info("%s run for %s dropped: the scheduler is stopping", job, slot.isoformat())
        return None
    claims = job != INCREMENTAL
    if not claims and (holder := _held_by(config.lock_path)) is not None:
        log.info(
            "%s run for %s skipped: another refresh is running (pid %s, lock %s)",
            job,
            slot.isoformat(),
            holder,
            config.lock_path,
        )
        return None
    folder = claims_dir(config.metrics_db)
    try:
        record = run_refresh(
            config,
            database_url,
            mode=job,
            as_of=None,  # as of the source snapshot; the slot is only when it was due
            trigger="schedule",
            scheduled_for=slot,
            before_run=partial(claim_slot, folder, job, slot) if claims else None,
        )
        log.info("%s", summary(record))
        return record
    except SlotAlreadyRun as exc:
        log.info("%s", exc)
    except RefreshLocked:
        # Recorded as skipped by run_refresh; the slot stays unclaimed.
        log.warning(
            "%s run for %s skipped: another refresh is running (lock %s)", job, slot.isoformat(), config.lock_path
        )
    except RefreshFailed as exc:
        # run_refresh has logged the failure and recorded it; the schedule goes on.
        log.error("%s run for %s failed in %s; the schedule continues", job, slot.isoformat(), exc.step)
    except FlowmetricsError as exc:
        log.error("%s run for %s did not start: %s", job, slot.isoformat(), exc)
    finally:
        if claims:
            prune_claims(folder, older_than=_claim_lifetime(config))
    return None


def _held_by(path: Path) -> str | None:
    """The pid of the refresh holding the lock at `path`; None when it looks free.

    A hint, not the lock: run_refresh decides. The holder writes its pid once it has the
    flock and empties the file before letting go, so an empty file is free without
    touching the lock; only a file with a pid in it (held, or left by a holder that was
    killed) is probed with a non-blocking flock, which then fails at once if held.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        pid = os.read(fd, 64).decode(errors="replace").strip()
        if not pid:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return pid
        fcntl.flock(fd, fcntl.LOCK_UN)  # its holder died without emptying it
        return None
    finally:
        os.close(fd)


def latest_slot(trigger: CronTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The trigger's last fire time in [now - within, now], or None."""
    slot = None
    fire: datetime | None = trigger.get_next_fire_time(None, now - within)
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, now)
    return slot


def _trigger(job: str, cron: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(cron, timezone="UTC")
    except ValueError as exc:
        name = f"METRICS_{job.upper()}_CRON"
        raise ConfigError(f"{name}={cron!r} is not a valid cron expression ({exc}); use e.g. '5 * * * *'") from None


def _claim_lifetime(config: Config) -> timedelta:
    # A claim must outlive the grace, or a scheduler firing late could run its slot again.
    return max(KEEP_CLAIMS, timedelta(seconds=config.misfire_grace_seconds) + timedelta(days=1))


class _ScheduledRun:
    """A job as APScheduler's run_job sees it, with `slot` (its fire time) in its kwargs."""

    def __init__(self, job: Job, slot: datetime) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "slot": slot}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class _SlotExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """One worker thread (one refresh at a time) that tells each run its scheduled time.

    APScheduler 3 calls a job without its fire time; this is the one place that knows it
    exactly, so it is passed in here. With coalesce=True (always, here) `run_times` holds
    one time: the latest missed one.

    An incremental tick while any run of this scheduler is queued or in flight is dropped
    here, in the scheduler's thread, rather than queued behind it: its slot would be stale
    by the time the worker got to it.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        if job.id == INCREMENTAL:
            with self._lock:
                busy = sorted(name for name, count in self._instances.items() if count > 0)
            if busy:
                log.info(
                    "%s run for %s skipped: the %s refresh of this scheduler is still running",
                    INCREMENTAL,
                    run_times[-1].isoformat(),
                    " and ".join(busy),
                )
                return
        super().submit_job(job, run_times)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        super()._do_submit_job(_ScheduledRun(job, run_times[-1]), run_times)


def _install_signal_handlers(received: list[int]) -> dict[int, Any]:
    """SIGTERM/SIGINT: the first is recorded for the main loop, a second exits at once."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if received:
            # Plain write: the logging lock may be held by the code this interrupted.
            os.write(
                2, f"{signal.Signals(signum).name} again: exiting now; any refresh in flight is abandoned\n".encode()
            )
            os._exit(128 + signum)
        received.append(signum)

    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.getsignal(signum) or signal.SIG_DFL
        signal.signal(signum, on_signal)
    return previous
