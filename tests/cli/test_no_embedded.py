"""Without DATABASE_URL, `refresh`, `seed` and `schedule` start no PostgreSQL: one `error:` line.

The embedded PostgreSQL is the demo's and the tests' alone. These run the real command in
a child process and then look at the process table for a postgres whose data folder is
under the test's folder.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from synthetic import embedded

CHILD_TIMEOUT = 120


def postgres_under(folder: Path) -> list[psutil.Process]:
    """Running processes of a PostgreSQL whose command line names a path under `folder`."""
    found = []
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.pid != os.getpid() and "postgres" in f"{process.info['name']} {cmdline}" and str(folder) in cmdline:
            found.append(process)
    return found


def run_cli(args: list[str], data: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env["METRICS_DB"] = str(data / "metrics.duckdb")
    try:
        return subprocess.run(
            [sys.executable, "-m", "jobs.cli", *args],
            env=env,
            cwd=cwd,  # no .env of the checkout
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`flowmetrics {' '.join(args)}` was still running after {CHILD_TIMEOUT} s: {exc.stderr!r}")


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    """The store's folder; whatever PostgreSQL is left under it after the test is stopped."""
    folder = tmp_path / "x"
    yield folder
    pgdata = folder / "postgres"
    if (pgdata / "postmaster.pid").exists():
        with contextlib.suppress(Exception):  # a stale pid file: then the processes below are all there is
            embedded.stop_embedded(pgdata)
    for process in postgres_under(tmp_path):  # only ever one that a command of this test left
        process.terminate()


COMMANDS = [
    ["refresh"],
    ["refresh", "--mode", "nightly"],
    ["seed", "--sessions", "100"],
    ["schedule"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_no_database_url_is_one_line_and_starts_no_postgres(args: list[str], data: Path, tmp_path: Path) -> None:
    result = run_cli(args, data, tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: DATABASE_URL is not set"), lines
    assert "flowmetrics demo" in lines[0]
    assert result.stdout == ""
    assert postgres_under(tmp_path) == []
    assert not (data / "postgres").exists(), "no cluster may be created for it"


@pytest.mark.slow
@pytest.mark.parametrize("args", [["refresh"], ["seed", "--sessions", "100"]], ids=["refresh", "seed"])
def test_a_stopped_demo_postgres_is_not_started_either(args: list[str], data: Path, tmp_path: Path) -> None:
    # What a demo that was stopped leaves: its cluster and database under the data folder.
    admin = embedded.start_embedded(data / "postgres", stop_at_exit=False)
    embedded.create_database(admin, prefix="left_by_demo")
    embedded.stop_embedded(data / "postgres")
    assert postgres_under(tmp_path) == []

    result = run_cli(args, data, tmp_path)
    assert result.returncode == 1, result.stderr
    assert [line[:32] for line in result.stderr.splitlines()] == ["error: DATABASE_URL is not set: "]
    assert postgres_under(tmp_path) == []
