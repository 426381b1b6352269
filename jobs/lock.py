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

from etl.errors import RefreshFailed, RefreshLocked


@contextmanager
def refresh_lock(path: Path, *, wait_seconds: float = 0.0) -> Iterator[float]:
    """Hold the lock for the block, which gets the seconds spent waiting for it.

    Waits up to `wait_seconds`, then raises RefreshLocked. A lock file that cannot be
    created or written (a full disk, a read-only folder) raises RefreshFailed in step
    `lock`, before anything else is touched.
    """
    started = time.monotonic()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    try:
        deadline = started + wait_seconds
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
        waited = time.monotonic() - started
        try:
            # The pid only names the holder in messages; the flock is the lock. On a full
            # disk this write is the first thing that fails.
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise _unwritable(path, exc) from exc
        try:
            yield waited
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


def _unwritable(path: Path, exc: OSError) -> RefreshFailed:
    return RefreshFailed(
        "lock",
        OSError(
            f"cannot write the refresh lock file {path}: {exc.strerror} (errno {exc.errno}); "
            "free space on its filesystem or make its folder writable, then run again",
        ),
    )
