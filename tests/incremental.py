"""Helpers for the incremental-refresh tests: refreshes, reference stores, table diffs, bodies.

The invariant under test (INCREMENTAL.md): a store refreshed from what changed equals, table
by table and row for row, a full rebuild from the same source at the same as_of; and its
API bodies equal the app's live SQL (tests/reference). Nothing here mocks the database.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from fastapi.testclient import TestClient

from etl import database
from etl.config import PERIODS, Config
from etl.runs import RunRecord
from etl.store import REPLACED_PREFIX, current_store, open_current, overlay_path
from jobs.plan import lookback_start
from jobs.refresh import run_refresh
from metrics_api.app import create_app
from tests.differential import (
    SECRET,
    Comparison,
    Questions,
    account_engineers,
    get_body,
    sampled_users,
    source_rows,
    team_accounts,
)

# Not on a whole second or day: window edges fall mid-day, mid-second.
AS_OF = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
SEED_ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)

NOT_DATA = frozenset({"refresh_runs", "store_meta"})
DATA_TABLES = (
    "users",
    "trees",
    "tree_nodes",
    "fact_sessions",
    "fact_ratings",
    "fact_step_ratings",
    "daily_sessions",
    "daily_ratings",
    "daily_step_feedback",
    "window_summary",
    "window_time_series",
    "window_top_flows",
    "window_top_engineers",
    "window_step_feedback",
    "window_ratings",
    "recent_comments",
    "data_quality",
)
DAY_PARTITIONED = frozenset(
    {"fact_sessions", "fact_ratings", "fact_step_ratings", "daily_sessions", "daily_ratings", "daily_step_feedback"}
)
"""Tables with a `day` column: an hourly rebuilds their rows from the lookback's first day on."""
HOURLY_UNCOMPARED = frozenset({"data_quality"})
"""Counted over the rows a refresh read: an hourly reads the lookback only."""


def make_config(store_path: Path) -> Config:
    return Config.from_env(
        {"METRICS_DB": str(store_path), "METRICS_JWT_SECRET": SECRET, "METRICS_REFRESH_RETRIES": "0"},
        dotenv=Path("/nonexistent"),
    )


def refresh(config: Config, url: str, mode: str, as_of: datetime, *, full: bool = False) -> RunRecord:
    """One refresh at an explicit as_of; `full` only with nightly (the reference)."""
    return run_refresh(config, url, mode=mode, as_of=as_of, full=full)


class References:
    """Nightly full rebuilds of the source, each into a folder of its own (the reference)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def build(self, url: str, as_of: datetime) -> Path:
        self.count += 1
        path = self.folder / f"reference-{self.count}" / "metrics.duckdb"
        record = refresh(make_config(path), url, "nightly", as_of, full=True)
        assert record.status == "success", record
        return path


def copy_store(source: Path, target: Path) -> None:
    """A copy of the current store `source` (its base and overlay) published at `target` (same versioned names)."""
    current = current_store(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(current.base, target.parent / current.base.name)
    os.symlink(current.base.name, target)
    if current.overlay is not None:
        shutil.copyfile(current.overlay, target.parent / current.overlay.name)
        os.symlink(current.overlay.name, overlay_path(target))


def store_meta(metrics_db: Path) -> dict[str, str]:
    """The current store's metadata (its overlay's, when there is one)."""
    con = duckdb.connect(str(current_store(metrics_db).served), read_only=True)
    try:
        return {str(k): str(v) for k, v in con.sql("SELECT key, value FROM store_meta").fetchall()}
    finally:
        con.close()


def write_store(metrics_db: Path, *statements: str) -> None:
    """Edit the current store's served file (its overlay, or the base) in place, to make it stale or wrong."""
    con = duckdb.connect(str(current_store(metrics_db).served))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


# --- store tables, row for row ----------------------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: tuple[tuple[str, str], ...]
    rows: Counter[tuple[Any, ...]]


def _value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _value(v)) for k, v in value.items()))
    return value


def read_tables(metrics_db: Path, since: date | None = None) -> dict[str, Table]:
    """Every data table of the current store (base and overlay); with `since`, per-day tables from that day on."""
    current = current_store(metrics_db)
    con = open_current(current)
    try:
        served = duckdb.connect(str(current.served), read_only=True)
        try:
            names = [str(r[0]) for r in served.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        finally:
            served.close()
        tables = {}
        for name in names:
            if name in NOT_DATA or name.startswith(REPLACED_PREFIX):  # an overlay's own tables
                continue
            columns = tuple((str(c), str(t)) for c, t, *_ in con.sql(f'DESCRIBE SELECT * FROM "{name}"').fetchall())
            where = f" WHERE day >= DATE '{since.isoformat()}'" if since is not None and name in DAY_PARTITIONED else ""
            rows = con.sql(f'SELECT * FROM "{name}"{where}').fetchall()
            tables[name] = Table(columns, Counter(tuple(_value(v) for v in row) for row in rows))
        return tables
    finally:
        con.close()


def _sorted(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda row: tuple((v is None, repr(v)) for v in row))


def table_differences(
    got: dict[str, Table], want: dict[str, Table], *, skip: Iterable[str] = (), limit: int = 3
) -> list[str]:
    """Per differing table: its schema difference, or rows only in `got` and only in `want`."""
    skipped = set(skip)
    problems = []
    missing = [t for t in DATA_TABLES if t not in want and t not in skipped]
    if missing:
        problems.append(f"the reference has no table {missing}")
    for name in sorted((got.keys() | want.keys()) - skipped):
        if name not in got or name not in want:
            problems.append(f"{name}: only in {'ours' if name in got else 'the reference'}")
            continue
        if got[name].columns != want[name].columns:
            problems.append(f"{name}: columns {got[name].columns} != reference {want[name].columns}")
            continue
        extra = got[name].rows - want[name].rows
        lacking = want[name].rows - got[name].rows
        if extra or lacking:
            columns = [c for c, _ in want[name].columns]
            problems.append(
                f"{name} ({', '.join(columns)}): {sum(extra.values())} rows only in ours, "
                f"{sum(lacking.values())} only in the reference"
                f"\n    ours only: {_sorted(extra.elements())[:limit]}"
                f"\n    reference only: {_sorted(lacking.elements())[:limit]}"
            )
    return problems


def assert_same_store(got: Path, want: Path, *, what: str = "", since: date | None = None) -> None:
    """Every data table of `got` equals `want`'s, row for row (multisets of whole rows)."""
    skip = HOURLY_UNCOMPARED if since is not None else ()
    problems = table_differences(read_tables(got, since), read_tables(want, since), skip=skip)
    assert not problems, f"{what}: {len(problems)} tables differ from the reference:\n" + "\n".join(problems)


def hourly_since(as_of: datetime) -> date:
    """The first day an hourly at `as_of` rebuilds."""
    return lookback_start(as_of).date()


def drift(record: RunRecord) -> dict[str, int]:
    import json

    assert record.drift_rows is not None, f"an hourly run recorded no drift: {record}"
    value = json.loads(record.drift_rows)
    assert isinstance(value, dict), record.drift_rows
    return {str(k): int(v) for k, v in value.items()}


# --- API bodies against the app's live SQL ----------------------------------------------


def compare_bodies(
    conn: psycopg.Connection[Any],
    client: TestClient,
    as_of: datetime,
    *,
    users: Sequence[str] = (),
    trees: Sequence[str] = (),
    engineers_per_account: int = 2,
    users_sample: int = 4,
    trees_sample: int = 6,
) -> Comparison:
    """Team (every account, with and without engineer_id), me and flow bodies, every period.

    Scopes are a sample (by md5 of the id) plus the `users` and `trees` named, so that the
    rows a test changed are always asked about.
    """
    ask = Questions(conn, lambda path, user: get_body(client, path, user), as_of)
    named_users = [str(u) for u in users]
    for account_id, admin in team_accounts(conn):
        engineers = account_engineers(conn, account_id, engineers_per_account)
        query = "SELECT id::text FROM users WHERE account_id = %s::uuid"
        members = {r[0] for r in source_rows(conn, query, account_id)}
        engineers += [u for u in named_users if u not in engineers and u in members]
        for period in PERIODS:
            ask.team(account_id, admin, period)
            for engineer in engineers:
                ask.team(account_id, admin, period, engineer)
    sampled = sampled_users(conn, users_sample)
    active = {r[0] for r in source_rows(conn, "SELECT id::text FROM users WHERE is_active")}
    for user_id in dict.fromkeys([*sampled, *(u for u in named_users if u in active)]):
        for period in PERIODS:
            ask.me(user_id, period)
    super_admin = source_rows(conn, "SELECT id::text FROM users WHERE is_super_admin AND is_active ORDER BY id LIMIT 1")
    tree_ids = [
        r[0] for r in source_rows(conn, "SELECT id::text FROM trees ORDER BY md5(id::text) LIMIT %s", trees_sample)
    ] + [str(t) for t in trees]
    for tree_id in dict.fromkeys(tree_ids):
        member = source_rows(
            conn,
            "SELECT min(u.id::text) FROM trees t JOIN users u ON u.account_id = t.account_id AND u.is_active "
            "WHERE t.id = %s::uuid",
            tree_id,
        )
        reader = (member[0][0] if member else None) or (super_admin[0][0] if super_admin else None)
        if reader is None:
            continue
        for period in PERIODS:
            ask.flow(tree_id, reader, period)
    return ask.result


def assert_bodies(
    url: str, config: Config, as_of: datetime, *, what: str = "", users: Sequence[str] = (), **sample: Any
) -> int:
    """The API over config's store answers as the app's live SQL at as_of; returns bodies checked."""
    with TestClient(create_app(config)) as client, database.connect(url) as conn:
        result = compare_bodies(conn, client, as_of, users=users, **sample)
    assert not result.mismatches, f"{what}: {len(result.mismatches)} of {result.checked} bodies differ:\n" + "\n".join(
        result.mismatches[:8]
    )
    return result.checked


# --- the app's changes, written to the source as the app writes them ---------------------

Conn = psycopg.Connection[Any]


class App:
    """The app's writes on the source: picks rows deterministically (md5 of id and a salt)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.used: list[uuid.UUID] = []
        """Sessions already changed: later picks leave them alone."""

    def pick(self, table: str, where: str = "true", n: int = 1, *, salt: str = "", **params: Any) -> list[uuid.UUID]:
        rows = self.conn.execute(
            f"SELECT id FROM {table} WHERE ({where}) AND NOT (id = ANY(%(used)s)) "
            "ORDER BY md5(id::text || %(salt)s) LIMIT %(n)s",
            {**params, "used": self.used, "salt": salt, "n": n},
        ).fetchall()
        assert len(rows) == n, f"only {len(rows)} of {n} rows of {table} where {where} {params}"
        picked = [r[0] for r in rows]
        if table == "sessions":
            self.used += picked
        return picked

    def session(self, where: str = "true", *, salt: str = "", **params: Any) -> uuid.UUID:
        return self.pick("sessions", where, salt=salt, **params)[0]

    def insert_session(
        self,
        started_at: datetime,
        *,
        like: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        completed_minutes: float | None = 12.25,
        outcome: str | None = "resolved",
        decisions: str | None = None,
    ) -> uuid.UUID:
        """A new session copied from `like` (its tree, user and decisions) unless overridden."""
        template = like or self.pick("sessions", "jsonb_typeof(decisions) = 'array'", salt=str(started_at))[0]
        session_id = uuid.uuid4()
        self.conn.execute(
            """
            INSERT INTO sessions (id, tree_id, user_id, started_at, completed_at, outcome, decisions)
            SELECT %(id)s, tree_id, coalesce(%(user_id)s, user_id), %(started_at)s,
                   %(started_at)s + make_interval(secs => %(seconds)s), %(outcome)s,
                   coalesce(%(decisions)s::jsonb, decisions)
            FROM sessions WHERE id = %(template)s
            """,
            {
                "id": session_id,
                "user_id": user_id,
                "started_at": started_at,
                "seconds": None if completed_minutes is None else completed_minutes * 60,
                "outcome": outcome if completed_minutes is not None else None,
                "decisions": decisions,
                "template": template,
            },
        )
        self.used.append(session_id)
        return session_id

    def update_session(self, session_id: uuid.UUID, assignments: str, **params: Any) -> None:
        count = self.conn.execute(
            f"UPDATE sessions SET {assignments} WHERE id = %(session_id)s", {**params, "session_id": session_id}
        ).rowcount
        assert count == 1, (session_id, assignments)

    def rate(self, session_id: uuid.UUID, rating: int, comment: str | None, created_at: datetime) -> uuid.UUID:
        rating_id = uuid.uuid4()
        self.conn.execute(
            "INSERT INTO session_ratings (id, session_id, tree_id, user_id, rating, comment, created_at) "
            "SELECT %s, id, tree_id, user_id, %s, %s, %s FROM sessions WHERE id = %s",
            (rating_id, rating, comment, created_at, session_id),
        )
        return rating_id

    def rate_step(self, session_id: uuid.UUID, helpful: bool, created_at: datetime, node_id: str | None = None) -> None:
        """A step rating of a node the session visited (its first), or of `node_id`."""
        self.conn.execute(
            """
            INSERT INTO step_ratings (id, session_id, tree_id, node_id, helpful, user_id, created_at)
            SELECT gen_random_uuid(), id, tree_id,
                   coalesce(%s, CASE WHEN jsonb_typeof(decisions) = 'array'
                                     THEN decisions -> 0 ->> 'node_id' END, 'n-x'),
                   %s, user_id, %s
            FROM sessions WHERE id = %s
            """,
            (node_id, helpful, created_at, session_id),
        )

    def account_ids(self) -> list[uuid.UUID]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT account_id FROM trees ORDER BY 1").fetchall()]


@dataclass
class Changes:
    """What apply_app_changes touched: the scopes the bodies must be checked for."""

    users: list[str]
    trees: list[str]


def apply_app_changes(conn: Conn, at: datetime) -> Changes:
    """Every kind of change the app makes, around the windows of an as_of of `at`.

    Commits after each group, as the app's own transactions would.
    """
    app = App(conn)
    day = timedelta(days=1)
    second = timedelta(seconds=1)
    since = lookback_start(at)
    recent = {"lo": at - 7 * day, "hi": at}
    touched_users: list[str] = []
    touched_trees: list[str] = []

    # Inserts: recent, mid-lookback, older history (a late insert), after as_of (clock skew).
    app.insert_session(at - timedelta(hours=2, minutes=13))
    app.insert_session(at - 3 * day, completed_minutes=None)
    app.insert_session(at - 45 * day - timedelta(hours=5), outcome="workaround")
    app.insert_session(since - 60 * day, outcome="escalated")
    app.insert_session(at + timedelta(minutes=5), completed_minutes=None)
    conn.commit()

    # Completions: late ones in each window and one in older history; an unknown outcome.
    for i, (lo, hi) in enumerate([(at - 7 * day, at), (at - 30 * day, at - 7 * day), (at - 90 * day, at - 30 * day)]):
        session_id = app.session(
            "completed_at IS NULL AND started_at >= %(lo)s AND started_at < %(hi)s", lo=lo, hi=hi, salt=f"c{i}"
        )
        app.update_session(
            session_id,
            "completed_at = started_at + interval '17 minutes 3.5 seconds', outcome = %(outcome)s",
            outcome=["resolved", "escalated", "unresolved"][i],
        )
    old = app.session("completed_at IS NULL AND started_at < %(since)s", since=since, salt="c-old")
    app.update_session(old, "completed_at = started_at + interval '1 hour', outcome = 'resolved'")
    odd = app.session("completed_at IS NULL AND started_at >= %(lo)s", lo=at - 30 * day, salt="c-odd")
    app.update_session(odd, "completed_at = started_at + interval '3 minutes', outcome = 'abandoned'")
    conn.commit()

    # Deletes: in each window, in older history, and a rated session (its rating stays).
    for i, (lo, hi) in enumerate(
        [(at - 7 * day, at), (at - 30 * day, at - 7 * day), (at - 90 * day, at - 30 * day), (since - 400 * day, since)]
    ):
        session_id = app.session("started_at >= %(lo)s AND started_at < %(hi)s", lo=lo, hi=hi, salt=f"d{i}")
        conn.execute("DELETE FROM sessions WHERE id = %s", (session_id,))
    rated = app.session(
        "id IN (SELECT session_id FROM session_ratings) AND started_at >= %(lo)s", lo=at - 90 * day, salt="d-rated"
    )
    conn.execute("DELETE FROM sessions WHERE id = %s", (rated,))
    conn.commit()

    # Moves: across each window's edge both ways, out of the lookback and back, into the future.
    for n in (7, 30, 90):
        edge = at - n * day
        inside = app.session(
            "started_at >= %(lo)s AND started_at < %(hi)s", lo=edge + day, hi=edge + 5 * day, salt=f"m-in{n}"
        )
        app.update_session(inside, "started_at = %(to)s", to=edge - second)
        outside = app.session(
            "started_at >= %(lo)s AND started_at < %(hi)s", lo=edge - 5 * day, hi=edge - day, salt=f"m-out{n}"
        )
        app.update_session(outside, "started_at = %(to)s", to=edge + second)
    out = app.session("started_at >= %(lo)s AND started_at < %(hi)s", lo=at - 60 * day, hi=at, salt="m-history")
    app.update_session(out, "started_at = %(to)s", to=since - 100 * day - timedelta(hours=3))
    back = app.session("started_at < %(since)s", since=since, salt="m-back")
    app.update_session(back, "started_at = %(to)s", to=at - 5 * day)
    same_day = app.session("started_at >= %(lo)s AND started_at < %(hi)s", **recent, salt="m-same")
    app.update_session(same_day, "started_at = date_trunc('day', started_at) + interval '1 minute'")
    future = app.session("started_at >= %(lo)s AND started_at < %(hi)s", **recent, salt="m-future")
    app.update_session(future, "started_at = %(to)s", to=at + timedelta(hours=1))
    conn.commit()

    # Decisions rewritten: other nodes, NULL, not an array, [], a last element that is no object.
    rewrites = [
        "decisions = (SELECT decisions FROM sessions o WHERE jsonb_typeof(o.decisions) = 'array' "
        "AND CASE WHEN jsonb_typeof(o.decisions) = 'array' THEN jsonb_array_length(o.decisions) > 2 END "
        "AND o.tree_id = sessions.tree_id ORDER BY o.id LIMIT 1)",
        "decisions = NULL",
        'decisions = \'{"node_id": "n-object"}\'::jsonb',
        "decisions = '[]'::jsonb",
        'decisions = \'[{"node_id": "n-late"}, 5]\'::jsonb, completed_at = NULL, outcome = NULL',
        'decisions = decisions || \'[{"node_id": "n-appended"}]\'::jsonb',
    ]
    for i, assignment in enumerate(rewrites):
        session_id = app.session(
            "jsonb_typeof(decisions) = 'array' AND completed_at IS NULL AND started_at >= %(lo)s"
            if i == len(rewrites) - 1
            else "jsonb_typeof(decisions) = 'array' AND started_at >= %(lo)s",
            lo=at - 80 * day,
            salt=f"r{i}",
        )
        app.update_session(session_id, assignment)
    conn.commit()

    # Session ratings: new, a second (newer) one, changed, moved in time, deleted.
    unrated = app.session(
        "id NOT IN (SELECT session_id FROM session_ratings) AND started_at >= %(lo)s", lo=at - 20 * day, salt="sr1"
    )
    app.rate(unrated, 2, "came in late", at - timedelta(minutes=30))
    rated_twice = app.session(
        "id IN (SELECT session_id FROM session_ratings) AND started_at >= %(lo)s", lo=at - 60 * day, salt="sr2"
    )
    app.rate(rated_twice, 5, None, at - timedelta(minutes=20))
    old_session = app.session("started_at < %(since)s", since=since, salt="sr-old")
    app.rate(old_session, 3, "about an old session", at - timedelta(hours=1))
    changed = app.pick("session_ratings", "created_at >= %(lo)s", lo=at - 30 * day, salt="sr3")[0]
    conn.execute("UPDATE session_ratings SET rating = 5, comment = '' WHERE id = %s", (changed,))
    commented = app.pick("session_ratings", "comment IS NOT NULL AND comment <> ''", salt="sr4")[0]
    conn.execute("UPDATE session_ratings SET comment = ' ', rating = 1 WHERE id = %s", (commented,))
    moved = app.pick("session_ratings", "created_at >= %(lo)s", lo=at - 7 * day, salt="sr5")[0]
    conn.execute("UPDATE session_ratings SET created_at = %s WHERE id = %s", (at - 8 * day, moved))
    newest = conn.execute(
        "SELECT id FROM session_ratings WHERE comment <> '' ORDER BY created_at DESC, id DESC LIMIT 1"
    ).fetchone()
    assert newest is not None
    conn.execute("DELETE FROM session_ratings WHERE id = %s", (newest[0],))
    for i, (lo, hi) in enumerate([(at - 90 * day, at), (since - 400 * day, since)]):
        gone = app.pick("session_ratings", "created_at >= %(lo)s AND created_at < %(hi)s", lo=lo, hi=hi, salt=f"g{i}")
        conn.execute("DELETE FROM session_ratings WHERE id = %s", (gone[0],))
    conn.commit()

    # Step ratings: new, flipped, moved out of the 7 days, deleted (recent and old).
    visited = app.session(
        "CASE WHEN jsonb_typeof(decisions) = 'array' THEN jsonb_array_length(decisions) > 0 END "
        "AND started_at >= %(lo)s",
        lo=at - 6 * day,
        salt="st1",
    )
    app.rate_step(visited, True, at - timedelta(minutes=10))
    app.rate_step(visited, False, at - timedelta(minutes=9))
    flipped = app.pick("step_ratings", "created_at >= %(lo)s", lo=at - 90 * day, salt="st2")[0]
    conn.execute("UPDATE step_ratings SET helpful = NOT helpful WHERE id = %s", (flipped,))
    moved_step = app.pick("step_ratings", "created_at >= %(lo)s", lo=at - 30 * day, salt="st3")[0]
    conn.execute("UPDATE step_ratings SET created_at = created_at - interval '40 days' WHERE id = %s", (moved_step,))
    for i, where in enumerate(["created_at >= %(since)s", "created_at < %(since)s"]):
        step = app.pick("step_ratings", where, since=since, salt=f"st-d{i}")[0]
        conn.execute("DELETE FROM step_ratings WHERE id = %s", (step,))
    conn.commit()

    # Users: renamed (to '', NULL, a name that sorts first), one moved to another account.
    busy = [
        r[0]
        for r in conn.execute(
            "SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id AND u.is_active "
            "AND NOT u.is_team_admin AND NOT u.is_super_admin WHERE s.started_at >= %s "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 4",
            (at - 30 * day,),
        ).fetchall()
    ]
    assert len(busy) == 4, busy
    for user_id, name in zip(busy[:3], ["", None, "Aaron Aardvark"], strict=True):
        conn.execute("UPDATE users SET name = %s WHERE id = %s", (name, user_id))
    accounts = app.account_ids()
    conn.execute(
        "UPDATE users SET account_id = (SELECT a FROM unnest(%s::uuid[]) a WHERE a <> users.account_id LIMIT 1) "
        "WHERE id = %s",
        (accounts, busy[3]),
    )
    touched_users += [str(u) for u in busy]
    conn.commit()

    # Trees: renamed, structure edited, moved to another account, deleted (sessions remain).
    busy_trees = [
        r[0]
        for r in conn.execute(
            "SELECT tree_id FROM sessions WHERE tree_id IN (SELECT id FROM trees) "
            "GROUP BY 1 HAVING min(started_at) < %s AND max(started_at) >= %s ORDER BY count(*) DESC, 1 LIMIT 5",
            (since, at - 7 * day),
        ).fetchall()
    ]
    assert len(busy_trees) == 5, busy_trees
    renamed, edited, moved_tree, deleted, renamed_empty = busy_trees
    conn.execute("UPDATE trees SET name = 'AAA renamed flow' WHERE id = %s", (renamed,))
    conn.execute("UPDATE trees SET name = '' WHERE id = %s", (renamed_empty,))
    conn.execute(
        """
        UPDATE trees SET tree_structure = jsonb_set(
            jsonb_set(tree_structure, '{title}', '"A new root title"'),
            '{children}', (tree_structure -> 'children') || '[{"id": "n-new", "question": "Added later?"}]'::jsonb)
        WHERE id = %s AND jsonb_typeof(tree_structure -> 'children') = 'array'
        """,
        (edited,),
    )
    conn.execute(
        "UPDATE trees SET account_id = (SELECT a FROM unnest(%s::uuid[]) a WHERE a <> trees.account_id LIMIT 1) "
        "WHERE id = %s",
        (accounts, moved_tree),
    )
    conn.execute("DELETE FROM trees WHERE id = %s", (deleted,))
    touched_trees += [str(t) for t in (renamed, edited, moved_tree, renamed_empty)]
    # A tree that comes back: sessions that pointed at a missing tree count for an account again.
    orphan = conn.execute(
        "SELECT tree_id FROM sessions WHERE tree_id NOT IN (SELECT id FROM trees) GROUP BY 1 ORDER BY count(*) DESC, 1"
    ).fetchone()
    if orphan is not None:
        conn.execute(
            "INSERT INTO trees (id, account_id, name, tree_structure) VALUES (%s, %s, 'Back again', "
            '\'{"id": "n-back", "title": "Back"}\'::jsonb)',
            (orphan[0], accounts[-1]),
        )
        touched_trees.append(str(orphan[0]))
    conn.commit()

    # Rows re-pointed: a session to another tree (and account) and user, a rating to another
    # tree, a step rating to another node; a user deleted (their sessions remain).
    other_tree = busy_trees[0]
    repointed = app.session("started_at >= %(lo)s AND tree_id <> %(t)s", lo=at - 40 * day, t=other_tree, salt="p1")
    app.update_session(repointed, "tree_id = %(t)s, user_id = %(u)s", t=other_tree, u=busy[2])
    rating = app.pick("session_ratings", "created_at >= %(lo)s AND tree_id <> %(t)s", lo=at - 40 * day, t=other_tree)
    conn.execute("UPDATE session_ratings SET tree_id = %s WHERE id = %s", (other_tree, rating[0]))
    renode = app.pick("step_ratings", "created_at >= %(lo)s", lo=at - 60 * day, salt="p3")[0]
    conn.execute("UPDATE step_ratings SET node_id = 'n-renamed-node' WHERE id = %s", (renode,))
    deleted_user = conn.execute(
        "SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id AND NOT u.is_team_admin "
        "AND NOT u.is_super_admin WHERE s.started_at >= %s AND NOT (s.user_id = ANY(%s)) "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        (at - 7 * day, busy),
    ).fetchone()
    assert deleted_user is not None
    conn.execute("DELETE FROM users WHERE id = %s", (deleted_user[0],))
    conn.commit()

    # A new engineer with sessions in every window (one of them not completed).
    account = accounts[0]
    engineer = uuid.uuid4()
    conn.execute(
        "INSERT INTO users (id, account_id, name, email, is_active, is_team_admin, is_super_admin) "
        "VALUES (%s, %s, 'Nova Newhire', 'nova@example.test', true, false, false)",
        (engineer, account),
    )
    template = app.pick(
        "sessions",
        "jsonb_typeof(decisions) = 'array' AND tree_id IN (SELECT id FROM trees WHERE account_id = %(account)s)",
        account=account,
        salt="new",
    )[0]
    for offset, completed in [(timedelta(hours=1), 9.5), (3 * day, None), (20 * day, 30.0), (70 * day, 1.0)]:
        app.insert_session(at - offset, like=template, user_id=engineer, completed_minutes=completed)
    touched_users.append(str(engineer))
    conn.commit()
    return Changes(users=touched_users, trees=touched_trees)
