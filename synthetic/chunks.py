"""One chunk of synthetic source rows for `flowmetrics seed`: sessions (synthetic.sessions,
synthetic.decisions) with their ratings and step ratings (synthetic.ratings).

Pure: numpy/Polars in, frames out, every random choice from the caller's Generator; no I/O,
no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.decisions import decisions_json
from synthetic.ratings import session_ratings, step_ratings
from synthetic.sessions import (
    OUTCOMES,
    SESSION_KIND,
    UNKNOWN_OUTCOME,
    Dirt,
    Window,
    decision_times,
    draw_sessions,
    timestamps,
)
from synthetic.trees import Ints, World, uuids

CHUNK_SESSIONS = 250_000
"""Sessions generated and sent per step: bounds memory whatever the total."""


@dataclass(frozen=True)
class _Chunk:
    sessions: pl.DataFrame
    ratings: pl.DataFrame
    step_ratings: pl.DataFrame
    dirty_rows: int
    """Dirty ratings and step ratings (dirty sessions are counted from their kinds)."""


def session_chunk(rng: np.random.Generator, world: World, kinds: Ints, window: Window, dirt: Dirt) -> _Chunk:
    draw = draw_sessions(rng, world, kinds, window)
    path = world.paths.offsets[draw.tree] + (rng.random(kinds.size) * world.paths.counts[draw.tree]).astype(np.int64)
    full = world.paths.lengths[path]
    # Unfinished sessions stop part-way: at least the root, never the whole path.
    visited = np.where(draw.completed, full, 1 + (rng.random(kinds.size) * (full - 1)).astype(np.int64))
    repeat = kinds == SESSION_KIND["node_repeated"]
    span = np.clip(window.now_us - draw.started, 0, draw.duration)
    at = decision_times(rng, draw.started, span, visited + repeat)
    sessions = pl.DataFrame(
        {
            "id": uuids(rng, kinds.size),
            "tree_id": world.tree_ids.gather(draw.tree_ref),
            "user_id": world.user_ids.gather(draw.user_ref),
            "started_at": timestamps(draw.started),
            "completed_at": timestamps(draw.completed_at).scatter(np.flatnonzero(~draw.completed), None),
            "outcome": pl.Series(draw.outcome).replace_strict(
                range(len(OUTCOMES) + 2), [None, *OUTCOMES, UNKNOWN_OUTCOME], return_dtype=pl.String
            ),
            "decisions": decisions_json(rng, world.paths, path, visited, repeat, at, kinds),
        }
    )
    ratings, dirty_ratings = session_ratings(rng, sessions, draw, window, dirt)
    steps, dirty_steps = step_ratings(rng, sessions, world.paths, path, visited, at, window, dirt)
    return _Chunk(sessions, ratings, steps, dirty_ratings + dirty_steps)
