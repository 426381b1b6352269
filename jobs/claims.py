"""Slot claims: each scheduled slot (job, fire time) runs at most once on this host.

The refresh lock keeps two refreshes apart in time, but two scheduler processes both fire
every slot: the one that fires late would run the slot again after the first finishes. A
claim is a file `<METRICS_DB>.claims/<job>-<slot>` created with O_CREAT|O_EXCL while the
refresh lock is held; whoever creates it runs the slot, everyone else skips it. A claim
stands whether the run then succeeded or failed (the next slot tries again). This module
never runs a refresh and never touches the store.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from etl.errors import FlowmetricsError

KEEP_CLAIMS = timedelta(days=7)
"""How long claims are kept; must exceed the misfire grace, or a late slot could run twice."""


class SlotAlreadyRun(FlowmetricsError):
    """Another scheduler already ran (or is running) this slot."""


def claims_dir(metrics_db: Path) -> Path:
    """Folder of the claims, beside the store: `<METRICS_DB>.claims`."""
    return metrics_db.with_name(metrics_db.name + ".claims")


def claim_name(job: str, slot: datetime) -> str:
    """`hourly-20261120T090500Z`: the job and its scheduled fire time in UTC."""
    return f"{job}-{slot.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def is_claimed(folder: Path, job: str, slot: datetime) -> bool:
    """Whether someone already claimed the slot (a hint only: claim_slot decides)."""
    return (folder / claim_name(job, slot)).exists()


def claim_slot(folder: Path, job: str, slot: datetime) -> None:
    """Claim the slot, or raise SlotAlreadyRun. Call it while holding the refresh lock."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / claim_name(job, slot)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise SlotAlreadyRun(
            f"the {job} run scheduled at {slot.astimezone(UTC).isoformat()} already ran (claim {path}); skipping it"
        ) from None
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def prune_claims(folder: Path, *, older_than: timedelta = KEEP_CLAIMS) -> int:
    """Delete claims last written more than `older_than` ago; returns how many."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another scheduler pruned it first
            continue
    return removed
