"""Tests of etl.publish.leftovers: what a killed refresh leaves beside METRICS_DB is removed,
a build still in progress and every published version are not."""

from __future__ import annotations

import os
import time
from pathlib import Path

from etl.publish.leftovers import STALE_BUILD_SECONDS, remove_abandoned_builds, remove_stale_builds

HOUR = 3600.0


def aged(path: Path, seconds: float) -> Path:
    """Set the path's own mtime (a symlink's too) `seconds` in the past."""
    at = time.time() - seconds
    os.utime(path, (at, at), follow_symlinks=False)
    return path


def build(folder: Path, stamp: str, *, age: float, wal: float | None = None, spill: float | None = None) -> Path:
    """A killed build's file, `age` seconds old, with its WAL and spill folder when given their age."""
    main = folder / f".metrics.duckdb.v{stamp}.building"
    main.write_text("half a store")
    if wal is not None:
        log = main.with_name(main.name + ".wal")
        log.write_text("log")
        aged(log, wal)
    if spill is not None:
        tmp = main.with_name(main.name + ".tmp")
        tmp.mkdir()
        (tmp / "spill.bin").write_text("spilled")
        aged(tmp, spill)
    return aged(main, age)


def published(folder: Path) -> list[Path]:
    """A published store, all of it a month old: two versions, the symlink, a WAL, the lock
    and the run history."""
    versions = [folder / "metrics.duckdb.v20261101T000000000000Z", folder / "metrics.duckdb.v20261102T000000000000Z"]
    others = [folder / "metrics.duckdb.lock", folder / "metrics.duckdb.runs.jsonl", folder / f"{versions[1].name}.wal"]
    for path in [*versions, *others]:
        path.write_text("")
    (folder / "metrics.duckdb").symlink_to(versions[1].name)
    kept = [*versions, folder / "metrics.duckdb", *others]
    for path in kept:
        aged(path, 30 * 24 * HOUR)
    return kept


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_build_idle_for_an_hour_is_removed_with_its_wal_and_spill_folder(tmp_path: Path) -> None:
    kept = published(tmp_path)
    stale = build(tmp_path, "20261103T000000000000Z", age=2 * HOUR, wal=2 * HOUR, spill=2 * HOUR)
    removed = remove_stale_builds(tmp_path / "metrics.duckdb")
    parts = [stale, stale.with_name(stale.name + ".wal"), stale.with_name(stale.name + ".tmp")]
    assert sorted(removed) == sorted(parts)
    assert names(tmp_path) == sorted(p.name for p in kept)


def test_a_build_still_writing_is_kept_even_when_its_file_is_old(tmp_path: Path) -> None:
    # DuckDB appends to the WAL and checkpoints into the file now and then: the newest part counts.
    metrics_db = tmp_path / "metrics.duckdb"
    fresh = build(tmp_path, "20261103T000000000000Z", age=5 * HOUR, wal=60)
    spilling = build(tmp_path, "20261104T000000000000Z", age=5 * HOUR, spill=60)
    young = build(tmp_path, "20261105T000000000000Z", age=STALE_BUILD_SECONDS - 60)
    assert remove_stale_builds(metrics_db) == []
    assert all(p.exists() for p in (fresh, spilling, young))
    assert remove_stale_builds(metrics_db, older_than_seconds=30) != []
    assert not fresh.exists() and not spilling.exists() and not young.exists()


def test_only_this_stores_builds_are_touched(tmp_path: Path) -> None:
    other = tmp_path / ".other.duckdb.v20261103T000000000000Z.building"
    other.write_text("another store's build")
    aged(other, 5 * HOUR)
    look_alike = tmp_path / "metrics.duckdb.notes.building"  # no leading dot: not a build's name
    look_alike.write_text("")
    aged(look_alike, 5 * HOUR)
    assert remove_stale_builds(tmp_path / "metrics.duckdb") == []
    assert remove_abandoned_builds(tmp_path / "metrics.duckdb") == []
    assert other.exists() and look_alike.exists()


def test_a_wal_or_spill_folder_left_without_its_build_file_is_removed(tmp_path: Path) -> None:
    # Killed while DuckDB was removing the build: only the WAL (or the spill folder) is left.
    stale = build(tmp_path, "20261103T000000000000Z", age=2 * HOUR, wal=2 * HOUR, spill=2 * HOUR)
    stale.unlink()
    removed = remove_stale_builds(tmp_path / "metrics.duckdb")
    assert sorted(p.name for p in removed) == sorted([stale.name + ".wal", stale.name + ".tmp"])
    assert names(tmp_path) == []


def test_the_stale_sweep_leaves_a_half_swapped_link(tmp_path: Path) -> None:
    # Without the lock a `.link` may be another refresh's swap in progress.
    link = tmp_path / ".metrics.duckdb.link"
    link.symlink_to("metrics.duckdb.v20261103T000000000000Z")
    aged(link, 5 * HOUR)
    assert remove_stale_builds(tmp_path / "metrics.duckdb") == []
    assert link.is_symlink()


def test_under_the_lock_every_build_and_the_half_swapped_link_go_whatever_their_age(tmp_path: Path) -> None:
    kept = published(tmp_path)
    young = build(tmp_path, "20261103T000000000000Z", age=0, wal=0, spill=0)
    old = build(tmp_path, "20261104T000000000000Z", age=5 * HOUR)
    link = tmp_path / ".metrics.duckdb.link"
    link.symlink_to(young.name)  # dangling once the build is gone: still removed
    removed = remove_abandoned_builds(tmp_path / "metrics.duckdb")
    expected = [young, young.with_name(young.name + ".wal"), young.with_name(young.name + ".tmp"), old, link]
    assert sorted(removed) == sorted(expected)
    assert names(tmp_path) == sorted(p.name for p in kept)
    assert (tmp_path / "metrics.duckdb").resolve() == kept[1]


def test_nothing_to_remove_in_an_empty_or_missing_folder(tmp_path: Path) -> None:
    assert remove_stale_builds(tmp_path / "metrics.duckdb") == []
    assert remove_abandoned_builds(tmp_path / "metrics.duckdb") == []
    assert remove_stale_builds(tmp_path / "absent" / "metrics.duckdb") == []
