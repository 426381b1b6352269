"""`flowmetrics schedule`: hourly and nightly refreshes on their cron schedules, until SIGTERM.

One APScheduler 3 BackgroundScheduler (UTC) with one worker thread, so the two jobs never
run at once in this process; the refresh lock keeps them apart from any other process,
and a claim per (job, scheduled slot) stops a late-firing second scheduler from running a
slot again after the first finished. Each run uses its scheduled fire time as `as_of`.

What a second refresh does while one is running: a scheduled run is skipped at once and
recorded as `skipped` in the run history (the next slot tries again); a manual
`flowmetrics refresh` fails at once with a message naming the lock and the holder's pid
and exits 1, unless it was given `--wait SECONDS`.

Misfires: a slot missed while the process was down or busy still runs if it is no more
than METRICS_MISFIRE_GRACE_SECONDS late, once however many slots were missed (coalesced);
on start, the latest slot within the grace that nobody has claimed runs at once.

SIGTERM or SIGINT stops the scheduler after the refresh in flight finishes (runs still
queued behind it are dropped); a second signal exits at once. That is safe: the store is
swapped by one rename, so it is never half-published, and a build file abandoned that way
is deleted by a later refresh (etl.publish.remove_stale_builds).

This module never computes metrics and never writes the store except through run_refresh.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import datetime, timedelta
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from etl.config import Config
from etl.errors import ConfigError, FlowmetricsError, RefreshFailed, RefreshLocked
from jobs.claims import KEEP_CLAIMS, SlotAlreadyRun, claim_slot, claims_dir, is_claimed, prune_claims
from jobs.history import RunRecord, utcnow
from jobs.refresh import run_refresh

log = logging.getLogger("flowmetrics.schedule")

POLL_SECONDS = 0.2
"""How often the main thread checks for a stop request."""


def run_schedule(config: Config, database_url: str, *, stop: threading.Event | None = None) -> None:
    """Run the hourly and nightly refreshes until SIGTERM/SIGINT or until `stop` is set.

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
    """The scheduler with both jobs added (not started); logs the plan."""
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
    return scheduler


def run_scheduled(
    config: Config,
    database_url: str,
    job: str,
    slot: datetime | None = None,
    *,
    stopping: threading.Event | None = None,
) -> RunRecord | None:
    """One scheduled run of `job` ("hourly" or "nightly") for the slot fired at `slot`.

    Claims the slot under the refresh lock, then refreshes with as_of=slot. Returns the
    run's record, or None when it did not run or failed (locked, already claimed, stopping,
    failed); each case is logged and recorded by run_refresh, not raised, so the scheduler
    carries on.
    """
    if slot is None:  # _SlotExecutor always passes it; a direct call means "now"
        slot = utcnow()
    if stopping is not None and stopping.is_set():
        log.info("%s run for %s dropped: the scheduler is stopping", job, slot.isoformat())
        return None
    folder = claims_dir(config.metrics_db)
    try:
        return run_refresh(
            config,
            database_url,
            mode=job,
            as_of=slot,
            trigger="schedule",
            before_run=partial(claim_slot, folder, job, slot),
        )
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
        prune_claims(folder, older_than=_claim_lifetime(config))
    return None


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
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1)

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
