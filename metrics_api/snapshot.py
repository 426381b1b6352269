"""One published store version, open read-only: its connection, the users and trees every
request needs, and a cache of rendered bodies (warmed with the previous version's most used answers).

A snapshot's connection is closed when the last request holding it lets go (CPython frees
it then), never under a request. A query that fails on it marks the version damaged: it
answers 503 until a new version is published. Never writes a store, never talks to PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import duckdb
from pydantic import TypeAdapter

from etl.errors import StoreUnavailable
from etl.store import HISTORY_TABLES, REPLACED_PREFIX, SCHEMA_VERSION, UNIT_KEYS, Identity, current_store, open_current
from etl.transform.common import tree_name
from metrics_api.queries import Replaced, StoreQueries

CACHE_ENTRIES = 4096
"""Rendered bodies kept per snapshot; a few KB each, so tens of MB at most."""
WARM_SECONDS = 1.0
"""At most this long spent building a new version's most used answers before it serves
(the previous version keeps serving meanwhile; only the request that noticed waits)."""

log = logging.getLogger("flowmetrics.api")
Key = tuple[str, ...]
Warmer = Callable[["Snapshot", Key], bytes | None]
"""Builds the body a cache key stands for on a snapshot (None: nothing to build)."""

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


class Snapshot:
    """One published store version: its connection, dimensions in memory, a bytes cache."""

    def __init__(
        self,
        path: Path,
        identity: Identity,
        con: duckdb.DuckDBPyConnection,
        users: dict[str, User],
        trees: dict[str, Tree],
        meta: dict[str, str],
        last_run: dict[str, Any] | None,
    ) -> None:
        self.path = path
        self.identity = identity
        self.serves_overlay = False
        """True when `path` is an overlay (etl.store), False for a base store."""
        self.replaced: Replaced | None = None
        """With an overlay, the keys it replaces per table the lookups read (StoreQueries)."""
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
        self._cache: OrderedDict[Key, bytes] = OrderedDict()
        self._hits: dict[Key, int] = {}
        self._cache_lock = threading.Lock()
        self.file_state: tuple[int, int] | None = None
        """(size, mtime) of the file when it was opened; a published file never changes."""
        self.damaged: str | None = None
        """Why this version can no longer be read, once it could not."""

    @contextmanager
    def queries(self) -> Iterator[StoreQueries]:
        """Store lookups on a cursor of this snapshot's own (DuckDB: one cursor per thread).

        A query that fails on a published (audited, immutable) file means the file was
        damaged: the version is marked so, and the request gets a 503, not a 500.
        """
        with self._con_lock:
            cursor = self._con.cursor()
        try:
            yield StoreQueries(cursor, self.replaced)
        except duckdb.Error as exc:
            self.damage(f"a query failed: {exc}")
            raise StoreUnavailable(DAMAGED) from exc
        finally:
            cursor.close()

    def damage(self, why: str) -> None:
        if self.damaged is None:
            log.error(
                "the published store %s is damaged (%s): answering 503 until a new one is published", self.path, why
            )
        self.damaged = why

    def cached(self, key: Key) -> bytes | None:
        with self._cache_lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
                self._hits[key] += 1
            return body

    def remember(self, key: Key, body: bytes) -> None:
        with self._cache_lock:
            self._cache[key] = body
            self._hits.setdefault(key, 1)
            if len(self._cache) > CACHE_ENTRIES:
                old, _ = self._cache.popitem(last=False)
                self._hits.pop(old, None)

    def hottest(self) -> list[Key]:
        """Cached keys, most used first."""
        with self._cache_lock:
            hits = dict(self._hits)
        return sorted(hits, key=hits.__getitem__, reverse=True)

    def warm_from(self, previous: Snapshot, build: Warmer, seconds: float = WARM_SECONDS) -> int:
        """Build the previous version's most used answers on this one; returns how many."""
        deadline = time.monotonic() + seconds
        warmed = 0
        for key in previous.hottest():
            if time.monotonic() >= deadline:
                break
            body = build(self, key)
            if body is not None:
                self.remember(key, body)
                warmed += 1
        return warmed

    def __del__(self) -> None:
        # Runs when the last request using this version is done; the file may already be
        # unlinked by a later publish, the open handle kept it readable until now.
        con = getattr(self, "_con", None)
        if con is not None:
            with suppress(Exception):  # at interpreter exit DuckDB may already be gone
                con.close()


DAMAGED = (
    "the published store changed on disk after it was published (truncated or overwritten) or cannot be read: "
    "run `flowmetrics refresh --mode nightly` to publish a new one"
)


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_snapshot(metrics_db: Path) -> Snapshot:
    """Open the current store (the base and its overlay, etl.store.open_current) read-only and
    load what every request needs."""
    # The identity of the files actually found: a publish racing this open must not leave
    # us holding B while remembering A's inode (or the reverse).
    current = current_store(metrics_db)
    path = current.served
    try:
        con = open_current(current)
    except duckdb.Error as exc:
        raise StoreUnavailable(f"cannot open the store {path}: {exc}") from exc
    try:
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
        # Names as the flow lists show them (the ETL's top_flows applies the same rule).
        trees = con.sql("SELECT tree_id, account_id, name FROM trees").pl().select("tree_id", "account_id", tree_name())
        runs = con.sql("SELECT * FROM refresh_runs ORDER BY started_at DESC LIMIT 1")
        last_run = [dict(zip(runs.columns, row, strict=True)) for row in runs.fetchall()]
        snapshot = Snapshot(
            path,
            current.identity,
            con,
            {row[0]: User(*row) for row in user_rows.fetchall()},
            {row[0]: Tree(*row) for row in trees.iter_rows()},
            meta,
            last_run[0] if last_run else None,
        )
        snapshot.file_state = size_and_mtime(st)
        snapshot.serves_overlay = current.overlay is not None
        if current.overlay is not None:
            snapshot.replaced = _replaced_keys(con)
        return snapshot
    except (duckdb.Error, ValueError, KeyError) as exc:
        con.close()
        raise StoreUnavailable(f"the store {path} is not readable: {exc}; publish a new one") from exc
    except BaseException:
        con.close()
        raise


def _replaced_keys(con: duckdb.DuckDBPyConnection) -> Replaced:
    """The keys the attached overlay replaces, per table the lookups read, as text (read once per version).

    The lookups read the window tables and recent_comments, never the history (HISTORY_TABLES).
    """
    replaced = {}
    for table, keys in UNIT_KEYS.items():
        if table in HISTORY_TABLES:
            continue
        columns = ", ".join(f"CAST({key} AS VARCHAR)" for key in keys)
        rows = con.sql(f"SELECT {columns} FROM overlay.{REPLACED_PREFIX}{table}").fetchall()
        replaced[table] = frozenset(tuple(row) for row in rows)
    return replaced


def size_and_mtime(st: os.stat_result) -> tuple[int, int]:
    """What changes when a file is written in place (its inode stays the same)."""
    return (st.st_size, st.st_mtime_ns)
