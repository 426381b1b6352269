"""SIGKILL of a real `flowmetrics refresh` at several moments of its build: the published
store stays whole, and the next successful refresh leaves no build file behind (it holds
the lock, so every other build it finds was abandoned)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import pytest

from etl.runs import read_runs
from etl.store import resolve_store
from tests.reliability.conftest import Child, Published, cli_refresh, wait_for

SLOW_REFRESH = """
import json, sys, time
import etl.publish.append, etl.publish.swap
from jobs.cli import main

def marked(name, call):
    # A real store takes seconds to build: each write waits a little after saying where
    # it is, so a kill lands at that moment.
    def slowed(*args, **kwargs):
        print(f"at {name}", file=sys.stderr, flush=True)
        time.sleep(0.2)
        return call(*args, **kwargs)
    return slowed

etl.publish.append.insert = marked("insert", etl.publish.append.insert)
etl.publish.swap.fsync = marked("fsync", etl.publish.swap.fsync)
sys.exit(main(["refresh", "--mode", sys.argv[1]], environ=json.loads(sys.argv[2])))
"""
"""Child: the real `flowmetrics refresh` (CLI entry), its store writes announced and slowed."""

# (mode, marker, how many times it has been printed): early, mid-build (with a WAL),
# and after the checkpoint, just before the rename that would publish it.
MOMENTS = [
    ("nightly", "at insert", 1),
    ("nightly", "at insert", 6),
    ("hourly", "at insert", 2),
    ("hourly", "at fsync", 1),
]


def leftovers(store: Path) -> list[str]:
    """Files beside the store that are neither a published version nor the lock and histories."""
    folder = store.parent
    versions = {resolve_store(store).name}
    expected = {store.name, f"{store.name}.lock", f"{store.name}.runs.jsonl", f"{store.name}.quality.jsonl"}
    names = sorted(p.name for p in folder.iterdir())
    # One older version is kept on purpose (readers that opened it keep working).
    older = [n for n in names if n.startswith(f"{store.name}.v") and n not in versions]
    return [n for n in names if n not in expected | versions and n not in older[-1:]]


def reached(child: Child, marker: str, times: int) -> bool:
    return child.stderr().count(marker) >= times


def assert_whole(version: Path, run_id: str) -> None:
    con = duckdb.connect(str(version), read_only=True)
    try:
        assert con.sql("SELECT value FROM store_meta WHERE key = 'run_id'").fetchall() == [(run_id,)]
        assert con.sql("SELECT count(*) FROM window_summary").fetchall()[0][0] > 0
    finally:
        con.close()


@pytest.mark.slow
def test_killed_refreshes_leave_nothing_after_the_next_success(
    published: Published, spawn: Callable[..., Child]
) -> None:
    store = published.config.metrics_db
    env = {**published.env, "DATABASE_URL": published.url}
    for mode, marker, times in MOMENTS:
        child = spawn(SLOW_REFRESH, mode, json.dumps(env))
        wait_for(partial(reached, child, marker, times), f"{mode} refresh {marker} #{times}")
        child.process.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        # The kill landed mid-build: its file is there, the published store is untouched.
        assert any(".building" in name for name in leftovers(store)), (mode, marker, leftovers(store))
        assert resolve_store(store) == published.version
        assert_whole(published.version, published.run.run_id)

    cli = cli_refresh("hourly", env, store.parent.parent)
    assert cli.returncode == 0, cli.stderr
    last = read_runs(published.config.runs_log)[-1]
    assert last.status == "success"
    assert_whole(resolve_store(store), last.run_id)
    assert leftovers(store) == []
