"""The store reader: one read-only snapshot of the published store at a time, swapped on publish.

Each request takes one snapshot and uses only it, so a response never mixes two stores.
A publish is noticed with one os.stat per request (the symlink's target changes inode);
the old snapshot's connection closes when the last request using it lets go. Never
writes, never talks to PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from etl.errors import StoreUnavailable
from etl.store import open_store, store_identity

CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class User:
    user_id: str
    account_id: str
    is_active: bool
    is_team_admin: bool
    is_super_admin: bool


@dataclass(frozen=True)
class Tree:
    tree_id: str
    account_id: str
    name: str


@dataclass
class Snapshot:
    """One published store version: its connection, dimensions in memory, a response cache."""

    path: Path
    identity: tuple[int, int]
    con: duckdb.DuckDBPyConnection
    users: dict[str, User]
    trees: dict[str, Tree]
    meta: dict[str, str]
    _cache: OrderedDict[tuple[Any, ...], bytes] = field(default_factory=OrderedDict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def as_of(self) -> datetime:
        return datetime.fromisoformat(self.meta["as_of"])

    def query(self, text: str, params: list[Any]) -> list[tuple[Any, ...]]:
        # A cursor per call: DuckDB connections are not shared across threads mid-query.
        cursor = self.con.cursor()
        try:
            return cursor.execute(text, params).fetchall()
        finally:
            cursor.close()

    def cached(self, key: tuple[Any, ...]) -> bytes | None:
        with self._cache_lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
            return body

    def remember(self, key: tuple[Any, ...], body: bytes) -> None:
        with self._cache_lock:
            self._cache[key] = body
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def __del__(self) -> None:
        try:
            self.con.close()
        except Exception:  # noqa: S110 - closing at interpreter exit may find DuckDB gone
            pass


def load_snapshot(metrics_db: Path, identity: tuple[int, int]) -> Snapshot:
    path, con = open_store(metrics_db)
    try:
        users = {
            row[0]: User(*row)
            for row in con.sql(
                "SELECT user_id, account_id, is_active, is_team_admin, is_super_admin FROM users"
            ).fetchall()
        }
        trees = {row[0]: Tree(*row) for row in con.sql("SELECT tree_id, account_id, name FROM trees").fetchall()}
        meta = dict(con.sql("SELECT key, value FROM store_meta").fetchall())
    except duckdb.Error as exc:
        con.close()
        raise StoreUnavailable(f"the store {path} is not readable: {exc}") from exc
    return Snapshot(path, identity, con, users, trees, meta)


class StoreReader:
    """Hands out the current snapshot, opening a new one when a refresh has published."""

    def __init__(self, metrics_db: Path) -> None:
        self.metrics_db = metrics_db
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def current(self) -> Snapshot:
        identity = store_identity(self.metrics_db)
        if identity is None:
            raise StoreUnavailable(f"no store at {self.metrics_db} yet: run `flowmetrics refresh --mode nightly`")
        snapshot = self._snapshot
        if snapshot is not None and snapshot.identity == identity:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or snapshot.identity != identity:
                snapshot = load_snapshot(self.metrics_db, identity)
                self._snapshot = snapshot
            return snapshot


def last_run(runs_log: Path) -> dict[str, Any] | None:
    """The newest line of the run history (a local file beside the store), or None."""
    try:
        with runs_log.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            record: dict[str, Any] = json.loads(line)
            return record
        except ValueError:
            continue
    return None
