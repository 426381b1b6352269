"""What a refresh reads, and in which order: the plan `jobs.runner` executes.

A plan is data: typed reads (a name, the read by its method name, the step a failure is
reported in) grouped in lanes, each lane one reader read in order: a source connection, or
for an incremental refresh the window lane's `etl.changes.IncrementalReads` (the published
store with the changes applied). The window lane feeds `etl.transform.assembly.window_tables`,
the history lane (a full rebuild only) feeds `history_tables`; every table those yield goes
into the new store under its own name.

Modes: `incremental` reads what changed and takes the rest from the published store;
`hourly` reads the lookback from the source (and compares it with the incremental state:
drift); `nightly` is the hourly's reconciliation of every changed day, and `full` rebuilds
all history from the source (also every fallback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import methodcaller
from typing import Any, Generic, TypeVar

import polars as pl

from etl.config import LOOKBACK_DAYS
from etl.extract import Source

T = TypeVar("T")

MODES = ("incremental", "hourly", "nightly")
HISTORY_CHUNK_DAYS = 8
"""Older history in ranges of 8 days: one waits while the one before is built, beside the
window's. At 10M sessions, 31-day ranges peaked at 4.3 GiB, 8-day ones at 3.3 GiB, for
about 10% more CPU (more, smaller queries and parts)."""
WINDOW_CHUNK_DAYS = 10
"""The lookback is read in ranges of days: each range is built and written while the next
is read, so only the last range and the whole-window rollups remain after the last row."""


@dataclass(frozen=True)
class Read(Generic[T]):
    """One read of the source; `run` gets the lane's reader (a Source, or the incremental's reads)."""

    name: str
    run: Callable[[Any], T]
    step: str = "extract"


Range = tuple[datetime, datetime | None]


@dataclass(frozen=True)
class WindowLane:
    """The lookback's reads, in the order the window assembly consumes them."""

    rated: Read[pl.DataFrame]
    step_ratings: Read[pl.DataFrame | None]
    ranges: list[tuple[Range, Read[pl.DataFrame]]]
    session_ratings: Read[pl.DataFrame]
    comment_candidates: Read[pl.DataFrame]
    ahead: int = 3
    """Reads waiting at most (a range is 1/9 of the window): the source is read without
    pause, and the ratings are in by the time the session rollups are built."""

    def reads(self) -> list[Read[Any]]:
        return [
            self.rated,
            self.step_ratings,
            *(read for _, read in self.ranges),
            self.session_ratings,
            self.comment_candidates,
        ]


@dataclass(frozen=True)
class HistoryLane:
    """The reads before the lookback (nightly), on a connection of their own."""

    rated: Read[pl.DataFrame]
    step_ratings: Read[pl.DataFrame | None]
    chunks: list[tuple[tuple[datetime, datetime], Read[pl.DataFrame]]]
    history_ratings: Read[pl.DataFrame]
    ahead: int = 1

    def reads(self) -> list[Read[Any]]:
        return [self.rated, self.step_ratings, *(read for _, read in self.chunks), self.history_ratings]


@dataclass(frozen=True)
class Plan:
    mode: str
    full: bool
    """Every table from the source into a new file (nightly --full, and every fallback)."""
    as_of: datetime
    since: datetime
    """Where the lookback starts: the hourly refresh rebuilds from here, keeps what is older."""
    window: WindowLane
    history: Callable[[datetime | None], HistoryLane] | None = field(default=None)
    """Nightly: the history lane, given the oldest session's start (known once connected)."""


def plan_refresh(mode: str, as_of: datetime, *, full: bool = False) -> Plan:
    since = lookback_start(as_of)
    ranges = window_chunks(since, as_of)
    window = WindowLane(
        rated=Read("rated_sessions", methodcaller("rated_sessions", start=since, end=None)),
        step_ratings=Read("step_ratings", methodcaller("step_ratings", start=since, end=None)),
        ranges=[((s, e), Read("sessions", methodcaller("window_sessions", start=s, end=e))) for s, e in ranges],
        session_ratings=Read("session_ratings", methodcaller("session_ratings", since=since)),
        comment_candidates=Read("comment_candidates", methodcaller("comment_candidates")),
    )
    history = partial(_history_lane, since) if full else None
    return Plan(mode=mode, full=full, as_of=as_of, since=since, window=window, history=history)


def _history_lane(since: datetime, first_session_at: datetime | None) -> HistoryLane:
    chunks = history_chunks(first_session_at, since)
    first = chunks[0][0] if chunks else since
    return HistoryLane(
        rated=Read("rated_sessions", partial(Source.rated_sessions, start=first, end=since)),
        step_ratings=Read(
            "history_step_ratings", partial(Source.step_ratings, start=None, end=since, name="history_step_ratings")
        ),
        chunks=[
            ((s, e), Read("history_sessions", partial(Source.history_sessions, start=s, end=e))) for s, e in chunks
        ],
        history_ratings=Read("history_ratings", partial(Source.history_ratings, end=since)),
    )


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


def window_chunks(since: datetime, as_of: datetime) -> list[Range]:
    """[start, end) ranges of the lookback, WINDOW_CHUNK_DAYS whole UTC days each from `since`.

    The last range starts before as_of and has no end (None): sessions started after
    as_of are in every window.
    """
    starts = [since]
    while starts[-1] + timedelta(days=WINDOW_CHUNK_DAYS) < as_of:
        starts.append(starts[-1] + timedelta(days=WINDOW_CHUNK_DAYS))
    return list(zip(starts, [*starts[1:], None], strict=True))
