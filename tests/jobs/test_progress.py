"""Progress: a bar on a terminal, one line per stage elsewhere; the CLI's seed and refresh through it."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.progress import Event, Progress, refresh_event, seed_event


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ("extract sessions: 1563 rows in 0.01 s", Event("extract", 1563, add=True)),
        ("extract users: 0 rows in 0.00 s", Event("extract", 0, add=True)),
        ("store written: 16211 rows", Event("publish", 16211)),
        ("publish: 16211 rows, 1.2 MB in 0.10 s -> metrics.duckdb.v1", Event("publish", 16211)),
        ("no store yet", None),
    ],
    ids=["extract", "extract-empty", "written", "published", "other"],
)
def test_refresh_lines(message: str, event: Event | None) -> None:
    assert refresh_event(message) == event


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ("users 23", Event("users", 23)),
        ("sessions 20000 (1.2 s)", Event("sessions", 20000)),
        ("session_ratings 10, step_ratings 5", Event("ratings", 15)),
        ("indexes, order and statistics (0.3 s)", Event("indexes")),
        ("done (1.0 s)", None),
    ],
    ids=["users", "sessions", "ratings", "indexes", "done"],
)
def test_seed_lines(message: str, event: Event | None) -> None:
    assert seed_event(message) == event


def test_one_line_per_stage_when_not_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    clock, stream = Clock(), io.StringIO()
    caplog.set_level(logging.DEBUG, logger="flowmetrics.progress")
    with Progress("refresh", refresh_event, stream=stream, clock=clock) as bar:
        clock.now += 1.0
        bar("extract users: 10 rows in 0.01 s")
        clock.now += 2.0
        bar("extract sessions: 90 rows in 0.01 s")
        clock.now += 0.5
        bar("store written: 40 rows")
        clock.now += 0.25
        bar("publish: 40 rows, 0.1 MB in 0.70 s -> x")
    assert stream.getvalue() == ""  # nothing drawn
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info == ["refresh extract: 100 rows, 3.0 s", "refresh publish: 40 rows, 0.8 s"]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug[0] == "extract users: 10 rows in 0.01 s" and len(debug) == 4


def test_stages_said_by_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    clock, tty = Clock(), Tty()
    caplog.set_level(logging.DEBUG, logger="flowmetrics.progress")
    with Progress("refresh", refresh_event, stream=tty, clock=clock, stage_lines=False) as bar:
        clock.now += 1.0
        bar("extract sessions: 90 rows in 0.01 s")
        clock.now += 1.0
        bar("store written: 40 rows")
    bar.say("extract", 90, 0.31)
    bar.say("publish", 40, 1.04)
    # Only the caller's lines stay on the terminal; the bar's own stage times are debug records.
    assert [line.split("\x1b[K")[-1] for line in tty.getvalue().split("\n")[:-1]] == [
        "refresh extract: 90 rows, 0.3 s",
        "refresh publish: 40 rows, 1.0 s",
    ]
    assert bar.lines == ["refresh extract: 90 rows, 0.3 s", "refresh publish: 40 rows, 1.0 s"]
    assert not [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG][-2:] == [
        "refresh extract: 90 rows, 1.0 s",
        "refresh publish: 40 rows, 1.0 s",
    ]


def test_a_bar_on_a_terminal() -> None:
    clock, stream = Clock(), Tty()
    with Progress(
        "seed", seed_event, stages=("users", "sessions"), totals={"sessions": 1000}, stream=stream, clock=clock
    ) as bar:
        clock.now += 1
        bar("users 5")
        clock.now += 1
        bar("sessions 500 (1.0 s)")
        drawn = stream.getvalue()
    assert "\r\x1b[Kseed [############            ] sessions: 500/1,000 rows, 2.0 s" in drawn
    assert "seed users: 5 rows, 1.0 s\n" in drawn  # the finished stage stays above the bar
    assert stream.getvalue().endswith("seed sessions: 500 rows, 1.0 s\n")


@pytest.fixture
def cli_env(fresh_db: str, store_path: Path) -> Iterator[dict[str, str]]:
    yield {"DATABASE_URL": fresh_db, "METRICS_DB": str(store_path), "METRICS_JWT_SECRET": "x" * 64}


def test_seed_and_refresh_print_a_line_per_stage(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", "--sessions", "1500", "--days", "40"], cli_env) == 0
    err = capsys.readouterr().err
    stages = re.findall(r" INFO    (seed \w+): ", err)
    assert stages == ["seed users", "seed trees", "seed sessions", "seed ratings", "seed indexes"]
    assert "seed sessions: 1,500 rows" in err

    assert main(["refresh", "--mode", "nightly"], cli_env) == 0
    out, err = capsys.readouterr()
    assert out.startswith("refresh nightly ok:")
    assert "extract sessions:" not in err  # per-query lines are debug now
    stages = re.findall(r" INFO    (refresh \w+): [\d,]+ rows", err)
    assert stages == ["refresh extract", "refresh transform", "refresh publish"]  # from the run record, once
