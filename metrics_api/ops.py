"""What operators look at besides the dashboards: run history, data-quality trend, staleness.

Read from the files a refresh leaves beside the store (the run history, the quality
history; both JSON lines, parsed by etl.runs) and from the served snapshot. Only reads;
`jobs` appends to these files.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from etl.runs import parse_records

RUN_FIELDS = (
    "run_id",
    "mode",
    "trigger",
    "status",
    "as_of",
    "started_at",
    "finished_at",
    "failed_step",
    "extract_rows",
    "extract_seconds",
    "transform_rows",
    "transform_seconds",
    "publish_rows",
    "publish_seconds",
    "attempts",
)
"""What anyone may see of a run. The error message may name hosts or paths: only operators see it."""


def timestamp(text: object) -> float | None:
    """Unix time of an ISO-8601 text (naive means UTC); None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class JsonLines:
    """The records of a JSON-lines file (etl.runs.parse_records), parsed again only when the
    file has changed (size or mtime)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._records: list[dict[str, Any]] = []

    def records(self) -> list[dict[str, Any]]:
        try:
            st = self.path.stat()
            key = (st.st_size, st.st_mtime_ns)
            if key != self._seen:
                data = self.path.read_bytes()
                self._records, self._seen = parse_records(data), key
        except FileNotFoundError:
            return []
        return self._records


class RunHistory(JsonLines):
    """The run history (`METRICS_DB.runs.jsonl`), oldest first."""

    def runs(self) -> list[dict[str, Any]]:
        return self.records()


class LastSuccess:
    """The newest successful run of one mode in the run history (the last such line).

    The history only grows by appended lines, and an incremental refresh appends one a
    minute: each call reads only the bytes appended since the last one. Another file at
    the path, or one that got shorter (rotated, rewritten), is read again from the start.
    """

    def __init__(self, path: Path, mode: str) -> None:
        self.path, self.mode = path, mode
        self._file: int | None = None  # inode of the file read so far
        self._read = 0  # bytes consumed: up to the end of the last whole line
        self._run: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def run(self) -> dict[str, Any] | None:
        with self._lock:
            try:
                with self.path.open("rb") as handle:
                    size = handle.seek(0, 2)
                    inode = os.fstat(handle.fileno()).st_ino
                    if inode != self._file or size < self._read:
                        self._file, self._read, self._run = inode, 0, None
                    handle.seek(self._read)
                    data = handle.read(size - self._read)
            except FileNotFoundError:
                self._file, self._read, self._run = None, 0, None
                return None
            whole = data.rfind(b"\n") + 1  # a torn last line is read again once it is whole
            for record in parse_records(data[:whole]):
                if record.get("mode") == self.mode and record.get("status") == "success":
                    self._run = record
            self._read += whole
            return self._run


def lag_warning_seconds(incremental_seconds: int) -> float:
    """How far the served data may fall behind before the page warns: three refresh
    intervals (three hours when incremental refreshes are off and the hourly one is the
    most frequent)."""
    return 3.0 * (incremental_seconds if incremental_seconds > 0 else 3600)


def public_run(run: dict[str, Any], *, details: bool) -> dict[str, Any]:
    """A run as the page shows it; the error message only with `details` (an operator's token)."""
    shown = {name: _jsonable(run.get(name)) for name in RUN_FIELDS}
    shown["error"] = _jsonable(run.get("error")) if details else None
    shown["error_hidden"] = bool(run.get("error")) and not details
    return shown


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def stale_after_seconds(hourly_cron: str, nightly_cron: str, grace_seconds: int, *, now: datetime) -> float:
    """How old the store may get on schedule: the longest gap between two scheduled
    refreshes (either mode) over the next week, plus the grace a late run is given."""
    triggers = [CronTrigger.from_crontab(cron, timezone=UTC) for cron in (hourly_cron, nightly_cron)]
    end = now + timedelta(days=8)
    fires: set[datetime] = set()
    for trigger in triggers:
        fire = trigger.get_next_fire_time(None, now)
        while fire is not None and fire <= end and len(fires) < 20_000:
            fires.add(fire)
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    ordered = sorted(fires)
    gaps = [(b - a).total_seconds() for a, b in zip(ordered, ordered[1:], strict=False)]
    return (max(gaps) if gaps else 7 * 86400.0) + grace_seconds
