"""The refresh lock: one refresh at a time on this host, released when its holder dies.

An flock on a file beside the store; the kernel drops it when the process exits, however
it exits, so a crashed holder never blocks the next run.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from etl.errors import RefreshLocked


@contextmanager
def refresh_lock(path: Path, *, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the lock for the block; wait up to `wait_seconds`, then raise RefreshLocked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(path)
                    raise RefreshLocked(
                        f"another refresh is running{holder} (lock {path}); "
                        "this one is skipped: wait for it or use --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid else ""
