"""Synthetic session ratings (CSAT) and step ratings (helpful or not) for the sessions of
one chunk, with the dirty rows of RATING_DIRTY and STEP_RATING_DIRTY.

Pure: every random choice from the caller's Generator; no I/O, no clock.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.sessions import REMOVED_NODE, SECOND_US, Dirt, Draw, Window, assign_kinds, timestamps
from synthetic.trees import MAX_DEPTH, Ints, PathTable, uuids

RATED_SHARE = 0.3
"""Completed sessions that get a rating."""
RATING_SHARES = (0.04, 0.06, 0.12, 0.30, 0.48)
COMMENTED_SHARE = 0.4
STEP_RATED_SHARE = 0.1
HELPFUL_SHARE = 0.72

RATING_DIRTY = {"comment_empty": 0.01, "comment_blank": 0.01, "created_at_tie": 0.01}
STEP_RATING_DIRTY = {"node_not_in_tree": 0.02}

_COMMENTS = (
    "Fixed it, thanks", "Quick and easy", "Great flow", "Worked on the second try",  # 4-5
    "Solved it, but took a while", "OK", "Step 3 was unclear",  # 3
    "Did not help", "Too many steps", "Had to escalate anyway", "Wrong branch for my case",  # 1-2
)  # fmt: skip
_COMMENT_POOLS = np.array([[7, 11], [7, 11], [4, 7], [0, 4], [0, 4]])
"""Per rating 1..5, the [first, end) range of _COMMENTS its comment is drawn from."""


def session_ratings(
    rng: np.random.Generator,
    sessions: pl.DataFrame,
    draw: Draw,
    window: Window,
    dirt: Dirt,
) -> tuple[pl.DataFrame, int]:
    """CSAT for ~30% of completed sessions, minutes after completion, skewed high."""
    rated = np.flatnonzero(draw.completed & (rng.random(draw.completed.size) < RATED_SHARE))
    created = draw.completed_at[rated] + (rng.exponential(180, size=rated.size) * SECOND_US).astype(np.int64)
    kept = created < window.now_us  # not rated yet
    rated, created = rated[kept], created[kept]
    m = rated.size
    rating = rng.choice(5, size=m, p=RATING_SHARES) + 1
    low, end = _COMMENT_POOLS[rating - 1].T
    pick = low + (rng.random(m) * (end - low)).astype(np.int64)
    commented = rng.random(m) < COMMENTED_SHARE
    empty, blank, tie = dirt.shares(RATING_DIRTY)
    kinds = assign_kinds(rng, m, [empty, blank], dirt.floor)
    tied = _ties(rng, draw.tree_ref[rated], created, kinds, max(dirt.floor, round(tie * m)) if tie else 0)
    commented[tied] = True  # ties matter where comments are ordered
    comment = pl.Series(_COMMENTS).gather(pick).scatter(np.flatnonzero(~commented), None)
    comment = comment.scatter(np.flatnonzero(kinds == 1), "").scatter(np.flatnonzero(kinds == 2), "   ")
    ratings = pl.DataFrame(
        {
            "id": uuids(rng, m),
            "session_id": sessions["id"].gather(rated),
            "tree_id": sessions["tree_id"].gather(rated),
            "user_id": sessions["user_id"].gather(rated),
            "rating": rating,
            "comment": comment,
            "created_at": timestamps(created),
        }
    )
    return ratings, int(np.count_nonzero(kinds)) + tied.size


def _ties(rng: np.random.Generator, tree: Ints, created: Ints, kinds: Ints, wanted: int) -> Ints:
    """Give up to `wanted` clean ratings the created_at of another rating of the same tree."""
    order = np.argsort(tree, kind="stable")
    same_tree = tree[order][1:] == tree[order][:-1]
    row, partner = order[1:][same_tree], order[:-1][same_tree]
    clean = kinds[row] == 0
    row, partner = row[clean], partner[clean]
    chosen = np.sort(rng.choice(row.size, size=min(wanted, row.size), replace=False))
    # A row whose partner also moves would lose its tie; keep only one of each chain link.
    chosen = chosen[~np.isin(partner[chosen], row[chosen])]
    tied: Ints = row[chosen]
    created[tied] = created[partner[chosen]]
    return tied


def step_ratings(
    rng: np.random.Generator,
    sessions: pl.DataFrame,
    paths: PathTable,
    path: Ints,
    visited: Ints,
    at: Ints,
    window: Window,
    dirt: Dirt,
) -> tuple[pl.DataFrame, int]:
    """Helpful or not, on one node a session visited, shortly after the visit."""
    rated = np.flatnonzero(rng.random(path.size) < STEP_RATED_SHARE)
    position = (rng.random(rated.size) * visited[rated]).astype(np.int64)
    created = at[rated, position] + (rng.exponential(20, size=rated.size) * SECOND_US).astype(np.int64)
    kept = created < window.now_us
    rated, position, created = rated[kept], position[kept], created[kept]
    kinds = assign_kinds(rng, rated.size, dirt.shares(STEP_RATING_DIRTY), dirt.floor)
    node_id = paths.node_ids.gather(path[rated] * MAX_DEPTH + position)
    steps = pl.DataFrame(
        {
            "id": uuids(rng, rated.size),
            "session_id": sessions["id"].gather(rated),
            "tree_id": sessions["tree_id"].gather(rated),
            "node_id": node_id.scatter(np.flatnonzero(kinds), REMOVED_NODE),
            "helpful": rng.random(rated.size) < HELPFUL_SHARE,
            "user_id": sessions["user_id"].gather(rated),
            "created_at": timestamps(created),
        }
    )
    return steps, int(np.count_nonzero(kinds))
