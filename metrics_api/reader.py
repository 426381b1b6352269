"""The store reader: one read-only snapshot (metrics_api.snapshot) of the published store at
a time, swapped on publish.

A publish is noticed with two os.stat calls per request (METRICS_DB and its overlay are
symlinks to versioned files; a publish points one at a new inode). The overlay, when it
lies on the current base, is what serves: it holds every table the API reads (etl.store).
A request takes one Snapshot at its start and uses only it, so a response never mixes
two stores. A new version is warmed before it serves: the reader builds the previous
version's most used answers on it first (metrics_api.responses.build), so a publish does
not make every answer start uncached. A published file that changes on disk (truncated,
overwritten) is damaged: it answers 503 until a new version is published. Never writes a
store, never talks to PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from etl.errors import StoreUnavailable
from etl.store import Identity, identity_of, served_stats
from metrics_api import responses
from metrics_api.snapshot import DAMAGED, Snapshot, load_snapshot, size_and_mtime

RETRY_SECONDS = 5.0
"""How long a published version that would not open is left alone before trying again."""

log = logging.getLogger("flowmetrics.api")


class StoreReader:
    """Hands out the current snapshot, opening the new version when a refresh has published."""

    def __init__(self, metrics_db: Path) -> None:
        self.metrics_db = metrics_db
        self._snapshot: Snapshot | None = None
        self._loading = threading.Lock()
        # A published version that would not open: (its identity, why, when).
        self._failed: tuple[Identity, str, float] | None = None

    def _identity(self) -> Identity:
        try:
            base, overlay = served_stats(self.metrics_db)
        except FileNotFoundError:
            raise StoreUnavailable(
                f"no store at {self.metrics_db} yet: run `flowmetrics refresh --mode nightly`"
            ) from None
        identity = identity_of(base, overlay)
        snapshot = self._snapshot
        # A published version never changes: a new size or mtime on the same inode is damage.
        served = overlay if snapshot is not None and snapshot.serves_overlay else base
        if (
            snapshot is not None
            and served is not None
            and snapshot.identity == identity
            and snapshot.file_state != size_and_mtime(served)
        ):
            snapshot.damage("its size or modification time changed")
        return identity

    def damaged(self) -> str | None:
        """Why the version being served can no longer be read, if it cannot."""
        snapshot = self._snapshot
        return snapshot.damaged if snapshot is not None else None

    def failure(self, identity: Identity) -> str | None:
        """Why this published version could not be opened, if it failed in the last few seconds."""
        failed = self._failed
        if failed is None or failed[0] != identity or time.monotonic() - failed[2] > RETRY_SECONDS:
            return None
        return failed[1]

    def snapshot_nowait(self) -> Snapshot | None:
        """The current snapshot without blocking, or None when a version must be opened first.

        While another thread opens a new version, requests keep the old one: they never
        wait behind a load, and the old version is still a complete store. (dev, inode)
        cannot recur while our snapshot holds its file open, so equal means the same version.
        """
        identity = self._identity()
        snapshot = self._snapshot
        if snapshot is not None and (snapshot.identity == identity or self._loading.locked() or self.failure(identity)):
            if snapshot.damaged is not None:
                raise StoreUnavailable(DAMAGED)
            return snapshot
        return None

    def snapshot(self) -> Snapshot:
        """The current snapshot, opening the newly published version if needed (may block).

        A version that will not open leaves the last good snapshot in service (a 503 when
        there is none) and is retried after RETRY_SECONDS, not on every request.
        """
        current = self.snapshot_nowait()
        if current is not None:
            return current
        with self._loading:
            identity = self._identity()
            current = self._snapshot
            if current is not None and current.identity == identity:
                if current.damaged is not None:
                    raise StoreUnavailable(DAMAGED)
                return current
            error = self.failure(identity)
            if error is None:
                try:
                    loaded = load_snapshot(self.metrics_db)
                    self._failed = None
                except StoreUnavailable as exc:
                    error = str(exc)
                    log.warning("the newly published store cannot be opened: %s", error)
                    self._failed = (identity, error, time.monotonic())
                else:
                    self._warm(loaded, current)
                    self._snapshot = loaded
                    return loaded
            if current is None or current.damaged is not None:
                raise StoreUnavailable(error)
            return current

    def _warm(self, loaded: Snapshot, previous: Snapshot | None) -> None:
        if previous is None:
            return
        started = time.monotonic()
        try:
            warmed = loaded.warm_from(previous, responses.build)
        except Exception as exc:  # only a head start: a failure here must not fail the request
            log.warning("warming %s stopped: %s", loaded.path.name, exc)
            return
        log.info("%s warmed with %d answers in %.2f s", loaded.path.name, warmed, time.monotonic() - started)

    def problem(self) -> str | None:
        """Why the published version is not the one being served, if it would not open."""
        try:
            return self.failure(identity_of(*served_stats(self.metrics_db)))
        except FileNotFoundError:
            return None
