"""Progress of a long command (refresh, seed, demo): stage, rows and elapsed time.

On a terminal, one bar redrawn in place (at most ten times a second), and each finished
stage left above it as one line; elsewhere (a pipe, a log file, JSON logs) only that one
line per stage, as an INFO log record. The detail lines the ETL emits (one per query,
per chunk) become DEBUG records. Thread-safe: reads report from worker threads.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from etl.runs import RunRecord

log = logging.getLogger("flowmetrics.progress")

REDRAW_SECONDS = 0.1
BAR_WIDTH = 24


@dataclass(frozen=True)
class Event:
    """What a detail line says: the stage it belongs to and its rows (added, or the total so far)."""

    stage: str
    rows: int | None = None
    add: bool = False


Parser = Callable[[str], Event | None]

_EXTRACT = re.compile(r"^extract \S+: (\d+) rows")
_WRITTEN = re.compile(r"^(?:store written|publish): (\d+) rows")


def refresh_event(message: str) -> Event | None:
    """Lines of etl.extract.Source and etl.publish.StoreBuild."""
    if match := _EXTRACT.match(message):
        return Event("extract", int(match[1]), add=True)
    if match := _WRITTEN.match(message):
        return Event("publish", int(match[1]))
    return None


_SEED = re.compile(r"^(users|trees|sessions) (\d+)")
_RATINGS = re.compile(r"^session_ratings (\d+), step_ratings (\d+)")


def seed_event(message: str) -> Event | None:
    """Lines of etl.seed.seed."""
    if match := _SEED.match(message):
        return Event(match[1], int(match[2]))
    if match := _RATINGS.match(message):
        return Event("ratings", int(match[1]) + int(match[2]))
    if message.startswith("indexes"):
        return Event("indexes")
    return None


def report_refresh(bar: Progress, record: RunRecord) -> None:
    """A line per stage of a finished refresh, with the figures of its run record (those
    `refresh_runs` and `flowmetrics status` keep); the stages overlap, so each is its own time."""
    bar.say("extract", record.extract_rows, record.extract_seconds)
    bar.say("transform", record.transform_rows, record.transform_seconds)
    bar.say("publish", record.publish_rows, record.publish_seconds)


_active: Progress | None = None


def clear_bar() -> None:
    """Called before a log line is written: take the bar off the line (it comes back on the next update)."""
    bar = _active
    if bar is not None:
        bar.clear()


class Progress:
    """Use as a context manager; pass the instance as the ETL's `progress` callback."""

    def __init__(
        self,
        title: str,
        parse: Parser,
        *,
        stages: Sequence[str] = (),
        totals: dict[str, int] | None = None,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        stage_lines: bool = True,
    ) -> None:
        """With stage_lines=False a finished stage is only a DEBUG record: the caller reports
        the stages itself (`say`), with the figures it has at the end."""
        self.title, self.parse, self.stages, self.totals = title, parse, list(stages), dict(totals or {})
        self.stage_lines = stage_lines
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.clock = clock
        self.lines: list[str] = []
        self._lock = threading.RLock()
        self._stage: str | None = None
        self._rows = 0
        # Detail lines come when a step has finished: a stage runs from the previous stage's
        # last line to its own last line.
        self._stage_started = self._last_event = self._started = clock()
        self._drawn = False
        self._last_draw = 0.0

    def __enter__(self) -> Progress:
        global _active
        if self.interactive:
            _active = self
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        global _active
        with self._lock:
            if exc_type is None:
                self._end_stage()
            self._clear()
        if _active is self:
            _active = None

    def __call__(self, message: str) -> None:
        log.debug("%s", message)
        event = self.parse(message)
        if event is not None:
            self.update(event)

    def update(self, event: Event) -> None:
        with self._lock:
            if event.stage != self._stage:
                self._end_stage()
                self._stage, self._rows, self._stage_started = event.stage, 0, self._last_event
            if event.rows is not None:
                self._rows = self._rows + event.rows if event.add else event.rows
            self._last_event = self.clock()
            self._draw()

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def say(self, stage: str, rows: int | None, seconds: float | None) -> None:
        """One line for a finished stage, where the bar's own stage lines go."""
        shown = f"{rows:,} rows, " if rows else ""
        line = f"{self.title} {stage}: {shown}{seconds or 0:.1f} s"
        with self._lock:
            self.lines.append(line)
            if self.interactive:
                self._clear()
                self.stream.write(line + "\n")
                self.stream.flush()
            else:
                log.info("%s", line)

    def _end_stage(self) -> None:
        if self._stage is None:
            return
        stage, seconds = self._stage, self._last_event - self._stage_started
        self._stage = None
        if self.stage_lines:
            self.say(stage, self._rows, seconds)
        else:
            log.debug("%s %s: %d rows, %.1f s", self.title, stage, self._rows, seconds)

    def _fraction(self) -> float | None:
        stage = self._stage
        total = self.totals.get(stage or "")
        if total:
            return min(1.0, self._rows / total)
        if stage in self.stages:
            return (self.stages.index(stage) + 0.5) / len(self.stages)
        return None

    def _draw(self, force: bool = False) -> None:
        if not self.interactive or self._stage is None:
            return
        now = self.clock()
        if not force and self._drawn and now - self._last_draw < REDRAW_SECONDS:
            return
        fraction = self._fraction()
        # Without a known share done, dots run back and forth so the bar still shows it is alive.
        bar = "." * (int(now * 4) % (BAR_WIDTH + 1)) if fraction is None else "#" * round(fraction * BAR_WIDTH)
        total = self.totals.get(self._stage)
        rows = f"{self._rows:,}/{total:,} rows, " if total else f"{self._rows:,} rows, " if self._rows else ""
        text = f"{self.title} [{bar:<{BAR_WIDTH}}] {self._stage}: {rows}{now - self._started:.1f} s"
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self._drawn, self._last_draw = True, now

    def _clear(self) -> None:
        if self.interactive and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
