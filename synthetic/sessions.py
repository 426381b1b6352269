"""Synthetic sessions for `flowmetrics seed`, one chunk at a time, drawn as numpy arrays:
their start times, durations, outcomes and references, with the dirty kinds of SESSION_DIRTY
that change them. Also what the other generated rows share: the window, the time units, and
how dirty rows are assigned by kind and share (Dirt, assign_kinds).

Pure: every random choice from the caller's Generator; no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from synthetic.trees import MAX_DEPTH, Ints, World

Bools = npt.NDArray[np.bool_]

SECOND_US = 1_000_000
HOUR_US = 3600 * SECOND_US
DAY_US = 24 * HOUR_US

COMPLETED_SHARE = 0.8
OUTCOMES = ("resolved", "escalated", "workaround", "unresolved")
OUTCOME_SHARES = (0.60, 0.20, 0.15, 0.05)
UNKNOWN_OUTCOME = "abandoned"
ESCALATED_UNFINISHED_SHARE = 0.03
"""Incomplete sessions that already carry an outcome (escalated mid-flow); not dirty."""
MEDIAN_DURATION_S = 12 * 60

SESSION_DIRTY = {
    "decisions_null": 0.01,
    "decisions_empty_array": 0.005,
    "decisions_object": 0.005,  # {} or one decision object, not an array
    "decisions_json_string": 0.005,  # the array stored double-encoded, as a JSON string
    "decisions_mixed_elements": 0.005,  # [1,"x",null], alone or after real decisions
    "element_without_node_id": 0.005,
    "node_id_number": 0.005,
    "node_id_empty": 0.005,
    "node_not_in_tree": 0.01,  # the last decision names a node since removed
    "node_repeated": 0.01,  # the last node submitted twice
    "completed_before_started": 0.005,
    "completed_without_outcome": 0.01,
    "outcome_unknown": 0.005,
    "tree_deleted": 0.01,
    "user_deleted": 0.005,
    "started_in_future": 0.001,  # clock skew: up to a day after the anchor
}
"""Share of sessions per dirty kind; a session has at most one kind (code = position + 1)."""
DIRTY_MIN = 3
"""Rows of each dirty kind at least, once there are DIRTY_MIN_SESSIONS sessions."""
DIRTY_MIN_SESSIONS = 200
REMOVED_NODE = "n-removed"
"""A node id no generated tree holds (generated ids are hexadecimal)."""

SESSION_KIND = {name: code for code, name in enumerate(SESSION_DIRTY, start=1)}
"""The code assign_kinds gives each kind of SESSION_DIRTY."""

_HOURS = np.arange(24)
_HOUR_SHARES = 0.04 + np.exp(-(((_HOURS - 13.0) / 3.5) ** 2))
_HOUR_SHARES /= _HOUR_SHARES.sum()


@dataclass(frozen=True)
class Window:
    start_us: int
    now_us: int


@dataclass(frozen=True)
class Dirt:
    """Whether to add dirty rows, and how many of each kind at least."""

    enabled: bool
    floor: int

    def shares(self, kinds: dict[str, float]) -> list[float]:
        return [share if self.enabled else 0.0 for share in kinds.values()]


def assign_kinds(rng: np.random.Generator, n: int, shares: list[float], floor: int) -> Ints:
    """Per row, 0 or the code (1-based position in `shares`) of the one dirty kind it gets."""
    counts = np.array([max(floor, round(share * n)) if share else 0 for share in shares], dtype=np.int64)
    if counts.sum() > n // 2:  # tiny inputs: keep most rows clean
        counts = counts * (n // 2) // max(1, int(counts.sum()))
    kinds = np.zeros(n, dtype=np.int64)
    chosen = rng.choice(n, size=int(counts.sum()), replace=False)
    kinds[chosen] = np.repeat(np.arange(1, len(shares) + 1), counts)
    return kinds


@dataclass
class Draw:
    """A chunk's sessions as numpy arrays (one entry per session); outcome 0 means NULL."""

    tree: Ints
    """The tree walked, an index into world.paths."""
    tree_ref: Ints
    """The tree_id stored, an index into world.tree_ids (past the stored ones: deleted)."""
    user_ref: Ints
    started: Ints
    duration: Ints
    completed: Bools
    completed_at: Ints
    outcome: Ints


def draw_sessions(rng: np.random.Generator, world: World, kinds: Ints, window: Window) -> Draw:
    """A chunk's sessions, one per entry of `kinds`, with the dirty kinds that change their
    times, outcome or references applied."""
    draw = _draw(rng, world, kinds.size, window)
    _spoil(rng, draw, kinds, world, window)
    return draw


def _draw(rng: np.random.Generator, world: World, n: int, window: Window) -> Draw:
    account = world.pick_accounts(rng.random(n))
    tree = world.trees.pick(account, rng.random(n))
    started = _start_times(rng, world.utc_offsets[account], window)
    duration = _durations(rng, n)
    # A session still running at the anchor cannot be completed yet.
    completed = (rng.random(n) < COMPLETED_SHARE) & (started + duration <= window.now_us)
    unfinished = np.where(rng.random(n) < ESCALATED_UNFINISHED_SHARE, OUTCOMES.index("escalated") + 1, 0)
    return Draw(
        tree=tree,
        tree_ref=tree,
        user_ref=world.users.pick(account, rng.random(n)),
        started=started,
        duration=duration,
        completed=completed,
        completed_at=np.minimum(started + duration, window.now_us),
        outcome=np.where(completed, _outcomes(rng, n), unfinished),
    )


def _outcomes(rng: np.random.Generator, n: int) -> Ints:
    return rng.choice(len(OUTCOMES), size=n, p=OUTCOME_SHARES).astype(np.int64) + 1


def _spoil(rng: np.random.Generator, draw: Draw, kinds: Ints, world: World, window: Window) -> None:
    """Apply the dirty kinds that change a session's times, outcome or references."""
    n = kinds.size

    def kind(name: str) -> Bools:
        return np.equal(kinds, SESSION_KIND[name])

    before, no_outcome, unknown = (
        kind("completed_before_started"),
        kind("completed_without_outcome"),
        kind("outcome_unknown"),
    )
    forced = before | no_outcome | unknown
    draw.outcome = np.where(forced & ~draw.completed, _outcomes(rng, n), draw.outcome)
    draw.completed = draw.completed | forced
    draw.completed_at = np.where(before, draw.started - _durations(rng, n) // 4, draw.completed_at)
    draw.outcome[no_outcome] = 0
    draw.outcome[unknown] = len(OUTCOMES) + 1
    future = kind("started_in_future")
    draw.started = np.where(future, window.now_us + rng.integers(1, DAY_US, size=n), draw.started)
    draw.completed &= ~future
    draw.outcome[future] = 0
    deleted_trees = world.tree_ids.len() - world.stored_trees
    deleted_tree = world.stored_trees + rng.integers(deleted_trees, size=n)
    draw.tree_ref = np.where(kind("tree_deleted"), deleted_tree, draw.tree_ref)
    deleted_users = world.user_ids.len() - world.stored_users
    deleted_user = world.stored_users + rng.integers(deleted_users, size=n)
    draw.user_ref = np.where(kind("user_deleted"), deleted_user, draw.user_ref)


def _start_times(rng: np.random.Generator, utc_offsets: Ints, window: Window) -> Ints:
    """Weekdays busier than weekends, office hours (in the account's zone) busier than night."""
    n = utc_offsets.size
    first_day = window.start_us // DAY_US
    n_days = -(-(window.now_us - first_day * DAY_US) // DAY_US)
    weekday = (first_day + np.arange(n_days) + 3) % 7  # day 0, 1970-01-01, was a Thursday
    weight = np.where(weekday < 5, 1.0, 0.3) * np.linspace(0.85, 1.15, n_days)  # slow growth
    day = rng.choice(n_days, size=n, p=weight / weight.sum())
    hour = (rng.choice(24, size=n, p=_HOUR_SHARES) - utc_offsets) % 24
    moment = (first_day + day) * DAY_US + hour * HOUR_US + rng.integers(0, HOUR_US, size=n)
    # The first and last days may be partial: fold what falls outside back into the window.
    return window.start_us + (moment - window.start_us) % (window.now_us - window.start_us)


def _durations(rng: np.random.Generator, n: int) -> Ints:
    """Lognormal, median 12 minutes, from about a minute to a few hours."""
    seconds = np.clip(np.exp(rng.normal(np.log(MEDIAN_DURATION_S), 1.1, size=n)), 30, 8 * 3600)
    return (seconds * SECOND_US).astype(np.int64)


def decision_times(rng: np.random.Generator, started: Ints, span: Ints, elements: Ints) -> Ints:
    """(n, MAX_DEPTH + 1) instants: decision j at started + span * (random increasing share)."""
    cumulative = np.cumsum(rng.exponential(size=(started.size, MAX_DEPTH + 2)), axis=1)
    total = np.take_along_axis(cumulative, elements[:, None], axis=1)
    share = cumulative[:, : MAX_DEPTH + 1] / total
    return started[:, None] + (span[:, None] * share).astype(np.int64)


def timestamps(micros: Ints) -> pl.Series:
    return pl.Series(micros, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
