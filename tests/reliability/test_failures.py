"""Failed refreshes: recorded with their step and error, the previous store still served;
transient source errors retried with backoff, and a source that comes back is used."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import duckdb
import pytest

from etl import database
from etl.errors import RefreshFailed, SourceError
from etl.runs import read_runs
from etl.store import resolve_store
from jobs.refresh import run_refresh
from tests.reliability.conftest import Published, make_config, make_env


def store_run_id(version: Path) -> str:
    """Open a store version read-only, as an analyst would, and read which run built it."""
    con = duckdb.connect(str(version), read_only=True)
    try:
        rows = con.sql("SELECT value FROM store_meta WHERE key = 'run_id'").fetchall()
        assert con.sql("SELECT count(*) FROM window_summary").fetchall()[0][0] > 0
    finally:
        con.close()
    return str(rows[0][0])


def building_files(store: Path) -> list[Path]:
    return sorted(store.parent.glob("*.building*"))


def break_source(published: Published, how: str) -> str:
    """The URL of a source broken in the named way."""
    if how == "missing-database":
        return database.with_database(published.url, "fm_no_such_database")
    table = {"dropped-table": "sessions", "dropped-ratings": "session_ratings"}[how]
    with database.connect(published.url) as conn:
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return published.url


@pytest.mark.parametrize(
    ("how", "mode", "step", "message"),
    [
        ("missing-database", "hourly", "connect", "does not exist"),
        ("dropped-table", "hourly", "extract", "sessions"),
        ("dropped-table", "nightly", "extract", "sessions"),
        # Read by both the window and the history (on its own thread and connection).
        ("dropped-ratings", "nightly", "extract", "session_ratings"),
    ],
    ids=["missing-database", "dropped-table", "dropped-table-nightly", "dropped-ratings-nightly"],
)
def test_a_failed_refresh_is_recorded_and_the_last_good_store_stays(
    published: Published, how: str, mode: str, step: str, message: str
) -> None:
    url = break_source(published, how)
    with pytest.raises(RefreshFailed) as failure:
        run_refresh(published.config, url, mode=mode, trigger="schedule")
    assert failure.value.step == step
    # The cause is the error that stopped the run, chained with `raise ... from`, not its text.
    assert failure.value.__cause__ is failure.value.cause and isinstance(failure.value.cause, SourceError)

    last = read_runs(published.config.runs_log)[-1]
    assert (last.status, last.failed_step, last.trigger) == ("failed", step, "schedule")
    assert last.error and message in last.error
    assert last.finished_at is not None and last.attempts == 1

    # Still published, still the same version, readable by a new reader; nothing left over.
    assert resolve_store(published.config.metrics_db) == published.version
    assert store_run_id(published.version) == published.run.run_id
    assert building_files(published.config.metrics_db) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_transient_errors_are_retried_with_backoff_then_recorded(store_path: Path) -> None:
    config = make_config(make_env(store_path, METRICS_REFRESH_RETRIES="2", METRICS_RETRY_BACKOFF_SECONDS="0.01"))
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        time.sleep(seconds)

    url = f"postgresql://flowmetrics:secret@127.0.0.1:{free_port()}/nowhere"  # nothing listens: refused
    with pytest.raises(RefreshFailed) as failure:
        run_refresh(config, url, mode="nightly", sleep=sleep)
    assert failure.value.step == "connect"
    assert delays == [0.01, 0.02]
    [run] = read_runs(config.runs_log)
    assert (run.status, run.failed_step, run.attempts) == ("failed", "connect", 3)
    assert run.error and "cannot reach PostgreSQL" in run.error and "secret" not in run.error
    assert not store_path.exists()


def test_a_source_that_comes_back_is_used_on_retry(source_db: str, store_path: Path, tmp_path: Path) -> None:
    parts = urlsplit(source_db)
    query = dict(parse_qsl(parts.query))
    if "host" not in query or not query["host"].startswith("/"):
        pytest.skip("needs the embedded PostgreSQL's unix socket (DATABASE_URL points at a TCP server)")
    # The source is reached through a socket folder that is empty at first ("server down"),
    # and the real server's socket appears there before the first retry ("server back").
    real_socket = next(Path(query["host"]).glob(".s.PGSQL.*[0-9]"))
    folder = tmp_path / "sock"
    folder.mkdir()
    url = urlunsplit(parts._replace(query=urlencode({**query, "host": str(folder)})))
    config = make_config(make_env(store_path, METRICS_REFRESH_RETRIES="3", METRICS_RETRY_BACKOFF_SECONDS="0.01"))

    def sleep(seconds: float) -> None:
        (folder / real_socket.name).symlink_to(real_socket)

    record = run_refresh(config, url, mode="nightly", sleep=sleep)
    assert (record.status, record.attempts) == ("success", 2)
    assert [(r.status, r.attempts) for r in read_runs(config.runs_log)] == [("success", 2)]
    assert store_run_id(resolve_store(store_path)) == record.run_id
