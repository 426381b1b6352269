"""Synthetic sessions, ratings and step ratings for `flowmetrics seed`, one chunk at a time.

Pure: numpy/Polars in, frames out, every random choice from the caller's Generator; no I/O,
no clock. Dirty rows are assigned here by kind and share (SESSION_DIRTY, RATING_DIRTY).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from synthetic.trees import MAX_DEPTH, Ints, PathTable, World, uuids

Bools = npt.NDArray[np.bool_]

CHUNK_SESSIONS = 250_000
"""Sessions generated and sent per step: bounds memory whatever the total."""

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
RATED_SHARE = 0.3
"""Completed sessions that get a rating."""
RATING_SHARES = (0.04, 0.06, 0.12, 0.30, 0.48)
COMMENTED_SHARE = 0.4
STEP_RATED_SHARE = 0.1
HELPFUL_SHARE = 0.72

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
RATING_DIRTY = {"comment_empty": 0.01, "comment_blank": 0.01, "created_at_tie": 0.01}
STEP_RATING_DIRTY = {"node_not_in_tree": 0.02}
DIRTY_MIN = 3
"""Rows of each dirty kind at least, once there are DIRTY_MIN_SESSIONS sessions."""
DIRTY_MIN_SESSIONS = 200
REMOVED_NODE = "n-removed"
"""A node id no generated tree holds (generated ids are hexadecimal)."""

_KIND = {name: code for code, name in enumerate(SESSION_DIRTY, start=1)}
_HOURS = np.arange(24)
_HOUR_SHARES = 0.04 + np.exp(-(((_HOURS - 13.0) / 3.5) ** 2))
_HOUR_SHARES /= _HOUR_SHARES.sum()
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"  # as the app's frontend writes it (toISOString)
_COMMENTS = (
    "Fixed it, thanks", "Quick and easy", "Great flow", "Worked on the second try",  # 4-5
    "Solved it, but took a while", "OK", "Step 3 was unclear",  # 3
    "Did not help", "Too many steps", "Had to escalate anyway", "Wrong branch for my case",  # 1-2
)  # fmt: skip
_COMMENT_POOLS = np.array([[7, 11], [7, 11], [4, 7], [0, 4], [0, 4]])
"""Per rating 1..5, the [first, end) range of _COMMENTS its comment is drawn from."""

CSV_TIMESTAMP = "%Y-%m-%d %H:%M:%S%.6f+00"


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


@dataclass(frozen=True)
class _Chunk:
    sessions: pl.DataFrame
    ratings: pl.DataFrame
    step_ratings: pl.DataFrame
    dirty_rows: int
    """Dirty ratings and step ratings (dirty sessions are counted from their kinds)."""


def assign_kinds(rng: np.random.Generator, n: int, shares: list[float], floor: int) -> Ints:
    """Per row, 0 or the code (1-based position in `shares`) of the one dirty kind it gets."""
    counts = np.array([max(floor, round(share * n)) if share else 0 for share in shares], dtype=np.int64)
    if counts.sum() > n // 2:  # tiny inputs: keep most rows clean
        counts = counts * (n // 2) // max(1, int(counts.sum()))
    kinds = np.zeros(n, dtype=np.int64)
    chosen = rng.choice(n, size=int(counts.sum()), replace=False)
    kinds[chosen] = np.repeat(np.arange(1, len(shares) + 1), counts)
    return kinds


def session_chunk(rng: np.random.Generator, world: World, kinds: Ints, window: Window, dirt: Dirt) -> _Chunk:
    draw = _draw(rng, world, kinds.size, window)
    _spoil(rng, draw, kinds, world, window)
    path = world.paths.offsets[draw.tree] + (rng.random(kinds.size) * world.paths.counts[draw.tree]).astype(np.int64)
    full = world.paths.lengths[path]
    # Unfinished sessions stop part-way: at least the root, never the whole path.
    visited = np.where(draw.completed, full, 1 + (rng.random(kinds.size) * (full - 1)).astype(np.int64))
    repeat = kinds == _KIND["node_repeated"]
    span = np.clip(window.now_us - draw.started, 0, draw.duration)
    at = _decision_times(rng, draw.started, span, visited + repeat)
    sessions = pl.DataFrame(
        {
            "id": uuids(rng, kinds.size),
            "tree_id": world.tree_ids.gather(draw.tree_ref),
            "user_id": world.user_ids.gather(draw.user_ref),
            "started_at": _timestamps(draw.started),
            "completed_at": _timestamps(draw.completed_at).scatter(np.flatnonzero(~draw.completed), None),
            "outcome": pl.Series(draw.outcome).replace_strict(
                range(len(OUTCOMES) + 2), [None, *OUTCOMES, UNKNOWN_OUTCOME], return_dtype=pl.String
            ),
            "decisions": _decisions(rng, world.paths, path, visited, repeat, at, kinds),
        }
    )
    ratings, dirty_ratings = _ratings(rng, sessions, draw, window, dirt)
    steps, dirty_steps = _step_ratings(rng, sessions, world.paths, path, visited, at, window, dirt)
    return _Chunk(sessions, ratings, steps, dirty_ratings + dirty_steps)


@dataclass
class _Draw:
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


def _draw(rng: np.random.Generator, world: World, n: int, window: Window) -> _Draw:
    account = world.pick_accounts(rng.random(n))
    tree = world.trees.pick(account, rng.random(n))
    started = _start_times(rng, world.utc_offsets[account], window)
    duration = _durations(rng, n)
    # A session still running at the anchor cannot be completed yet.
    completed = (rng.random(n) < COMPLETED_SHARE) & (started + duration <= window.now_us)
    unfinished = np.where(rng.random(n) < ESCALATED_UNFINISHED_SHARE, OUTCOMES.index("escalated") + 1, 0)
    return _Draw(
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


def _spoil(rng: np.random.Generator, draw: _Draw, kinds: Ints, world: World, window: Window) -> None:
    """Apply the dirty kinds that change a session's times, outcome or references."""
    n = kinds.size

    def kind(name: str) -> Bools:
        return np.equal(kinds, _KIND[name])

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


def _decision_times(rng: np.random.Generator, started: Ints, span: Ints, elements: Ints) -> Ints:
    """(n, MAX_DEPTH + 1) instants: decision j at started + span * (random increasing share)."""
    cumulative = np.cumsum(rng.exponential(size=(started.size, MAX_DEPTH + 2)), axis=1)
    total = np.take_along_axis(cumulative, elements[:, None], axis=1)
    share = cumulative[:, : MAX_DEPTH + 1] / total
    return started[:, None] + (span[:, None] * share).astype(np.int64)


def _timestamps(micros: Ints) -> pl.Series:
    return pl.Series(micros, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))


def _decisions(
    rng: np.random.Generator, paths: PathTable, path: Ints, visited: Ints, repeat: Bools, at: Ints, kinds: Ints
) -> pl.Series:
    """JSON arrays of the decisions along each session's path, then the dirty variants."""
    n = path.size
    columns: dict[str, object] = {"visited": visited, "repeat": repeat, "kind": kinds}
    elements = []
    for j in range(MAX_DEPTH):
        columns[f"p{j}"] = paths.elements.gather(path * MAX_DEPTH + j)
        columns[f"t{j}"] = at[:, j]
        elements.append(_element(f"p{j}", pl.when(pl.col("visited") > j).then(pl.col(f"t{j}"))))
    # node_repeated: the last node submitted again (a double click, a retry).
    columns["p_last"] = paths.elements.gather(path * MAX_DEPTH + visited - 1)
    columns["t_again"] = at[np.arange(n), visited]
    elements.append(_element("p_last", pl.when(pl.col("repeat")).then(pl.col("t_again"))))
    frame = pl.DataFrame(columns).with_columns(
        decisions=pl.concat_str([pl.lit("["), pl.concat_str(elements, separator=",", ignore_nulls=True), pl.lit("]")])
    )
    decisions = frame["decisions"]
    dirty = np.flatnonzero(kinds)
    if dirty.size:
        broken = frame[dirty].with_columns(flip=pl.lit(rng.random(dirty.size) < 0.5)).select(_dirty_decisions())
        decisions = decisions.scatter(dirty, broken.to_series())
    return decisions


def _element(prefix: str, at: pl.Expr) -> pl.Expr:
    """One decision object; null (skipped) where `at` is null. Formats only the kept instants."""
    text = at.cast(pl.Datetime("us")).dt.to_string(_AT_FORMAT)
    return pl.concat_str([pl.col(prefix), text, pl.lit('"}')])


def _dirty_decisions() -> pl.Expr:
    decisions = pl.col("decisions")
    first_element = decisions.str.extract(r"^\[(\{[^}]*\})")
    first_node_id = r'"node_id":"[^"]*"'

    def kind(name: str) -> pl.Expr:
        return pl.col("kind") == _KIND[name]

    return (
        pl.when(kind("decisions_null")).then(pl.lit(None, pl.String))
        .when(kind("decisions_empty_array")).then(pl.lit("[]"))
        .when(kind("decisions_object")).then(pl.when("flip").then(pl.lit("{}")).otherwise(first_element))
        .when(kind("decisions_json_string"))
        .then(pl.concat_str([pl.lit('"'), decisions.str.replace_all('"', '\\"', literal=True), pl.lit('"')]))
        .when(kind("decisions_mixed_elements"))
        .then(pl.when("flip").then(pl.lit('[1,"x",null]')).otherwise(decisions.str.strip_suffix("]") + ',1,"x",null]'))
        .when(kind("element_without_node_id")).then(decisions.str.replace('"node_id":', '"step":', literal=True))
        .when(kind("node_id_number")).then(decisions.str.replace(first_node_id, '"node_id":5'))
        .when(kind("node_id_empty")).then(decisions.str.replace(first_node_id, '"node_id":""'))
        # Greedy prefix: the LAST element names the removed node, so drop-offs land on it too.
        .when(kind("node_not_in_tree"))
        .then(decisions.str.replace(r'^(.*)"node_id":"[^"]*"', f'${{1}}"node_id":"{REMOVED_NODE}"'))
        .otherwise(decisions)
        .alias("decisions")
    )  # fmt: skip


def _ratings(
    rng: np.random.Generator,
    sessions: pl.DataFrame,
    draw: _Draw,
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
            "created_at": _timestamps(created),
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


def _step_ratings(
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
            "created_at": _timestamps(created),
        }
    )
    return steps, int(np.count_nonzero(kinds))
