"""What changed in the source since the published store's snapshot, found read-only.

Inserts and updates: every row version written at or after the store's watermark (the
oldest transaction in flight at its snapshot) is read again (etl/sql/rows_changed.sql).
Deletes, and rows that moved to another day: per-day row counts of the source against
the store's counts less the rows read again; on a day that lost rows, the ids tell which.
The source's users and trees are small and re-read whole by every refresh.

`IncrementalReads` then answers the refresh's reads (the methods `etl.extract.Source` has)
from the store's fact rows with the changes applied: the source as of the new snapshot.

Whatever the store cannot vouch for raises `Unvouched`, whose message says why; the
refresh then recomputes from the source. False positives (a row read again that did not
change) cost a little; a missed change is never allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Protocol

import polars as pl

from etl.errors import FlowmetricsError
from etl.extract import DAY_COLUMNS, Snapshot
from etl.previous import PreviousStore
from etl.transform import facts
from etl.transform.common import utc_day

WATERMARK_SPAN = 2**31 - 2**24
"""Transactions since the watermark past which age() can no longer tell new rows from old
ones (2^31, less a margin): the refresh recomputes instead."""
REWRITE_SHARE = 0.5
"""More rows read again than this share of a table's (and REWRITE_MIN_ROWS): a rewrite."""
REWRITE_MIN_ROWS = 1000
NARROWING = (3600, 60)
"""On a table indexed by its day column, a day that lost rows is narrowed to the hours, then
the minutes, that lost rows (seconds), counted over the index, before any id is read."""
BUCKET_WIDTH = 2
"""On another table, a day that lost rows is narrowed to buckets of ids sharing their first
2 hex characters (256 a day) before its ids are read."""

KEYS = {"sessions": "session_id", "session_ratings": "rating_id", "step_ratings": "step_rating_id"}
FACT_IDS = {"fact_sessions": "session_id", "fact_ratings": "rating_id", "fact_step_ratings": "step_rating_id"}
"""The key of each fact table (etl.store.UNIT_KEYS)."""


class Unvouched(FlowmetricsError):
    """The published store cannot vouch for what changed since; the message says why."""


class ChangeSource(Protocol):
    """The reads change detection needs (etl.extract.Source)."""

    def changed_sessions(self, xid: int) -> pl.DataFrame: ...
    def changed_session_ratings(self, xid: int) -> pl.DataFrame: ...
    def changed_step_ratings(self, xid: int) -> pl.DataFrame | None: ...
    def day_indexed(self, table: str) -> bool: ...
    def day_counts(self, table: str) -> pl.DataFrame: ...
    def range_counts(self, table: str, starts: list[datetime], seconds: int) -> pl.DataFrame: ...
    def ids_in_ranges(self, table: str, starts: list[datetime], seconds: int) -> pl.DataFrame: ...
    def lost_buckets(
        self, table: str, width: int, expected: pl.DataFrame, short: list[date], start: datetime, end: datetime
    ) -> pl.DataFrame: ...
    def ids_in_buckets(
        self, table: str, width: int, keys: list[str], start: datetime, end: datetime
    ) -> pl.DataFrame: ...


@dataclass(frozen=True)
class Delta:
    """One source table's changes: rows read again, and the ids of rows gone."""

    table: str
    changed: pl.DataFrame | None
    """Rows as read (the extract's columns); None when the table does not exist (step_ratings)."""
    removed: frozenset[str]

    @property
    def key(self) -> str:
        return KEYS[self.table]

    @cached_property
    def touched(self) -> frozenset[str]:
        """Ids whose stored rows are replaced or dropped."""
        ids = set(self.changed[self.key].to_list()) if self.changed is not None else set()
        return frozenset(ids | self.removed)

    def rows_in(self, column: str, start: datetime, end: datetime | None) -> pl.DataFrame | None:
        if self.changed is None:
            return None
        in_range = pl.col(column) >= start
        return self.changed.filter(in_range if end is None else in_range & (pl.col(column) < end))


@dataclass(frozen=True)
class Changes:
    sessions: Delta
    ratings: Delta
    step_ratings: Delta

    def describe(self) -> str:
        return ", ".join(
            f"{d.table} {d.changed.height if d.changed is not None else 0} changed / {len(d.removed)} gone"
            for d in (self.sessions, self.ratings, self.step_ratings)
        )


def vouched_watermark(meta: dict[str, str], snapshot: Snapshot) -> int:
    """The 32-bit xid to read changes from, or Unvouched saying why the store cannot say."""
    stored = meta.get("source_watermark")
    if stored is None or not stored.isdigit():
        raise Unvouched("the store keeps no source watermark (built by an older flowmetrics)")
    if meta.get("source_identity") != snapshot.identity:
        raise Unvouched(
            f"the store was built from another database ({meta.get('source_identity')}, now {snapshot.identity})"
        )
    watermark = int(stored)
    if watermark > snapshot.watermark:
        raise Unvouched(f"the store's watermark {watermark} is ahead of the source's ({snapshot.watermark}): restored?")
    if snapshot.watermark - watermark >= WATERMARK_SPAN:
        raise Unvouched(f"{snapshot.watermark - watermark} transactions since the store's watermark (xid wraparound)")
    if meta.get("source_filenodes") != snapshot.filenodes:
        raise Unvouched(
            f"a source table was rewritten since (VACUUM FULL, CLUSTER, TRUNCATE or a restore: "
            f"{meta.get('source_filenodes')} -> {snapshot.filenodes})"
        )
    return max(3, watermark % 2**32)  # 0-2 are special xids


def detect_sessions(source: ChangeSource, previous: PreviousStore, xid: int) -> Delta:
    """The changes of `sessions` (Changes.sessions); a connection of its own may read them meanwhile."""
    return _delta(source, previous, "sessions", source.changed_sessions(xid))


def detect_ratings(source: ChangeSource, previous: PreviousStore, xid: int) -> tuple[Delta, Delta]:
    """The changes of `session_ratings` and `step_ratings` (Changes.ratings, Changes.step_ratings)."""
    return (
        _delta(source, previous, "session_ratings", source.changed_session_ratings(xid)),
        _delta(source, previous, "step_ratings", source.changed_step_ratings(xid)),
    )


def _delta(source: ChangeSource, previous: PreviousStore, table: str, changed: pl.DataFrame | None) -> Delta:
    key = KEYS[table]
    if changed is None:  # the optional table is gone: so are its rows
        stored = previous.day_counts(table, excluded=())
        return Delta(table, None, frozenset(previous.ids_on_days(table, stored["day"].to_list())))
    ids = changed[key].to_list()
    stored = previous.day_counts(table, excluded=ids)
    kept = int(stored["rows"].sum())
    if changed.height > REWRITE_MIN_ROWS and changed.height > REWRITE_SHARE * (kept + changed.height):
        raise Unvouched(f"{changed.height} rows of {table} have new versions: rewritten (VACUUM FULL, a bulk update?)")
    expected = _counts(stored, changed, table)
    actual = source.day_counts(table)
    compared = expected.join(actual, on="day", how="full", coalesce=True, suffix="_source").fill_null(0)
    if compared.filter(pl.col("rows_source") > pl.col("rows")).height:
        raise Unvouched(f"the source has {table} rows the store never saw on days it has counts for")
    short = compared.filter(pl.col("rows_source") < pl.col("rows"))["day"].to_list()
    if not short:
        return Delta(table, changed, frozenset())
    gone = _gone_by_time if source.day_indexed(table) else _gone_by_bucket
    return Delta(table, changed, frozenset(gone(source, previous, table, changed, short)))


def _gone_by_time(
    source: ChangeSource, previous: PreviousStore, table: str, changed: pl.DataFrame, short: list[date]
) -> set[str]:
    """The stored ids on the `short` days (days that lost rows) that the source no longer has.

    Narrowed before any id is read, over the index on the day column: the rows the source
    should hold (the store's kept rows and the re-read ones) are counted per hour of the
    short days and compared with the source's counts; the hours that lost rows, per minute;
    only the ids of the minutes that lost rows are read.
    """
    key, column = KEYS[table], DAY_COLUMNS[table]
    new = changed.select(pl.col(key).alias("id"), pl.col(column).dt.convert_time_zone("UTC").alias("at"))
    kept = (
        previous.rows_on_days(table, short)
        .select("id", pl.col("at").dt.convert_time_zone("UTC"))
        .join(new.select("id"), on="id", how="anti")
    )
    should = pl.concat([kept, new])
    lost = [datetime.combine(day, time.min, tzinfo=UTC) for day in short]
    width = 86400
    for narrower in NARROWING:
        expected = (
            should.filter(pl.col("at").dt.truncate(f"{width}s").is_in(lost))
            .group_by(pl.col("at").dt.truncate(f"{narrower}s").alias("start"))
            .agg(pl.len().cast(pl.Int64).alias("rows"))
            .sort("start")
            .with_row_index("n", offset=1)
        )
        starts = expected["start"].to_list()
        actual = source.range_counts(table, starts, narrower)
        compared = expected.join(actual.select("n", pl.col("rows").alias("found")), on="n", how="left")
        lost = compared.filter(pl.col("found").fill_null(0) < pl.col("rows"))["start"].to_list()
        width = narrower
        if not lost:
            return set()
    present = set(source.ids_in_ranges(table, lost, width)["id"].to_list())
    under = kept.filter(pl.col("at").dt.truncate(f"{width}s").is_in(lost))
    return set(under["id"].to_list()) - present


def _gone_by_bucket(
    source: ChangeSource, previous: PreviousStore, table: str, changed: pl.DataFrame, short: list[date]
) -> set[str]:
    """The stored ids on the `short` days (days that lost rows) that the source no longer has.

    Narrowed before any id is read: per (day, first BUCKET_WIDTH characters of the id), the
    source compares its counts with what it should hold (the store's kept rows and the
    re-read ones) and names the buckets that lost rows; only their ids are read.
    """
    key = KEYS[table]
    new = changed.select(pl.col(key).alias("id"), utc_day(DAY_COLUMNS[table]))
    kept = previous.rows_on_days(table, short).join(new.select("id"), on="id", how="anti")
    should = pl.concat([kept.select("id", "day"), new.filter(pl.col("day").is_in(short))])
    start = datetime.combine(min(short), time.min, tzinfo=UTC)
    end = datetime.combine(max(short) + timedelta(days=1), time.min, tzinfo=UTC)
    expected = (
        should.with_columns(bucket=pl.col("id").str.slice(0, BUCKET_WIDTH))
        .group_by("day", "bucket")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
    )
    lost = source.lost_buckets(table, BUCKET_WIDTH, expected, short, start, end)
    keys = [f"{day.isoformat()}/{bucket}" for day, bucket in lost.select("day", "bucket").iter_rows()]
    if not keys:
        return set()
    present = set(source.ids_in_buckets(table, BUCKET_WIDTH, keys, start, end)["id"].to_list())
    under = kept.filter((pl.col("day").cast(pl.String) + "/" + pl.col("id").str.slice(0, BUCKET_WIDTH)).is_in(keys))
    return set(under["id"].to_list()) - present


def _counts(stored: pl.DataFrame, changed: pl.DataFrame, table: str) -> pl.DataFrame:
    """Rows per day the source should have if nothing was deleted: the store's kept + re-read."""
    new = changed.group_by(utc_day(DAY_COLUMNS[table])).agg(pl.len().cast(pl.Int64).alias("rows"))
    return (
        pl.concat([stored.with_columns(pl.col("rows").cast(pl.Int64)), new]).group_by("day").agg(pl.col("rows").sum())
    )


@dataclass(frozen=True)
class Stale:
    """What the changes make stale in the store: whole days, and fact rows by id."""

    days: set[date]
    """Days whose per-day rows (and facts) are rebuilt."""
    facts: dict[str, set[str]]
    """Per fact table, the ids whose rows change or go; all on `days`."""
    versions: dict[str, pl.DataFrame]
    """Per source table, its stale rows as stored and as they are now (`_versions`)."""
    keys: dict[str, pl.DataFrame]
    """Per table of the history (etl.store.UNIT_KEYS), the keys whose rows change or go; all on `days`."""
    changes: Changes
    """The changes these come from."""


def stale(previous: PreviousStore, changes: Changes, trees: pl.DataFrame) -> Stale:
    """Every day and fact row whose stored rows the changes make stale.

    A session's day, before and after; a rating's own day (CSAT) and its session's day (the
    session's newest rating, a column of its fact row); a step rating's day; every day of a
    tree that moved account (its sessions' account is in their fact rows).
    """
    s, r, sr = changes.sessions, changes.ratings, changes.step_ratings
    days = previous.days_of("sessions", s.touched) | _days(s)
    days |= previous.days_of("session_ratings", r.touched) | _days(r)
    days |= previous.days_of("step_ratings", sr.touched) | _days(sr)
    rated = previous.rated_sessions_of(r.touched)
    if r.changed is not None:
        rated |= set(r.changed["session_id"].to_list())
    days |= previous.days_of("sessions", rated)
    if s.changed is not None:
        days |= set(
            s.changed.filter(pl.col("session_id").is_in(list(rated))).select(utc_day("started_at"))["day"].to_list()
        )
    moved = moved_trees(previous.trees(), trees)
    days |= previous.days_of_trees(moved)
    facts = {
        "fact_sessions": set(s.touched) | rated | previous.sessions_of_trees(moved),
        "fact_ratings": set(r.touched),
        "fact_step_ratings": set(sr.touched),
    }
    versions = {
        "sessions": _versions(previous.session_versions(facts["fact_sessions"]), s, trees),
        "session_ratings": _versions(previous.rating_versions(facts["fact_ratings"]), r, None),
        "step_ratings": _versions(previous.step_rating_versions(facts["fact_step_ratings"]), sr, None),
    }
    return Stale(days, facts, versions, history_keys(versions, facts), changes)


def history_keys(versions: dict[str, pl.DataFrame], facts: dict[str, set[str]]) -> dict[str, pl.DataFrame]:
    """The keys of the history tables whose rows the stale rows feed, before and after (Stale.versions)."""
    sessions, ratings, step_ratings = (versions[t] for t in ("sessions", "session_ratings", "step_ratings"))
    scoped = [
        sessions.filter(pl.col("account_id").is_not_null()).select(
            scope=pl.lit("account"), scope_id="account_id", day="day"
        ),
        sessions.select(scope=pl.lit("user"), scope_id="user_id", day="day"),
        sessions.select(scope=pl.lit("tree"), scope_id="tree_id", day="day"),
    ]
    keys = {
        "daily_sessions": pl.concat(scoped),
        "daily_ratings": ratings.select("tree_id", "day"),
        "daily_step_feedback": pl.concat([sessions.select("tree_id", "day"), step_ratings.select("tree_id", "day")]),
    }
    for table, key in FACT_IDS.items():
        keys[table] = pl.DataFrame({key: sorted(facts[table])}, schema={key: pl.String()})
    return {table: frame.unique() for table, frame in keys.items()}


def _versions(stored: pl.DataFrame, delta: Delta, trees: pl.DataFrame | None) -> pl.DataFrame:
    """The stale rows as stored and as they are now (`id`, tree_id, day; user_id and account_id of sessions).

    Now: a changed row as read, a stale one that did not change (a session rated again, or
    of a tree that moved) as stored, with its tree's account now; none for a row gone.
    """
    columns = [c for c in ("tree_id", "user_id", "day") if c in stored.columns]
    changed = delta.changed
    same = stored.filter(~pl.col("id").is_in(list(delta.touched)))
    now = [same.select(columns)]
    if changed is not None:
        now.append(changed.select(*(c for c in columns if c != "day"), utc_day(DAY_COLUMNS[delta.table])))
    current = pl.concat(now, how="vertical_relaxed")
    if trees is not None:
        current = current.join(trees.select("tree_id", "account_id"), on="tree_id", how="left")
    return pl.concat([stored.drop("id"), current.select(stored.drop("id").columns)], how="vertical_relaxed")


def moved_trees(before: pl.DataFrame, after: pl.DataFrame) -> list[str]:
    """Trees whose account changed, appeared or went away (their sessions' account did too)."""
    joined = before.join(after.select("tree_id", "account_id"), on="tree_id", how="full", coalesce=True)
    return joined.filter(pl.col("account_id").ne_missing(pl.col("account_id_right")))["tree_id"].to_list()


def _days(delta: Delta) -> set[date]:
    if delta.changed is None:
        return set()
    return set(delta.changed.select(utc_day(DAY_COLUMNS[delta.table]))["day"].to_list())


class IncrementalReads:
    """The source's reads (as etl.extract.Source names them), answered from the store and the changes."""

    def __init__(self, previous: PreviousStore, changes: Changes) -> None:
        self._previous = previous
        self._changes = changes

    def window_sessions(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        kept = self._previous.sessions_started_in(start, end, excluded=self._changes.sessions.touched)
        return merged(kept, self._changes.sessions.rows_in("started_at", start, end))

    def sessions_on_days(self, days: set[date]) -> pl.DataFrame:
        kept = self._previous.sessions_on_days(days, excluded=self._changes.sessions.touched)
        changed = self._changes.sessions.changed
        new = changed.filter(utc_day("started_at").is_in(list(days))) if changed is not None else None
        return merged(kept, new)

    @cached_property
    def _ratings(self) -> pl.DataFrame:
        kept = self._previous.ratings(excluded=self._changes.ratings.touched)
        return merged(kept, self._changes.ratings.changed)

    @cached_property
    def _step_ratings(self) -> pl.DataFrame | None:
        if self._changes.step_ratings.changed is None:
            return None
        kept = self._previous.step_ratings(excluded=self._changes.step_ratings.touched)
        return merged(kept, self._changes.step_ratings.changed)

    @cached_property
    def _newest(self) -> pl.DataFrame:
        return facts.newest_ratings(self._ratings)

    def rated_sessions(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        """The newest rating of every rated session (a superset of those started in [start, end))."""
        return self._newest

    def session_ratings(self, since: datetime) -> pl.DataFrame:
        return self._ratings.filter(pl.col("created_at") >= since)

    def history_ratings(self, end: datetime) -> pl.DataFrame:
        return self._ratings.filter(pl.col("created_at") < end)

    def ratings_on_days(self, days: set[date]) -> pl.DataFrame:
        return self._ratings.filter(utc_day("created_at").is_in(list(days)))

    def comment_candidates(self) -> pl.DataFrame:
        """Every rating: recent_comments keeps each tree's newest with a comment."""
        return self._ratings

    def step_ratings(
        self, start: datetime | None, end: datetime | None, *, name: str = "step_ratings"
    ) -> pl.DataFrame | None:
        rows = self._step_ratings
        if rows is None:
            return None
        bounds = [
            *([pl.col("created_at") >= start] if start else []),
            *([pl.col("created_at") < end] if end else []),
        ]
        return rows.filter(bounds) if bounds else rows

    def step_ratings_on_days(self, days: set[date]) -> pl.DataFrame | None:
        rows = self._step_ratings
        return rows.filter(utc_day("created_at").is_in(list(days))) if rows is not None else None


def merged(kept: pl.DataFrame, changed: pl.DataFrame | None) -> pl.DataFrame:
    """Rows kept from the store, with the rows read again (the kept rows' columns)."""
    if changed is None or changed.height == 0:
        return kept
    return pl.concat([kept, changed.select(kept.columns)], how="vertical_relaxed")


def differing_rows(source: pl.DataFrame | None, held: pl.DataFrame | None, key: str) -> int:
    """Rows that differ between two readings of the same rows: in one and not, or not equal, in the other."""
    if source is None or held is None:
        present = source if source is not None else held
        return present.height if present is not None else 0
    columns = sorted(source.columns)

    def hashed(frame: pl.DataFrame) -> pl.DataFrame:
        rows = frame.select(columns)
        return rows.select(pl.col(key), pl.Series("row", rows.hash_rows()))

    a, b = hashed(source), hashed(held)
    return a.join(b, on=[key, "row"], how="anti").height + b.join(a, on=[key, "row"], how="anti").height


class DriftCheck:
    """The source's window reads, each compared with the incremental state (the hourly's drift).

    Answers the window lane's reads from `source`; `drift` counts, per store table, the rows
    in which `held` (the store with the changes applied) differs from the source.
    """

    def __init__(self, source: Any, held: IncrementalReads) -> None:
        self._source = source
        self._held = held
        self.drift = {"fact_sessions": 0, "fact_ratings": 0, "fact_step_ratings": 0}

    def window_sessions(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        fresh: pl.DataFrame = self._source.window_sessions(start, end)
        self.drift["fact_sessions"] += differing_rows(fresh, self._held.window_sessions(start, end), "session_id")
        return fresh

    def session_ratings(self, since: datetime) -> pl.DataFrame:
        fresh: pl.DataFrame = self._source.session_ratings(since)
        self.drift["fact_ratings"] += differing_rows(fresh, self._held.session_ratings(since), "rating_id")
        return fresh

    def step_ratings(
        self, start: datetime | None, end: datetime | None, *, name: str = "step_ratings"
    ) -> pl.DataFrame | None:
        fresh: pl.DataFrame | None = self._source.step_ratings(start, end, name=name)
        held = self._held.step_ratings(start, end)
        self.drift["fact_step_ratings"] += differing_rows(fresh, held, "step_rating_id")
        return fresh

    def rated_sessions(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        rated: pl.DataFrame = self._source.rated_sessions(start, end)
        return rated

    def comment_candidates(self) -> pl.DataFrame:
        candidates: pl.DataFrame = self._source.comment_candidates()
        return candidates
