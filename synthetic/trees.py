"""The world `flowmetrics seed` generates sessions in: skewed accounts, their users and
their decision trees (documents from synthetic.documents), including the malformed users
and trees real data holds.

Pure: no I/O, no clock; every random choice comes from the caller's numpy Generator, so a
seed reproduces the same world. Never used by the ETL itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from synthetic.documents import MAX_DEPTH, TREE_DIRTY_KINDS, PathTable, Tree, make_tree, path_table, tree_name

__all__ = ["MAX_DEPTH", "PathTable", "World", "build_world", "uuids"]

Ints = npt.NDArray[np.int64]


Floats = npt.NDArray[np.float64]


ACCOUNT_SKEW = 0.8
"""Zipf exponent of account volume: with 200 accounts the biggest holds ~10% of sessions."""


TREE_SKEW = 1.1
"""Zipf exponent of tree popularity within an account."""


SESSIONS_PER_USER = 150


USER_NULL_NAME_SHARE = 0.02


TREE_DIRTY_SHARE = 0.02
"""Malformed trees of each kind, as a share of the clean trees (at least 2 of each)."""


DELETED_SHARE = 0.01
"""Deleted trees (and users) that sessions still point at, as a share of the stored ones."""


_FIRST = (
    "Ana", "Ben", "Chloe", "Dev", "Emeka", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kofi",
    "Lena", "Mo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Yusuf",
)  # fmt: skip


_LAST = (
    "Smith", "Garcia", "Okafor", "Chen", "Novak", "Silva", "Khan", "Muller", "Rossi",
    "Tanaka", "Kowalski", "Nguyen", "Haddad", "Larsen", "Mensah", "Ortiz",
)  # fmt: skip


_COMPANIES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "wonka")


_UTC_OFFSETS = (-8, -7, -6, -5, -5, -4, -3, 0, 0, 1, 1, 2, 3, 5, 8, 9, 10)
"""Hours east of UTC of the accounts' offices: working hours fall at different UTC hours."""


@dataclass(frozen=True)
class Members:
    """Users or trees grouped by account, each with a skewed share of its account's sessions."""

    keys: Floats
    """Ascending: the member's account index plus its cumulative share within the account."""
    last: Ints
    """Per account, the index of its last member."""

    def pick(self, account: Ints, draw: Floats) -> Ints:
        """One member of each given account, for uniform draws in [0, 1)."""
        found = np.searchsorted(self.keys, account + draw, side="right").astype(np.int64)
        # Float rounding of account + draw could step into the next account's block.
        return np.minimum(found, self.last[account])


@dataclass(frozen=True)
class World:
    """Everything sessions are generated from; ids past the stored ones are deleted rows."""

    account_keys: Floats
    """Cumulative session share of the accounts (the last is exactly 1)."""
    utc_offsets: Ints
    users: Members
    trees: Members
    user_ids: pl.Series
    tree_ids: pl.Series
    stored_users: int
    stored_trees: int
    paths: PathTable
    dirty_rows: int
    """Users with a NULL name plus malformed trees."""

    def pick_accounts(self, draw: Floats) -> Ints:
        found = np.searchsorted(self.account_keys, draw, side="right").astype(np.int64)
        return np.minimum(found, self.account_keys.size - 1)


def build_world(
    rng: np.random.Generator, accounts: int, sessions: int, clean: bool
) -> tuple[World, pl.DataFrame, pl.DataFrame]:
    """The world, with the users and trees frames to store (in the tables' column names)."""
    ranks = np.arange(1, accounts + 1, dtype=np.float64)
    weights: Floats = ranks**-ACCOUNT_SKEW / np.sum(ranks**-ACCOUNT_SKEW)
    account_ids = uuids(rng, accounts)
    users, user_owner, nameless = _users(rng, account_ids, weights, sessions, clean)
    trees, tree_owner, built, malformed = _trees(rng, account_ids, weights, clean)
    popularity = _zipf_within(rng, tree_owner, TREE_SKEW)
    # Some people run far more sessions than their colleagues.
    activity = rng.lognormal(0.0, 0.8, size=users.height)
    deleted_users = uuids(rng, max(2, round(DELETED_SHARE * users.height)))
    deleted_trees = uuids(rng, max(2, round(DELETED_SHARE * trees.height)))
    world = World(
        account_keys=_cumulative(weights),
        utc_offsets=np.array(_UTC_OFFSETS, dtype=np.int64)[rng.integers(len(_UTC_OFFSETS), size=accounts)],
        users=_members(user_owner, activity, accounts),
        trees=_members(tree_owner, popularity, accounts),
        user_ids=pl.concat([users["id"], deleted_users]),
        tree_ids=pl.concat([trees["id"], deleted_trees]),
        stored_users=users.height,
        stored_trees=trees.height,
        paths=path_table(built),
        dirty_rows=nameless + malformed,
    )
    return world, users, trees


def uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """n version-4 UUIDs as text, drawn from the seeded generator (so reproducible)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2], hexed[:, 1::2] = digits[raw >> 4], digits[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - start] = hexed[:, start:end]
    return pl.Series("id", text.view("S36").ravel()).cast(pl.String)


def _cumulative(weights: Floats) -> Floats:
    keys = np.cumsum(weights / weights.sum())
    keys[-1] = 1.0
    return keys


def _members(owner: Ints, weight: Floats, accounts: int) -> Members:
    """Members must come grouped by account, in ascending account order."""
    sizes = np.bincount(owner, minlength=accounts)
    totals = np.bincount(owner, weights=weight, minlength=accounts)
    before = np.cumsum(totals) - totals
    share = (np.cumsum(weight) - before[owner]) / totals[owner]
    last = (np.cumsum(sizes) - 1).astype(np.int64)
    share[last] = 1.0
    return Members(keys=owner + share, last=last)


def _zipf_within(rng: np.random.Generator, owner: Ints, exponent: float) -> Floats:
    """Per member, rank ** -exponent with ranks shuffled within each account."""
    weight = np.empty(owner.size)
    starts = np.searchsorted(owner, np.arange(owner.max() + 1))
    ends = np.append(starts[1:], owner.size)
    for start, end in zip(starts, ends, strict=True):
        weight[start:end] = (rng.permutation(end - start) + 1.0) ** -exponent
    return weight


def _users(
    rng: np.random.Generator, account_ids: pl.Series, weights: Floats, sessions: int, clean: bool
) -> tuple[pl.DataFrame, Ints, int]:
    """Users grouped by account, about in proportion to its volume (2 at least)."""
    accounts = weights.size
    per_account = np.maximum(2, np.round(weights * max(2 * accounts, sessions / SESSIONS_PER_USER)))
    owner = np.repeat(np.arange(accounts, dtype=np.int64), per_account.astype(np.int64))
    n = owner.size
    first_of_account = np.zeros(n, dtype=bool)
    first_of_account[np.searchsorted(owner, np.arange(accounts))] = True
    domains = [f"{_COMPANIES[a % len(_COMPANIES)]}-{a + 1}.example" for a in range(accounts)]
    parts = pl.DataFrame(
        {
            "first": pl.Series(_FIRST).gather(rng.integers(len(_FIRST), size=n)),
            "last": pl.Series(_LAST).gather(rng.integers(len(_LAST), size=n)),
            "number": np.arange(1, n + 1),
            "domain": pl.Series(domains).gather(owner),
        }
    )
    users = parts.select(
        id=uuids(rng, n),
        account_id=account_ids.gather(owner),
        name=pl.concat_str("first", pl.lit(" "), "last"),
        email=pl.concat_str(
            pl.col("first").str.to_lowercase(),
            pl.lit("."),
            pl.col("last").str.to_lowercase(),
            pl.col("number").cast(pl.String),
            pl.lit("@"),
            "domain",
        ),  # fmt: skip
        # Every account keeps one active admin; ~5% of the others have left.
        is_active=pl.lit(first_of_account | (rng.random(n) >= 0.05)),
        is_team_admin=pl.lit(first_of_account | (rng.random(n) < 0.08)),
        is_super_admin=pl.lit(np.arange(n) == 0),
    )
    nameless = 0 if clean else min(n // 2, max(2, round(USER_NULL_NAME_SHARE * n)))
    if nameless:
        hit = rng.choice(n, size=nameless, replace=False)
        # Half NULL, half empty: the app shows both as "Unknown".
        users = users.with_columns(users["name"].scatter(hit[::2], None).scatter(hit[1::2], ""))
    return users, owner, nameless


def _trees(
    rng: np.random.Generator, account_ids: pl.Series, weights: Floats, clean: bool
) -> tuple[pl.DataFrame, Ints, list[Tree], int]:
    """2..30 trees per account by volume, plus the malformed ones, grouped by account."""
    accounts = weights.size
    scale = (weights / weights.max()) ** 0.7 * rng.uniform(0.6, 1.0, size=accounts)
    per_account = np.clip(np.round(2 + 28 * scale), 2, 30).astype(np.int64)
    specs: list[tuple[int, str | None]] = [(a, None) for a in range(accounts) for _ in range(per_account[a])]
    each = 0 if clean else max(2, round(TREE_DIRTY_SHARE * len(specs)))
    for kind in TREE_DIRTY_KINDS:
        specs += [(int(a), kind) for a in rng.choice(accounts, size=each, p=weights)]
    specs.sort(key=lambda spec: spec[0])  # stable: clean trees first within an account
    taken: list[set[str]] = [set() for _ in range(accounts)]
    built = [make_tree(rng, tree_name(rng, taken[a]), kind) for a, kind in specs]
    owner = np.array([a for a, _ in specs], dtype=np.int64)
    trees = pl.DataFrame(
        {
            "id": uuids(rng, len(built)),
            "account_id": account_ids.gather(owner),
            "name": [tree.name for tree in built],
            "tree_structure": pl.Series([tree.structure for tree in built], dtype=pl.String),
        }
    )
    return trees, owner, built, each * len(TREE_DIRTY_KINDS)
