"""The store reader: one read-only snapshot of the published store at a time, swapped on publish.

A publish is noticed with one os.stat per request (METRICS_DB is a symlink to a versioned
file; a publish points it at a new inode). A request takes one Snapshot at its start and
uses only it, so a response never mixes two stores. A snapshot's connection is closed
when the last request holding it lets go (CPython frees it then), never under a request.
Never writes a store, never talks to PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import duckdb
from pydantic import TypeAdapter

from etl.errors import StoreUnavailable
from etl.store import SCHEMA_VERSION, open_store, store_identity

CACHE_ENTRIES = 4096
"""Rendered bodies kept per snapshot; a few KB each, so tens of MB at most."""
RETRY_SECONDS = 5.0
"""How long a published version that would not open is left alone before trying again."""

_DATETIME = TypeAdapter(datetime)


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    account_id: str
    is_active: bool
    is_team_admin: bool
    is_super_admin: bool


@dataclass(frozen=True, slots=True)
class Tree:
    tree_id: str
    account_id: str
    name: str


Row = tuple[Any, ...]


class StoreQueries:
    """The API's lookups, one method per store table it reads; parameterised, fully fetched.

    Each filters on the table's sort key (publish writes rows sorted by it), so DuckDB's
    zone maps skip most row groups.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor

    def _rows(self, query: str, params: list[str]) -> list[Row]:
        # fetchall: an unfinished fetch would block this cursor's connection.
        return self._cursor.execute(query, params).fetchall()

    def window_summary(self, period: str, scope: str, scope_id: str, engineer_id: str = "") -> Row | None:
        rows = self._rows(
            "SELECT total_sessions, completed_sessions, completion_rate, median_duration_minutes, "
            "active_engineers, resolved, escalated, workaround, unresolved FROM window_summary "
            "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ?",
            [period, scope, scope_id, engineer_id],
        )
        return rows[0] if rows else None

    def window_time_series(self, period: str, scope: str, scope_id: str, engineer_id: str = "") -> list[Row]:
        return self._rows(
            "SELECT day, sessions, resolved, escalated, workaround, unresolved FROM window_time_series "
            "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ? ORDER BY day",
            [period, scope, scope_id, engineer_id],
        )

    def window_top_flows(self, period: str, scope: str, scope_id: str) -> list[Row]:
        return self._rows(
            "SELECT tree_id, tree_name, sessions, completion_rate, median_duration_minutes FROM window_top_flows "
            "WHERE period = ? AND scope = ? AND scope_id = ? ORDER BY rank",
            [period, scope, scope_id],
        )

    def window_top_engineers(self, period: str, account_id: str) -> list[Row]:
        return self._rows(
            "SELECT user_id, name, sessions, completion_rate, median_duration_minutes FROM window_top_engineers "
            "WHERE period = ? AND scope = 'account' AND scope_id = ? ORDER BY rank",
            [period, account_id],
        )

    def window_step_feedback(self, period: str, tree_id: str) -> list[Row]:
        # The shown order needs the rounded rate: metrics_api.responses.step_feedback sorts.
        return self._rows(
            "SELECT node_id, node_title, visits, dropoffs, dropoff_rate, helpful_yes, helpful_no, helpful_rate "
            "FROM window_step_feedback WHERE period = ? AND tree_id = ?",
            [period, tree_id],
        )

    def window_ratings(self, period: str, tree_id: str) -> Row | None:
        rows = self._rows(
            "SELECT avg_csat, total_ratings FROM window_ratings WHERE period = ? AND tree_id = ?", [period, tree_id]
        )
        return rows[0] if rows else None

    def recent_comments(self, tree_id: str) -> list[Row]:
        return self._rows(
            "SELECT rating, comment, created_at FROM recent_comments WHERE tree_id = ? ORDER BY rank", [tree_id]
        )


class Snapshot:
    """One published store version: its connection, dimensions in memory, a bytes cache."""

    def __init__(
        self,
        path: Path,
        identity: tuple[int, int],
        con: duckdb.DuckDBPyConnection,
        users: dict[str, User],
        trees: dict[str, Tree],
        meta: dict[str, str],
        last_run: dict[str, Any] | None,
    ) -> None:
        self.path = path
        self.identity = identity
        self.users = users
        self.trees = trees
        self.meta = meta
        self.last_run = last_run
        self.as_of = _utc(meta["as_of"])
        self.built_at = _utc(meta["built_at"]) if meta.get("built_at") else None
        # The header carries the very text the body's as_of serialises to.
        as_of_text = _DATETIME.dump_json(self.as_of).decode().strip('"')
        self.headers = {
            "X-Data-As-Of": as_of_text,
            "Last-Modified": format_datetime(self.as_of, usegmt=True),
            # Bodies are per caller: shared caches must not keep them.
            "Cache-Control": "private, no-cache",
        }
        # Encoded once per version rather than on every answer.
        self.raw_headers = [(name.lower().encode(), value.encode()) for name, value in self.headers.items()]
        self._con = con
        self._con_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._cache_lock = threading.Lock()

    @contextmanager
    def queries(self) -> Iterator[StoreQueries]:
        """Store lookups on a cursor of this snapshot's own (DuckDB: one cursor per thread)."""
        with self._con_lock:
            cursor = self._con.cursor()
        try:
            yield StoreQueries(cursor)
        finally:
            cursor.close()

    def cached(self, key: tuple[str, ...]) -> bytes | None:
        with self._cache_lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
            return body

    def remember(self, key: tuple[str, ...], body: bytes) -> None:
        with self._cache_lock:
            self._cache[key] = body
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def __del__(self) -> None:
        # Runs when the last request using this version is done; the file may already be
        # unlinked by a later publish, the open handle kept it readable until now.
        con = getattr(self, "_con", None)
        if con is not None:
            with suppress(Exception):  # at interpreter exit DuckDB may already be gone
                con.close()


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_snapshot(metrics_db: Path) -> Snapshot:
    """Open the currently published version read-only and load what every request needs."""
    path, con = open_store(metrics_db)
    try:
        # The identity of the file actually opened: a publish racing this open must not
        # leave us holding B while remembering A's inode (or the reverse).
        st = os.stat(path)
        meta: dict[str, str] = dict(con.sql("SELECT key, value FROM store_meta").fetchall())
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StoreUnavailable(
                f"the store {path} has schema_version {meta.get('schema_version')!r}, this API reads "
                f"{SCHEMA_VERSION!r}: run `flowmetrics refresh --mode nightly` with this version"
            )
        if "as_of" not in meta:
            raise StoreUnavailable(f"the store {path} has no as_of in store_meta: publish it again")
        user_rows = con.sql("SELECT user_id, account_id, is_active, is_team_admin, is_super_admin FROM users")
        # NULL names shown as '' (the ETL's top_flows does the same).
        tree_rows = con.sql("SELECT tree_id, account_id, coalesce(name, '') FROM trees")
        runs = con.sql("SELECT * FROM refresh_runs ORDER BY started_at DESC LIMIT 1")
        last_run = [dict(zip(runs.columns, row, strict=True)) for row in runs.fetchall()]
        return Snapshot(
            path,
            (st.st_dev, st.st_ino),
            con,
            {row[0]: User(*row) for row in user_rows.fetchall()},
            {row[0]: Tree(*row) for row in tree_rows.fetchall()},
            meta,
            last_run[0] if last_run else None,
        )
    except (duckdb.Error, ValueError, KeyError) as exc:
        con.close()
        raise StoreUnavailable(f"the store {path} is not readable: {exc}; publish a new one") from exc
    except BaseException:
        con.close()
        raise


class StoreReader:
    """Hands out the current snapshot, opening the new version when a refresh has published."""

    def __init__(self, metrics_db: Path) -> None:
        self.metrics_db = metrics_db
        self._snapshot: Snapshot | None = None
        self._loading = threading.Lock()
        # A published version that would not open: (its identity, why, when).
        self._failed: tuple[tuple[int, int], str, float] | None = None

    def _identity(self) -> tuple[int, int]:
        identity = store_identity(self.metrics_db)
        if identity is None:
            raise StoreUnavailable(f"no store at {self.metrics_db} yet: run `flowmetrics refresh --mode nightly`")
        return identity

    def failure(self, identity: tuple[int, int]) -> str | None:
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
                return current
            error = self.failure(identity)
            if error is None:
                try:
                    current = self._snapshot = load_snapshot(self.metrics_db)
                    self._failed = None
                    return current
                except StoreUnavailable as exc:
                    error = str(exc)
                    self._failed = (identity, error, time.monotonic())
            if current is None:
                raise StoreUnavailable(error)
            return current

    def problem(self) -> str | None:
        """Why the published version is not the one being served, if it would not open."""
        identity = store_identity(self.metrics_db)
        return self.failure(identity) if identity is not None else None
