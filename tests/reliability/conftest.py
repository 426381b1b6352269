"""Fixtures for the reliability tests: a seeded source, a published store, child processes.

Children are real `python` processes (sys.executable) whose output goes to files; each is
killed and reaped at teardown, so a failing test never leaves one running.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from etl.config import Config
from etl.runs import RunRecord, read_runs, utcnow
from etl.store import resolve_store
from jobs.refresh import run_refresh
from synthetic.seed import seed

CHILD_TIMEOUT = 30.0
"""No child process or wait in these tests may take longer than this."""


def make_env(store_path: Path, **settings: str) -> dict[str, str]:
    """The environ a test's Config (and its children's) is built from."""
    return {
        "METRICS_DB": str(store_path),
        "METRICS_REFRESH_RETRIES": "0",
        "METRICS_RETRY_BACKOFF_SECONDS": "0.01",
        **settings,
    }


def make_config(env: dict[str, str]) -> Config:
    return Config.from_env(env, dotenv=Path("/nonexistent"))


def recent_cron(now: datetime, minutes_ago: tuple[int, ...] = (3, 2, 1)) -> str:
    """Fires at those minutes of every hour: slots a few minutes ago, the next ~an hour away."""
    floor = now.replace(second=0, microsecond=0)
    minutes = sorted({(floor - timedelta(minutes=m)).minute for m in minutes_ago})
    return f"{','.join(map(str, minutes))} * * * *"


def latest_recent_slot(now: datetime, minutes_ago: tuple[int, ...] = (3, 2, 1)) -> datetime:
    """The last slot of recent_cron(now, minutes_ago) at or before now."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=min(minutes_ago))


def far_cron(now: datetime) -> str:
    """Fires once a day, twelve hours from now: never within a test, never within the grace."""
    return f"{now.minute} {(now.hour + 12) % 24} * * *"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = CHILD_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def scheduled_runs(config: Config) -> list[RunRecord]:
    return [r for r in read_runs(config.runs_log) if r.trigger == "schedule"]


@pytest.fixture
def source_db(fresh_db: str) -> str:
    """A fresh database with a small seeded source (dirty rows included), ending today."""
    seed(fresh_db, sessions=300, accounts=2, days=120, seed=13)
    return fresh_db


@dataclass
class Published:
    env: dict[str, str]
    config: Config
    url: str
    version: Path
    run: RunRecord


@pytest.fixture
def published(source_db: str, store_path: Path) -> Published:
    """A source and a store already published from it by a nightly refresh."""
    env = make_env(store_path)
    config = make_config(env)
    run = run_refresh(config, source_db, mode="nightly", as_of=utcnow())
    return Published(env, config, source_db, resolve_store(store_path), run)


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout: float = CHILD_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"child {self.pid} still running after {timeout:.0f} s:\n{self.stderr()}") from None


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start `python -c CODE ARGS...` (cwd: the test's folder, so no .env is read)."""
    children: list[Child] = []

    def start(code: str, *args: str, env: dict[str, str] | None = None) -> Child:
        stderr_path = tmp_path / f"child-{len(children)}.log"
        with stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", code, *args],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env=env,
            )
        child = Child(process, stderr_path)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.process.poll() is None:
            child.process.kill()
        child.process.wait(CHILD_TIMEOUT)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from jobs.lock import refresh_lock
with refresh_lock(Path(sys.argv[1])):
    time.sleep(float(sys.argv[2]))
"""
"""Child: hold the refresh lock (argv[1]) for argv[2] seconds."""

SCHEDULER = """
import json, logging, sys
from pathlib import Path
from etl.config import Config
from synthetic.seed import seed
from jobs.schedule import run_schedule
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
run_schedule(Config.from_env(json.loads(sys.argv[1]), dotenv=Path("/nonexistent")), sys.argv[2])
"""
"""Child: `run_schedule` with the environ in argv[1] (JSON) against the source URL argv[2]."""


def lock_holder(lock_path: Path) -> str:
    """The pid written in the lock file by its last holder ('' when none)."""
    try:
        return lock_path.read_text().strip()
    except FileNotFoundError:
        return ""


def cli_refresh(mode: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m jobs.cli --quiet refresh --mode MODE` in a child process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", "--quiet", "refresh", "--mode", mode],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
