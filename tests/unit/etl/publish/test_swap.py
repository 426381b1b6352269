"""Tests of etl.publish.swap: the symlink swap is atomic and durable, old versions go, and
what a reader holds open stays readable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from etl.publish import swap

SWAPS = 1000
SIZE = 256 * 1024
"""Each version is larger than one read of the page cache, so a torn read would show."""


def version(folder: Path, n: int) -> Path:
    """A version file of SIZE bytes, all of them the byte `n`."""
    path = folder / f"metrics.duckdb.v2026112{n}T000000000000Z"
    path.write_bytes(bytes([n]) * SIZE)
    return path


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_path_becomes_a_relative_symlink_to_the_version(tmp_path: Path) -> None:
    metrics_db = tmp_path / "metrics.duckdb"
    first, second = version(tmp_path, 1), version(tmp_path, 2)
    swap.swap_symlink(metrics_db, first)
    assert os.readlink(metrics_db) == first.name  # the folder can move: the link stays valid
    swap.swap_symlink(metrics_db, second)
    assert metrics_db.resolve() == second
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["metrics.duckdb", first.name, second.name])


def test_a_link_left_half_swapped_is_replaced(tmp_path: Path) -> None:
    metrics_db = tmp_path / "metrics.duckdb"
    stale = tmp_path / ".metrics.duckdb.link"
    stale.symlink_to("metrics.duckdb.v20200101T000000000000Z")  # a killed swap's, dangling
    swap.swap_symlink(metrics_db, version(tmp_path, 1))
    assert not stale.is_symlink()
    assert metrics_db.read_bytes() == bytes([1]) * SIZE


READER = """
import json, sys
from pathlib import Path

metrics_db, stop, size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
seen, problems = {}, []
print("reading", flush=True)
while not stop.exists() and not problems:
    try:
        with open(metrics_db, "rb") as f:  # resolves the path, as DuckDB's open does
            data = f.read()
    except OSError as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
        break
    if len(data) != size or data.count(data[:1]) != size:
        problems.append(f"a torn read: {len(data)} bytes starting with {data[:1]!r}")
    seen[data[0]] = seen.get(data[0], 0) + 1
print(json.dumps({"seen": seen, "problems": problems}))
"""


def test_a_reader_during_many_swaps_always_gets_one_whole_version(tmp_path: Path) -> None:
    # The reader is another process: it runs while the swap is between its system calls.
    metrics_db = tmp_path / "metrics.duckdb"
    versions = [version(tmp_path, n) for n in (1, 2, 3)]
    swap.swap_symlink(metrics_db, versions[0])
    stop = tmp_path / "stop"
    args = [sys.executable, "-c", READER, str(metrics_db), str(stop), str(SIZE)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as reader:
        assert reader.stdout is not None
        assert reader.stdout.readline() == "reading\n"
        try:
            for i in range(SWAPS):
                swap.swap_symlink(metrics_db, versions[i % 3])
        finally:
            stop.touch()
        result = json.loads(reader.stdout.read())
    assert result["problems"] == []
    assert len(result["seen"]) > 1, "the reader never read across a swap"


def test_the_swap_is_made_durable_by_syncing_the_folder_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Path, dst: Path) -> None:
        real_replace(src, dst)
        events.append(("replace", str(dst)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    metrics_db = tmp_path / "metrics.duckdb"
    swap.swap_symlink(metrics_db, version(tmp_path, 1))
    assert events == [("replace", str(metrics_db)), ("fsync", str(tmp_path))]


def test_fsync_flushes_a_file_or_a_folder_and_never_leaks_its_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = open_fds()
    swap.fsync(tmp_path)
    swap.fsync(version(tmp_path, 1))
    assert open_fds() == before
    with pytest.raises(FileNotFoundError):
        swap.fsync(tmp_path / "absent")

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError, match="Input/output error"):
        swap.fsync(tmp_path)
    assert open_fds() == before


def test_old_versions_are_removed_but_the_kept_ones_their_wal_and_other_files(tmp_path: Path) -> None:
    metrics_db = tmp_path / "metrics.duckdb"
    old, previous, current = (version(tmp_path, n) for n in (1, 2, 3))
    swap.swap_symlink(metrics_db, current)
    others = [tmp_path / name for name in ("metrics.duckdb.lock", "metrics.duckdb.runs.jsonl", "other.duckdb.v1")]
    wal = tmp_path / f"{old.name}.wal"
    building = tmp_path / f".{old.name}.building"
    for path in [*others, wal, building]:
        path.write_text("x")
    swap.remove_old_versions(metrics_db, keep={current, previous, None})
    assert not old.exists()
    assert all(p.exists() for p in [current, previous, wal, building, *others])
    assert metrics_db.resolve() == current


def test_a_removed_version_stays_readable_to_a_connection_holding_it(tmp_path: Path) -> None:
    metrics_db = tmp_path / "metrics.duckdb"
    first = tmp_path / "metrics.duckdb.v20261101T000000000000Z"
    with duckdb.connect(str(first)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS n FROM range(100000)")
    swap.swap_symlink(metrics_db, first)
    reader = duckdb.connect(str(metrics_db.resolve()), read_only=True)
    try:
        swap.swap_symlink(metrics_db, version(tmp_path, 2))
        swap.remove_old_versions(metrics_db, keep={metrics_db.resolve()})
        assert not first.exists()
        assert reader.sql("SELECT count(*), sum(n) FROM t").fetchall() == [(100000, 4999950000)]
    finally:
        reader.close()
