"""Run history: one JSON line per refresh run, kept beside the store.

Kept outside the store file so a failed run is recorded while the last good store stays
untouched; every new store copies the history into its refresh_runs table. The jobs write
it (append_run), the read API reads it (read_runs, parse_records, last_record): the one
place that knows its format.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from etl import statements


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunRecord:
    """One refresh run; the fields are refresh_runs' columns."""

    mode: str
    trigger: str
    as_of: datetime
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: str = "running"
    failed_step: str | None = None
    error: str | None = None
    extract_rows: int | None = None
    extract_seconds: float | None = None
    transform_rows: int | None = None
    transform_seconds: float | None = None
    publish_rows: int | None = None
    publish_seconds: float | None = None
    attempts: int = 0
    lock_wait_seconds: float | None = None
    """Seconds spent waiting for the refresh lock before started_at (`--wait`)."""
    scheduled_for: datetime | None = None
    """The schedule's slot this run was started for (None: a manual run)."""
    fallback: str | None = None
    """Why the run recomputed from the source instead of taking only what changed."""
    drift_rows: str | None = None
    """Hourly: rows that differ per table between the source and the incremental state (JSON)."""
    backfill: bool = False
    """An explicit as_of before the published store's (the store went back on purpose)."""

    def to_json(self) -> str:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> RunRecord:
        data: dict[str, Any] = json.loads(line)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("as_of", "started_at", "finished_at", "scheduled_for"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key])
        return cls(**data)


def append_run(path: Path, record: RunRecord) -> None:
    """Append one record durably (one write of one line; O_APPEND keeps lines whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (record.to_json() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_runs(path: Path) -> list[RunRecord]:
    """All recorded runs, oldest first; a torn last line (a killed writer) is skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    runs = []
    for record in parse_records(data):
        try:
            runs.append(RunRecord.from_json(json.dumps(record)))
        except (ValueError, TypeError):
            continue
    return runs


def parse_records(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of JSON-lines bytes (the run history's, the quality log's), in order.

    A line that is not a whole JSON object (a killed writer's torn last line) is skipped.
    """
    records = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def last_record(path: Path, *, tail_bytes: int = 65536) -> dict[str, Any] | None:
    """The newest whole record of a JSON-lines file, read from its end; None when there is none."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - tail_bytes))
            records = parse_records(handle.read())
    except OSError:
        return None
    return records[-1] if records else None


# The columns are the store DDL's (etl/sql/store.sql), stated there once.
SCHEMA = statements.store_schema("refresh_runs")


def runs_frame(records: list[RunRecord]) -> pl.DataFrame:
    """The refresh_runs table of a new store."""
    rows = [{name: getattr(r, name) for name in SCHEMA} for r in records]
    return pl.DataFrame(rows, schema=SCHEMA)
