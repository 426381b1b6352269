"""Files a killed refresh leaves beside METRICS_DB, and their removal.

A failed build removes its own file; only a process killed outright (SIGKILL, the OOM
killer, a second SIGTERM to `schedule`) leaves `.<name>.v<stamp>.building` (with its WAL
and spill folder) or a half-swapped `.<name>.link`. Never touches a published version.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from etl.store import version_prefix

STALE_BUILD_SECONDS = 3600.0


def remove_stale_builds(metrics_db: Path, *, older_than_seconds: float = STALE_BUILD_SECONDS) -> list[Path]:
    """Delete build files left by a killed refresh (untouched for an hour); returns them.

    For builds made without the refresh lock: a build in progress keeps writing its file or
    its WAL, so one idle for an hour is abandoned. Under the lock, remove_abandoned_builds
    removes them all at once.
    """
    cutoff = time.time() - older_than_seconds
    removed = []
    for build in _builds(metrics_db):
        parts = _build_parts(build)
        if parts and max(p.lstat().st_mtime for p in parts) < cutoff:
            removed += _remove(parts)
    return removed


def remove_abandoned_builds(metrics_db: Path) -> list[Path]:
    """Delete every build file and half-swapped symlink beside METRICS_DB; returns them.

    Call only while holding the refresh lock: then no other build is in progress, and
    whatever is there was left by a refresh killed outright (SIGKILL, the OOM killer).
    """
    removed = []
    for build in _builds(metrics_db):
        removed += _remove(_build_parts(build))
    link = metrics_db.with_name(f".{metrics_db.name}.link")
    if link.is_symlink():
        removed += _remove([link])
    return removed


def _builds(metrics_db: Path) -> set[Path]:
    """Build files (`.<name>.v<stamp>.building`) beside METRICS_DB, named by their main file."""
    pattern = f".{version_prefix(metrics_db)}*.building*"
    return {
        p.with_name(p.name[: p.name.index(".building") + len(".building")]) for p in metrics_db.parent.glob(pattern)
    }


def _build_parts(build: Path) -> list[Path]:
    """The build file, its WAL and DuckDB's spill folder, those that exist."""
    parts = (build, build.with_name(build.name + ".wal"), build.with_name(build.name + ".tmp"))
    return [p for p in parts if p.exists() or p.is_symlink()]


def _remove(paths: list[Path]) -> list[Path]:
    """Delete what can be deleted (a leftover is no reason to fail a refresh); returns those."""
    removed = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            continue
        removed.append(path)
    return removed
