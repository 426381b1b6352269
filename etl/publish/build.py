"""Write a complete new store file beside METRICS_DB, audit it, and publish it atomically.

Never writes the live file (DuckDB allows one writer or many readers, never both): the new
version gets its own name, and METRICS_DB is a symlink swapped with one rename. Never
computes metrics: it only writes the frames it is given (and, for an hourly refresh,
carries the older per-day history over from the previous store).

An overlay build (the incremental refresh's, `overlay=True`) is published the same way at
METRICS_DB.overlay, on top of the base store (etl.store): of the tables in UNIT_KEYS it
holds the rows of the keys it is given as replaced, every other table whole. Publishing a
base removes the overlay.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

from etl import statements
from etl.config import DEFAULT_STORAGE_VERSION
from etl.errors import AuditError, PublishError
from etl.previous import StoreDamaged
from etl.publish import append, carry, swap
from etl.publish.leftovers import remove_stale_builds
from etl.store import (
    HISTORY_TABLES,
    OVERLAY_VERSION,
    SCHEMA_VERSION,
    UNIT_KEYS,
    Current,
    create_store,
    current_store,
    overlay_path,
    version_prefix,
)

# Parts of a table are appended in batches of at least this many rows (or at publish).
# Each INSERT commits on its own, and DuckDB logs an append smaller than its row groups
# (122,880 rows) to the WAL and checkpoints the growing tables whenever the WAL passes
# 16 MiB: the per-day tables and sessions fact of 1M sessions, written in the refresh's
# 10-day parts, took 18.8 CPU-seconds so and 7.2 in batches of 500,000 rows.
BATCH_ROWS = 500_000


@dataclass(frozen=True)
class PublishResult:
    path: Path
    rows: int
    seconds: float
    bytes: int


def publish(
    metrics_db: Path,
    tables: Mapping[str, pl.DataFrame],
    *,
    meta: Mapping[str, str],
    history_before: date | None = None,
    progress: Callable[[str], None] | None = None,
    storage_version: str = DEFAULT_STORAGE_VERSION,
) -> PublishResult:
    """Build, audit and publish a new store from `tables` (one frame per store table).

    With `history_before`, rows of HISTORY_TABLES older than that day are kept from the
    current store (an hourly refresh recomputes only recent days). On any failure the new
    file is removed and the current store stays published.
    """
    with StoreBuild(
        metrics_db, history_before=history_before, progress=progress, storage_version=storage_version
    ) as build:
        for name, frame in tables.items():
            build.write(name, frame)
        return build.publish(meta)


class StoreBuild:
    """A new store file, written table by table (a table may come in parts), then published.

    Use as a context manager: `write` any number of times, then `publish` once. Leaving the
    block without publishing (an exception, a signal) removes the file; the current store
    stays published. With `history_before`, the build starts with the current store's rows
    of HISTORY_TABLES older than that day (etl.carry), and written rows older than it are
    dropped. The new file is written in `storage_version` (DuckDB's storage
    format: which clients can open it). Other threads may `write` too (each gets its own
    DuckDB connection; appends never conflict) but must be done before `publish`.
    """

    def __init__(
        self,
        metrics_db: Path,
        *,
        history_before: date | None = None,
        rebuilt_days: Collection[date] = (),
        overlay: bool = False,
        replaced: Mapping[str, pl.DataFrame] | None = None,
        progress: Callable[[str], None] | None = None,
        storage_version: str = DEFAULT_STORAGE_VERSION,
    ) -> None:
        self.base_db = metrics_db
        self.overlay = overlay
        self.metrics_db = overlay_path(metrics_db) if overlay else metrics_db
        self.rebuilt_days = sorted(set(rebuilt_days))
        self.replaced = {table: frame.select(UNIT_KEYS[table]).unique() for table, frame in (replaced or {}).items()}
        """An overlay's keys per table in UNIT_KEYS: those whose rows it writes again (none: the key is gone)."""
        if overlay:
            history_before = date.max  # an overlay holds the rebuilt days alone
        self.storage_version = storage_version
        self.history_before = history_before
        self.rows = 0
        self._say = progress or (lambda _msg: None)
        self._columns = statements.store_columns()
        self._written: set[str] = set()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._owner = threading.get_ident()
        self._cursors: dict[int, duckdb.DuckDBPyConnection] = {}  # of other writing threads
        self._batches: dict[tuple[int, str], list[pl.DataFrame]] = {}  # parts not yet appended, per thread
        self._lock = threading.Lock()
        self.seconds = 0.0  # spent writing: the stages around it overlap with other work
        folder = metrics_db.parent
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.version = folder / f"{version_prefix(self.metrics_db)}{stamp}"
        self.building = folder / f".{self.version.name}.building"
        self.previous: Path | None = None
        self.current: Current | None = None

    def __enter__(self) -> StoreBuild:
        started = time.perf_counter()
        folder = self.metrics_db.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PublishError(f"cannot create the store folder {folder}: {exc.strerror}; check METRICS_DB") from exc
        if not os.access(folder, os.W_OK):
            raise PublishError(f"the store folder {folder} is not writable; check METRICS_DB and its permissions")
        remove_stale_builds(self.metrics_db)
        self.current = current_store(self.base_db) if self.base_db.exists() else None
        if self.current is not None:
            self.previous = self.current.overlay if self.overlay else self.current.base
        if self.history_before is not None and self.current is None:
            raise PublishError(
                f"an hourly refresh needs a published store at {self.base_db}: run a nightly refresh first"
            )
        try:
            if self.current is not None and self.overlay:
                start = carry.start_overlay(self.building, self.current, self.storage_version, self.replaced)
                self._con = start.con
                self.rows += start.rows
                self._written.update(HISTORY_TABLES)
                self._say(f"overlay: {start.rows} rows of earlier changed days kept")
            elif self.current is not None and self.history_before is not None:
                start = carry.start_hourly(
                    self.building, self.current, self.history_before, self.storage_version, self.rebuilt_days
                )
                self._con = start.con
                self.rows += start.rows
                self._written.update(HISTORY_TABLES)
                how = "a copy of the previous file" if start.copied_file else "rows copied from the previous file"
                self._say(f"older history: {start.rows} rows, {how}")
            else:
                self._con = create_store(self.building, self.storage_version)
                self._con.execute(statements.read("store.sql"))
        except duckdb.Error as exc:
            self._discard()
            if self.current is not None and self.history_before is not None:
                raise StoreDamaged(f"{self.current.served.name} could not be carried over: {exc}") from exc
            raise PublishError(f"cannot create the new store {self.building}: {exc}") from exc
        except BaseException:
            self._discard()
            raise
        self.seconds += time.perf_counter() - started
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:  # not published: leave nothing behind
            self._discard()

    def write(self, name: str, frame: pl.DataFrame) -> int:
        """Append `frame` to store table `name`, sorted by its lookup key; returns its rows.

        Parts are batched (BATCH_ROWS): the frame may be appended with later parts of the
        same table from this thread, or at publish, so a write error may surface there.
        """
        if name not in self._columns or name == "store_meta":
            raise PublishError(f"{name} is not a store table (see etl/sql/store.sql)")
        started = time.perf_counter()
        if self.overlay and name in UNIT_KEYS:
            frame = of_keys(frame, self.replaced.get(name))
        elif self.history_before is not None and name in HISTORY_TABLES:
            frame = frame.filter((pl.col("day") >= self.history_before) | pl.col("day").is_in(self.rebuilt_days))
        missing = [c for c in self._columns[name] if c not in frame.columns]
        if missing:
            raise PublishError(f"frame for {name} lacks columns {missing}")
        key = (threading.get_ident(), name)
        with self._lock:
            batch = self._batches.setdefault(key, [])
            batch.append(frame.select(self._columns[name]))
            full = sum(part.height for part in batch) >= BATCH_ROWS
            self._written.add(name)
            self.rows += frame.height
        if full:
            self._append(self._thread_connection(), key)
        with self._lock:
            self.seconds += time.perf_counter() - started
        return frame.height

    def _append(self, con: duckdb.DuckDBPyConnection, key: tuple[int, str]) -> None:
        with self._lock:
            parts = self._batches.pop(key, [])
        if not parts:
            return
        name = key[1]
        try:
            append.insert(con, name, pl.concat(parts, how="vertical_relaxed"), self._columns[name])
        except duckdb.Error as exc:
            raise PublishError(f"writing {name} into the new store failed: {exc}") from exc

    def publish(self, meta: Mapping[str, str]) -> PublishResult:
        """Audit, make durable and atomically publish the new store."""
        started = time.perf_counter()
        con = self._connection()
        self._close_cursors()
        for key in sorted(self._batches, key=lambda k: k[1]):  # the other threads are done
            self._append(con, key)
        missing = set(self._columns) - self._written - {"store_meta"}
        if missing:
            raise PublishError(f"no data given for store tables: {', '.join(sorted(missing))}")
        meta = dict(meta)
        if self.overlay and self.current is not None:
            meta["base_version"] = self.current.base.name
            meta["overlay_version"] = OVERLAY_VERSION
            meta["replaced_keys"] = str(sum(frame.height for frame in self.replaced.values()))
        store_meta = pl.DataFrame({"key": ["schema_version", *meta], "value": [SCHEMA_VERSION, *meta.values()]})
        try:
            self.rows += append.insert(con, "store_meta", store_meta, self._columns["store_meta"])
            _audit(con, whole=not self.overlay)
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise PublishError(f"writing the new store failed: {exc}") from exc
        self._say(f"store written: {self.rows} rows")
        con.close()
        self._con = None
        try:
            swap.fsync(self.building)
            os.rename(self.building, self.version)
            swap.swap_symlink(self.metrics_db, self.version)
        except BaseException:
            self._remove_files()
            raise
        swap.remove_old_versions(self.metrics_db, keep={self.version, self.previous})
        if not self.overlay:
            swap.remove_overlay(overlay_path(self.metrics_db))  # it lay on the replaced base
        self.seconds += time.perf_counter() - started
        return PublishResult(self.version, self.rows, self.seconds, self.version.stat().st_size)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise PublishError("the store build is not open (use it as a context manager, publish once)")
        return self._con

    def _thread_connection(self) -> duckdb.DuckDBPyConnection:
        con = self._connection()
        thread = threading.get_ident()
        if thread == self._owner:
            return con
        with self._lock:
            if thread not in self._cursors:
                self._cursors[thread] = con.cursor()
            return self._cursors[thread]

    def _close_cursors(self) -> None:
        with self._lock:
            cursors, self._cursors = list(self._cursors.values()), {}
        for cursor in cursors:
            with suppress(duckdb.Error):
                cursor.close()

    def _discard(self) -> None:
        self._batches.clear()
        self._close_cursors()
        if self._con is not None:
            # Closing a connection that failed mid-write may raise too; the file goes anyway.
            with suppress(duckdb.Error):
                self._con.close()
            self._con = None
        self._remove_files()

    def _remove_files(self) -> None:
        for leftover in (self.building, Path(str(self.building) + ".wal")):
            leftover.unlink(missing_ok=True)


def of_keys(frame: pl.DataFrame, keys: pl.DataFrame | None) -> pl.DataFrame:
    """The rows of `frame` whose key is one of `keys` (a frame of the key columns; None: no rows)."""
    if keys is None:
        return frame.clear()
    columns = keys.columns
    return frame.join(keys, left_on=[pl.col(c).cast(keys.schema[c]) for c in columns], right_on=columns, how="semi")


def _audit(con: duckdb.DuckDBPyConnection, *, whole: bool) -> None:
    """Every audit of a whole store; of an overlay, those that need no more than its days.

    One query for all of them (DuckDB runs the parts side by side).
    """
    audits = statements.audits(whole=whole)
    counted = " UNION ALL ".join(
        f"SELECT {i} AS audit, count(*) AS offending FROM ({query})" for i, (_, query) in enumerate(audits)
    )
    found = dict(con.sql(counted).fetchall())
    failed = [f"{name} ({found[i]} rows)" for i, (name, _) in enumerate(audits) if found[i]]
    if failed:
        raise AuditError(f"the new store failed audits: {', '.join(failed)}; the previous store stays published")
