"""`flowmetrics seed`: realistic synthetic source data, loaded with bulk COPY.

Skewed tenants and flows, lognormal durations, decisions that walk real paths of each
tree, ratings and step ratings, plus the dirty rows DESIGN.md lists (unless clean).
Deterministic for a given seed and anchor. Generation is vectorised (numpy/Polars):
no per-session Python. Only ever writes to a database whose sessions table is empty
(or with append=True).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from etl import database, sql
from etl.errors import SourceError
from etl.seed_trees import DIRTY_TREE_KINDS, FLOW_NAMES, SeedTree, build_tree, dirty_structure

CHUNK = 250_000
US_PER_DAY = 86_400_000_000
OUTCOMES = ["resolved", "escalated", "workaround", "unresolved"]
OUTCOME_P = [0.60, 0.20, 0.15, 0.05]
FIRST = ["Ana", "Ben", "Chloé", "Dev", "Emeka", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mo", "Nia"]
LAST = ["Smith", "García", "Okafor", "Chen", "Novak", "Silva", "Khan", "Müller", "Rossi", "Tanaka"]
COMMENTS = ["Fixed it, thanks", "Too many steps", "Worked on the second try", "Great flow", "Step 3 unclear",
            "Did not help", "Quick and easy", "Needed to escalate anyway"]
# Dirty decisions, as JSON text (None = SQL NULL). Each appears in a small share of sessions.
DIRTY_DECISIONS: list[str | None] = [
    None, "[]", "{}", '"x"', '[1, "x", null]', '[{"answer": "yes"}]', '[{"node_id": 5}]',
    '[{"node_id": ""}]', '[{"node_id": "ghost-node"}]',
]


@dataclass(frozen=True)
class SeedReport:
    accounts: int
    users: int
    trees: int
    sessions: int
    session_ratings: int
    step_ratings: int
    dirty_rows: int
    seconds: float


def uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """n random version-4 UUIDs as text, from the seeded generator (deterministic)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = pl.DataFrame({"h": pl.Series(np.frombuffer(raw.tobytes().hex().encode(), dtype="S32")).cast(pl.String)})
    parts = [pl.col("h").str.slice(a, b - a) for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
    return hexed.select(pl.concat_str(parts, separator="-")).to_series()


def _text(values: np.ndarray) -> pl.Series:
    """An object array of str/None as a String series (Polars will not cast Object)."""
    return pl.Series(values.tolist(), dtype=pl.String)


def _copy(conn: Any, table: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, quote_style="non_numeric")
    with conn.cursor().copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())


def _schema_parts() -> tuple[str, str]:
    text = sql.read("source_schema.sql")
    tables = "\n".join(line for line in text.splitlines() if not line.startswith("CREATE INDEX"))
    indexes = "\n".join(line for line in text.splitlines() if line.startswith("CREATE INDEX"))
    return tables, indexes


def seed(
    url: str,
    *,
    sessions: int = 10_000,
    accounts: int = 5,
    days: int = 90,
    seed: int = 42,
    clean: bool = False,
    now: datetime | None = None,
    append: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SeedReport:
    """Create the source tables if needed and load synthetic data ending at `now`.

    `now` defaults to today's UTC midnight, so the same seed gives the same data all day.
    """
    if sessions < 0 or accounts < 1 or days < 1:
        raise SourceError("seed needs sessions >= 0, accounts >= 1 and days >= 1")
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    if now is None:
        today = datetime.now(UTC)
        now = datetime(today.year, today.month, today.day, tzinfo=UTC)
    rng = np.random.default_rng(seed)
    tables, indexes = _schema_parts()
    with database.connect(url) as conn:
        conn.execute(tables)
        existing = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]  # type: ignore[index]
        if existing and not append:
            raise SourceError(
                f"the source database already has {existing} sessions; seed into a fresh database "
                "(or pass --append to add more)"
            )
        world = _world(rng, sessions, accounts, clean)
        _copy(conn, "users", world.users)
        _copy(conn, "trees", world.trees)
        say(f"seed: {world.users.height} users, {world.trees.height} trees in {accounts} accounts")
        counts = {"sessions": 0, "session_ratings": 0, "step_ratings": 0, "dirty": world.dirty}
        for offset in range(0, sessions, CHUNK):
            n = min(CHUNK, sessions - offset)
            frames = _sessions_chunk(rng, world, n, days, now, clean)
            for table in ("sessions", "session_ratings", "step_ratings"):
                _copy(conn, table, frames[table])
                counts[table] += frames[table].height
            counts["dirty"] += frames["dirty"]
            say(f"seed: {offset + n} sessions ({time.perf_counter() - started:.1f} s)")
        conn.execute(indexes)
        conn.commit()
        conn.execute("ANALYZE")
    return SeedReport(
        accounts=accounts, users=world.users.height, trees=world.trees.height, sessions=counts["sessions"],
        session_ratings=counts["session_ratings"], step_ratings=counts["step_ratings"],
        dirty_rows=counts["dirty"], seconds=time.perf_counter() - started,
    )


@dataclass
class _World:
    users: pl.DataFrame
    trees: pl.DataFrame
    tree_p: np.ndarray  # probability a session uses tree i
    tree_account: np.ndarray  # account index of tree i
    user_start: np.ndarray  # first user index of account a (users are grouped by account)
    user_count: np.ndarray
    user_ids: np.ndarray
    tree_ids: np.ndarray
    path_offset: np.ndarray  # (tree, path) -> start index into the flat prefix arrays
    path_length: np.ndarray
    prefix_json: np.ndarray  # decisions JSON of each path prefix (flat)
    node_at: np.ndarray  # node id at each flat position
    dirty: int


def _world(rng: np.random.Generator, sessions: int, accounts: int, clean: bool) -> _World:
    account_w = 1.0 / np.arange(1, accounts + 1) ** 0.8
    account_w /= account_w.sum()
    account_ids = uuids(rng, accounts).to_numpy()
    users_per = np.maximum(2, np.round(account_w * max(accounts * 2, sessions / 150))).astype(int)
    user_count = users_per
    user_start = np.concatenate([[0], np.cumsum(users_per)[:-1]])
    n_users = int(users_per.sum())
    user_ids = uuids(rng, n_users).to_numpy()
    user_account = np.repeat(np.arange(accounts), users_per)
    first_of_account = np.zeros(n_users, dtype=bool)
    first_of_account[user_start] = True
    names = np.char.add(np.char.add(np.array(FIRST)[rng.integers(len(FIRST), size=n_users)], " "),
                        np.array(LAST)[rng.integers(len(LAST), size=n_users)]).astype(object)
    dirty = 0
    if not clean:
        nameless = (rng.random(n_users) < 0.03) & ~first_of_account
        names[nameless] = None
        dirty += int(nameless.sum())
    users = pl.DataFrame({
        "id": _text(user_ids), "account_id": _text(account_ids[user_account]), "name": _text(names),
        "email": [f"user{i}@example.com" for i in range(n_users)],
        "is_active": first_of_account | (rng.random(n_users) > 0.05),
        "is_team_admin": first_of_account | (rng.random(n_users) < 0.08),
        "is_super_admin": np.arange(n_users) == 0,
    })

    trees_per = np.clip(np.round(2 + np.sqrt(account_w * accounts) * 8), 2, 30).astype(int)
    tree_account = np.repeat(np.arange(accounts), trees_per)
    n_trees = int(trees_per.sum())
    tree_ids = uuids(rng, n_trees).to_numpy()
    built: list[SeedTree] = [build_tree(rng, i) for i in range(n_trees)]
    structures: list[Any] = [t.structure for t in built]
    if not clean:
        for k, tree_no in enumerate(rng.choice(n_trees, size=min(n_trees, len(DIRTY_TREE_KINDS)), replace=False)):
            structures[tree_no] = dirty_structure(DIRTY_TREE_KINDS[k], built[tree_no])
            dirty += 1
    # Popularity of flows within an account is skewed too.
    within = np.concatenate([1.0 / np.arange(1, c + 1) ** 1.1 for c in trees_per])
    within /= np.bincount(tree_account, weights=within)[tree_account]
    tree_p = account_w[tree_account] * within
    tree_p /= tree_p.sum()
    trees = pl.DataFrame({
        "id": _text(tree_ids), "account_id": _text(account_ids[tree_account]),
        "name": [f"{FLOW_NAMES[i % len(FLOW_NAMES)]} #{i}" for i in range(n_trees)],
        "tree_structure": [None if s is None else json.dumps(s) for s in structures],
    }, schema_overrides={"tree_structure": pl.String})

    prefix_json, node_at, offsets, lengths = [], [], [], []
    for tree in built:
        for path in tree.paths:
            offsets.append(len(prefix_json))
            lengths.append(len(path))
            for k in range(1, len(path) + 1):
                prefix_json.append(json.dumps([{"node_id": n, "answer": "yes" if (j % 2) else "no"}
                                               for j, n in enumerate(path[:k])]))
                node_at.append(path[k - 1])
    paths_per = len(built[0].paths) if built else 1
    return _World(
        users=users, trees=trees, tree_p=tree_p, tree_account=tree_account, user_start=user_start,
        user_count=user_count, user_ids=user_ids, tree_ids=tree_ids,
        path_offset=np.array(offsets).reshape(n_trees, paths_per),
        path_length=np.array(lengths).reshape(n_trees, paths_per),
        prefix_json=np.array(prefix_json, dtype=object), node_at=np.array(node_at, dtype=object), dirty=dirty,
    )


def _sessions_chunk(
    rng: np.random.Generator, world: _World, n: int, days: int, now: datetime, clean: bool
) -> dict[str, Any]:
    now_us = int(now.timestamp() * 1_000_000)
    tree = rng.choice(len(world.tree_p), size=n, p=world.tree_p)
    account = world.tree_account[tree]
    user = world.user_start[account] + (rng.random(n) * world.user_count[account]).astype(np.int64)
    # Weekdays busier than weekends, daytime (UTC) busier than night.
    day_w = np.array([0.4 if ((now_us // US_PER_DAY - d - 1) + 4) % 7 in (5, 6) else 1.0 for d in range(days)])
    day = rng.choice(days, size=n, p=day_w / day_w.sum())
    second = np.clip(rng.normal(14 * 3600, 3.5 * 3600, size=n), 0, 86_399.999999)
    started = now_us - (day + 1) * US_PER_DAY + (second * 1_000_000).astype(np.int64)
    duration = (np.exp(rng.normal(np.log(12 * 60), 1.0, size=n)) * 1_000_000).astype(np.int64)
    done = rng.random(n) < 0.8
    outcome = np.where(done, np.array(OUTCOMES, dtype=object)[rng.choice(4, size=n, p=OUTCOME_P)], None)
    path = rng.integers(world.path_offset.shape[1], size=n)
    length = world.path_length[tree, path]
    steps = np.where(done, length, 1 + (rng.random(n) * length).astype(np.int64))
    flat = world.path_offset[tree, path] + steps - 1
    decisions = world.prefix_json[flat].copy()
    tree_ids = world.tree_ids[tree].copy()
    user_ids = world.user_ids[user].copy()
    dirty = 0
    if not clean:
        def pick(share: float) -> np.ndarray:
            return np.flatnonzero(rng.random(n) < share)

        bad = pick(0.02)
        decisions[bad] = np.array(DIRTY_DECISIONS, dtype=object)[rng.integers(len(DIRTY_DECISIONS), size=bad.size)]
        repeat = pick(0.005)  # a node visited twice in a row
        decisions[repeat] = [d[:-1] + ", " + d[1:] if d and d.startswith("[{") else d for d in decisions[repeat]]
        negative = pick(0.003)
        duration[negative] = -duration[negative] // 10
        done[negative] = True
        no_outcome = pick(0.005)
        outcome[no_outcome] = None
        unknown = pick(0.003)
        outcome[unknown] = "abandoned"
        ghost_tree, ghost_user = pick(0.003), pick(0.003)
        tree_ids[ghost_tree] = uuids(rng, ghost_tree.size).to_numpy()
        user_ids[ghost_user] = uuids(rng, ghost_user.size).to_numpy()
        future = pick(0.001)
        started[future] = now_us + (rng.random(future.size) * US_PER_DAY).astype(np.int64)
        dirty = sum(x.size for x in (bad, repeat, negative, no_outcome, unknown, ghost_tree, ghost_user, future))
    session_ids = uuids(rng, n)
    as_time = lambda us: pl.Series(us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))  # noqa: E731
    completed = np.where(done, started + duration, 0)
    sessions = pl.DataFrame({
        "id": session_ids, "tree_id": _text(tree_ids), "user_id": _text(user_ids), "started_at": as_time(started),
        "completed_at": as_time(completed),
        "outcome": _text(outcome), "decisions": _text(decisions),
    }).with_columns(pl.when(pl.Series(done)).then(pl.col("completed_at")).otherwise(None).alias("completed_at"))

    rated = np.flatnonzero(done & (rng.random(n) < 0.3))
    rating = rng.choice(5, size=rated.size, p=[0.05, 0.07, 0.13, 0.35, 0.40]) + 1
    commented = rng.random(rated.size) < 0.4
    comment = np.where(commented, np.array(COMMENTS, dtype=object)[rng.integers(len(COMMENTS), size=rated.size)], None)
    created = completed[rated] + (rng.exponential(20 * 60, size=rated.size) * 1_000_000).astype(np.int64)
    if not clean and rated.size >= 4:
        blank = rng.integers(rated.size, size=2)
        comment[blank[0]], comment[blank[1]] = "", "   "
        created[1::97] = created[0::97][: created[1::97].size]  # equal timestamps: ties
        dirty += 2
    ratings = pl.DataFrame({
        "id": uuids(rng, rated.size), "session_id": session_ids.gather(rated), "tree_id": _text(tree_ids[rated]),
        "user_id": _text(user_ids[rated]), "rating": rating, "comment": _text(comment),
        "created_at": as_time(created),
    })

    stepped = np.flatnonzero(rng.random(n) < 0.1)
    position = (rng.random(stepped.size) * steps[stepped]).astype(np.int64)
    node = world.node_at[world.path_offset[tree[stepped], path[stepped]] + position].copy()
    if not clean and stepped.size:
        ghost_node = np.flatnonzero(rng.random(stepped.size) < 0.02)
        node[ghost_node] = "ghost-node"
        dirty += ghost_node.size
    step_ratings = pl.DataFrame({
        "id": uuids(rng, stepped.size), "session_id": session_ids.gather(stepped), "tree_id": _text(tree_ids[stepped]),
        "node_id": _text(node), "helpful": rng.random(stepped.size) < 0.7,
        "user_id": _text(user_ids[stepped]),
        "created_at": as_time(started[stepped] + (rng.random(stepped.size) * 30 * 60e6).astype(np.int64)),
    })
    return {"sessions": sessions, "session_ratings": ratings, "step_ratings": step_ratings, "dirty": dirty}
