"""A completely full disk: the refresh stops at the lock file with one `error:` line and
exit 1, the failed run is recorded, the published store stays whole, and once space is
free again the next refresh succeeds.

The filesystem is a real one (a small tmpfs, filled to the last page): writing the pid into
the lock file is the first write a refresh makes, and it meets ENOSPC.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from etl.runs import read_runs, utcnow
from etl.store import resolve_store
from jobs.refresh import run_refresh
from tests.reliability.conftest import CHILD_TIMEOUT, make_config, make_env


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of this test's own (needs root, as the test machines run)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the filesystem has no page left; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def run_id_of(version: Path) -> str:
    con = duckdb.connect(str(version), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM window_summary").fetchall()[0][0] > 0
        return str(con.sql("SELECT value FROM store_meta WHERE key = 'run_id'").fetchall()[0][0])
    finally:
        con.close()


def test_a_full_disk_fails_at_the_lock_with_one_line_and_is_recorded(source_db: str, small_fs: Path) -> None:
    store = small_fs / "metrics.duckdb"
    env = make_env(store)
    config = make_config(env)
    first = run_refresh(config, source_db, mode="nightly", as_of=utcnow())
    version = resolve_store(store)
    filler = fill(small_fs)

    cli = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "refresh", "--mode", "hourly"],
        env={**os.environ, **env, "DATABASE_URL": source_db},
        cwd=small_fs.parent,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert cli.returncode == 1, cli.stderr
    assert cli.stderr.splitlines() == [
        f"error: refresh failed in lock: cannot write the refresh lock file {config.lock_path}: "
        "No space left on device (errno 28); free space on its filesystem or make its folder writable, "
        "then run again"
    ]
    runs = read_runs(config.runs_log)
    assert [(r.status, r.failed_step) for r in runs] == [("success", None), ("failed", "lock")]
    assert runs[-1].error and "No space left on device" in runs[-1].error
    assert runs[-1].finished_at is not None
    assert resolve_store(store) == version and run_id_of(version) == first.run_id

    filler.unlink()
    again = run_refresh(config, source_db, mode="hourly", as_of=utcnow())
    assert run_id_of(resolve_store(store)) == again.run_id
