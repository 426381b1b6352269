"""The assembly of every store table, in the order the tables can be written (pure).

`window_tables` builds everything that comes from the lookback, `history_tables` the
per-day history and sessions before it. Both take their inputs as they arrive (an
iterable of day ranges, a callable for what is needed last) and yield `(table, frame)`
pairs as soon as each is complete, so a caller may write a table while the next is built
and read the next range meanwhile. They do no I/O themselves: a refresh feeds them from
the source and writes what they yield; a test feeds them frames and collects the pairs.
A table may be yielded in several parts (one per day range); its rows are their union.

They take the sessions and step ratings as extracted and are where those enter the
transform: each codes their ids once (etl/transform/ids.py) before any builder sees them;
the dimensions come coded (`Dimensions.of`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from etl.transform import ids, ratings, steps
from etl.transform.parts import (
    Dimensions,
    Rollups,
    days_between,
    helpful_days,
    helpful_only,
    history_part,
    rating_tables,
    session_tables,
    window_part,
)

Built = Iterator[tuple[str, pl.DataFrame]]


@dataclass(frozen=True)
class DayRange:
    """Sessions started in [start, end) of whole UTC days; `end` None: no upper bound."""

    start: datetime
    end: datetime | None
    sessions: pl.DataFrame


@dataclass(frozen=True)
class WindowRatings:
    """The lookback's session ratings and the comment candidates (read after the sessions)."""

    session_ratings: pl.DataFrame
    comment_candidates: pl.DataFrame


def window_tables(
    dims: Dimensions,
    as_of: datetime,
    periods: Mapping[str, int],
    *,
    rated: pl.DataFrame | None,
    step_ratings: pl.DataFrame | None,
    ranges: Iterable[DayRange],
    window_ratings: Callable[[], WindowRatings],
) -> Built:
    """Every table built from the lookback: per range its per-day rows, then the rollups.

    `ranges` cover the lookback in order, from a UTC midnight at or before as_of - the
    largest period, the last one open-ended. The session rollups are built before
    `window_ratings` is called, so the ratings may still be on their way. The time series
    is yielded once, whole, after the session rollups: the API looks its rows up by scope,
    so they are stored in one run sorted by scope.
    """
    step_ratings = ids.step_ratings(step_ratings)  # coded once, as they enter the transform
    helpful = helpful_days(step_ratings)
    yield "fact_step_ratings", steps.fact_step_ratings(step_ratings)
    series, parts = [], []
    for day_range in ranges:
        helpful_rows = days_between(helpful, day_range.start.date(), day_range.end.date() if day_range.end else None)
        sessions = ids.sessions(day_range.sessions)
        part = window_part(sessions, dims, as_of, periods, rated=rated, helpful=helpful_rows)
        del day_range, sessions  # the wide frame (node lists) is not needed past this point
        yield "daily_sessions", part.daily_sessions
        yield "fact_sessions", part.fact_sessions
        yield "daily_step_feedback", part.daily_step_feedback
        series.append(part.time_series)
        parts.append(part.rollups)
        del part
    rollups = Rollups.combine(parts)
    del parts
    built = session_tables(rollups, dims, as_of, periods)
    yield "window_time_series", pl.concat(series)
    del series
    yield from built.items()
    del built
    later = window_ratings()
    yield "fact_ratings", ratings.fact_ratings(later.session_ratings.lazy()).collect()
    yield from rating_tables(
        rollups=rollups,
        dims=dims,
        session_ratings=later.session_ratings,
        comment_candidates=later.comment_candidates,
        step_ratings=step_ratings,
        as_of=as_of,
        periods=periods,
    ).items()


def history_tables(
    dims: Dimensions,
    *,
    rated: pl.DataFrame,
    step_ratings: pl.DataFrame | None,
    chunks: Iterable[DayRange],
    history_ratings: Callable[[], pl.DataFrame],
) -> Built:
    """Per-day history, sessions fact and step feedback before the lookback, chunk by chunk.

    `chunks` are whole days, oldest first, ending where the lookback starts; step ratings of
    days before the first session give feedback rows without visits.
    """
    step_ratings = ids.step_ratings(step_ratings)  # coded once, as they enter the transform
    helpful = helpful_days(step_ratings)
    yield "fact_step_ratings", steps.fact_step_ratings(step_ratings)
    first = None
    for chunk in chunks:
        first = first or chunk.start
        end = chunk.end.date() if chunk.end is not None else None
        days = days_between(helpful, chunk.start.date(), end)
        yield from history_part(ids.sessions(chunk.sessions), dims, rated=rated, helpful=days).items()
        del chunk
    yield "daily_step_feedback", helpful_only(days_between(helpful, None, first.date() if first else None))
    older = history_ratings().lazy()
    yield "fact_ratings", ratings.fact_ratings(older).collect()
    yield "daily_ratings", ratings.daily_ratings(older).collect()


def history_days(
    dims: Dimensions,
    *,
    start: datetime,
    end: datetime,
    sessions: pl.DataFrame,
    rated: pl.DataFrame,
    step_ratings: pl.DataFrame | None,
    session_ratings: pl.DataFrame,
) -> Built:
    """history_tables' rows of the whole UTC days [start, end), from those days' rows alone.

    `sessions` started on those days, `rated` holds their newest ratings, `step_ratings` and
    `session_ratings` were created on them. Every row of history_tables is per session, per
    rating or per day, so disjoint ranges of days give disjoint rows: ranges covering the
    history from its first session's day, plus `history_before` for the ratings older than
    that day, give exactly history_tables' rows (a partition of a distributed rebuild).
    """
    step_ratings = ids.step_ratings(step_ratings)  # coded once, as they enter the transform
    helpful = helpful_days(step_ratings)
    yield "fact_step_ratings", steps.fact_step_ratings(step_ratings)
    yield from history_part(
        ids.sessions(sessions), dims, rated=rated, helpful=days_between(helpful, start.date(), end.date())
    ).items()
    yield from _ratings_rows(session_ratings)


def history_before(step_ratings: pl.DataFrame | None, session_ratings: pl.DataFrame) -> Built:
    """history_tables' rows of the ratings created before the first session's day (no sessions)."""
    step_ratings = ids.step_ratings(step_ratings)  # coded once, as they enter the transform
    yield "fact_step_ratings", steps.fact_step_ratings(step_ratings)
    yield "daily_step_feedback", helpful_only(helpful_days(step_ratings))
    yield from _ratings_rows(session_ratings)


def _ratings_rows(session_ratings: pl.DataFrame) -> Built:
    ratings_rows = session_ratings.lazy()
    yield "fact_ratings", ratings.fact_ratings(ratings_rows).collect()
    yield "daily_ratings", ratings.daily_ratings(ratings_rows).collect()


def rebuilt_days(
    dims: Dimensions,
    *,
    sessions: pl.DataFrame,
    rated: pl.DataFrame,
    step_ratings: pl.DataFrame | None,
    session_ratings: pl.DataFrame,
) -> Built:
    """Every per-day and fact row of some whole days before the lookback, from those days' rows.

    `sessions` started on those days, `step_ratings` and `session_ratings` were created on
    them; `rated` holds the newest rating of (at least) those sessions. An incremental
    refresh rebuilds the older days that changed so, and keeps the others.
    """
    step_ratings = ids.step_ratings(step_ratings)  # coded once, as they enter the transform
    helpful = helpful_days(step_ratings)
    yield from history_part(ids.sessions(sessions), dims, rated=rated, helpful=helpful).items()
    yield "fact_step_ratings", steps.fact_step_ratings(step_ratings)
    ratings_rows = session_ratings.lazy()
    yield "fact_ratings", ratings.fact_ratings(ratings_rows).collect()
    yield "daily_ratings", ratings.daily_ratings(ratings_rows).collect()
