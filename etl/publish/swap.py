"""Publishing a finished store file: make it durable, point METRICS_DB at it, drop old versions.

Readers open METRICS_DB through its symlink; replacing the link is one atomic rename, so a
reader sees the old store or the new one, never a mix.
"""

from __future__ import annotations

import os
from pathlib import Path

from etl.store import version_prefix


def fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_symlink(metrics_db: Path, version: Path) -> None:
    link = metrics_db.with_name(f".{metrics_db.name}.link")
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    os.replace(link, metrics_db)
    fsync(metrics_db.parent)  # the rename is durable once its folder is


def remove_old_versions(metrics_db: Path, keep: set[Path | None]) -> None:
    """Delete versions older than the previous one; open readers keep their (unlinked) file."""
    kept = {p.name for p in keep if p is not None}
    for candidate in metrics_db.parent.glob(version_prefix(metrics_db) + "*"):
        if candidate.name not in kept and not candidate.name.endswith(".wal"):
            candidate.unlink(missing_ok=True)


def remove_overlay(overlay: Path) -> None:
    """Unlink an overlay and its versions (after a new base: the overlay lay on the old one)."""
    overlay.unlink(missing_ok=True)
    remove_old_versions(overlay, keep=set())
