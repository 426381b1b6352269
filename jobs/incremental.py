"""The incremental refresh's rebuild: the stale keys of every table, then the rows of those keys alone.

`stale_keys` finds, per table the overlay holds in part (etl.store.UNIT_KEYS), the keys a
change makes stale: the history's (etl.changes.history_keys) and the window tables'
(etl.transform.stale) from the changed rows, the rows that crossed a window's start as
`as_of` moved, and the sessions of trees and users renamed, moved or gone. `rebuilt_tables`
then reads from the current store (with the changes applied) the rows those keys are built
from, builds them with the transforms every refresh uses, and yields the rows of the stale
keys, table by table, with the tables the overlay holds whole.

Every key's rows are built from all the rows it depends on: a key listed that did not
change gets its same rows again (a false positive costs a little), one whose rows went is
replaced by none. Reads go through PreviousStore (etl/sql/previous.sql); the transforms
are those of etl.transform.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl

from etl.changes import Changes, Stale, merged
from etl.config import PERIODS
from etl.previous import PreviousStore
from etl.publish.build import of_keys
from etl.scopes import ACCOUNT, ACCOUNT_ENGINEER, TREE, USER
from etl.transform import dimensions, facts, history, ids, quality, ratings, steps, window
from etl.transform.common import utc_day, window_start
from etl.transform.parts import Dimensions, helpful_days
from etl.transform.stale import SESSION_COLUMNS, window_keys
from jobs.plan import Plan

Built = Iterator[tuple[str, pl.DataFrame]]

_FIRST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Rebuild:
    """What an incremental refresh rebuilds: the stale keys, and the rows it built them from."""

    keys: dict[str, pl.DataFrame]
    """Per table in etl.store.UNIT_KEYS, the keys whose rows are written again."""
    now_sessions: pl.DataFrame
    """The extract's rows of the stale sessions as they are now (none for a session gone)."""
    stored_sessions: pl.DataFrame
    """The extract's rows of the stale sessions as stored (none for a session new)."""
    stale_sessions: frozenset[str]
    """The ids of the stale sessions (their stored rows are out of date)."""
    counts_hold: bool
    """Whether data_quality's stored counts of rows can be corrected by the stale rows alone."""


def stale_keys(
    previous: PreviousStore,
    found: Stale,
    source_users: pl.DataFrame,
    source_trees: pl.DataFrame,
    dims: Dimensions,
    plan: Plan,
) -> Rebuild:
    """The keys of every table the changes, the move of `as_of` and the dimensions make stale."""
    as_of, since, periods, changes = plan.as_of, plan.since, PERIODS, found.changes
    stale_ids = found.facts["fact_sessions"]
    stored_rows = previous.sessions_listed(stale_ids)
    now = merged(
        stored_rows.filter(~pl.col("session_id").is_in(list(changes.sessions.touched))), changes.sessions.changed
    )
    in_lookback = pl.col("day") >= since.date()

    # The stale sessions before and after, in every period.
    versions = [found.versions["sessions"].filter(in_lookback).select(list(SESSION_COLUMNS)[1:])]
    # The sessions of trees and users whose name, account, nodes or existence changed.
    stored_dims, stored_nodes = previous.rows("dimensions_stored"), previous.rows("tree_nodes")
    changed_trees, changed_users = _changed_dimensions(stored_dims, stored_nodes, source_users, source_trees, dims)
    scopes = _scopes(tree=changed_trees, user=changed_users)
    if scopes.height:
        versions.append(
            previous.rows("window_sessions_of_scopes", [since], excluded=stale_ids, scopes=scopes).select(
                list(SESSION_COLUMNS)[1:]
            )
        )
    every_period = pl.DataFrame({"period": list(periods)})
    sessions = [pl.concat(versions, how="vertical_relaxed").join(every_period, how="cross")]

    r, sr = changes.ratings, changes.step_ratings
    rated = [found.versions["session_ratings"].filter(in_lookback).join(every_period, how="cross")]
    stepped = [found.versions["step_ratings"].filter(in_lookback).join(every_period, how="cross")]
    current = now.filter(pl.col("started_at") >= since).join(_tree_accounts(dims), on="tree_id", how="left")
    previous_as_of = datetime.fromisoformat(previous.meta["as_of"])
    for period, days in periods.items():
        low, high = sorted((window_start(previous_as_of, days), window_start(as_of, days)))
        if low == high:
            continue
        label = pl.lit(period).alias("period")
        crossed = previous.rows("sessions_started_between", [low, high], excluded=stale_ids)
        moved_now = current.filter(pl.col("started_at") >= low, pl.col("started_at") < high)
        sessions.append(
            pl.concat([crossed, moved_now.select(crossed.columns)], how="vertical_relaxed").with_columns(label)
        )
        rated.append(_between(previous, "ratings_created_between", r.touched, r.changed, low, high).with_columns(label))
        stepped.append(
            _between(previous, "step_ratings_created_between", sr.touched, sr.changed, low, high).with_columns(label)
        )
    keys = window_keys(
        pl.concat([s.select(list(SESSION_COLUMNS)) for s in sessions], how="vertical_relaxed"),
        pl.concat([x.select("period", "tree_id") for x in rated], how="vertical_relaxed"),
        pl.concat([x.select("period", "tree_id") for x in stepped], how="vertical_relaxed"),
    )
    keys["recent_comments"] = found.versions["session_ratings"].select("tree_id").unique()
    counts_hold = _counts_hold(previous.meta, stored_dims, stored_nodes, dims, since)
    return Rebuild({**found.keys, **keys}, now, stored_rows, frozenset(stale_ids), counts_hold)


def rebuilt_tables(
    previous: PreviousStore,
    changes: Changes,
    rebuild: Rebuild,
    dims: Dimensions,
    plan: Plan,
) -> Built:
    """The rows of the stale keys of every table the overlay holds in part, and the tables it holds whole."""
    as_of, since, periods = plan.as_of, plan.since, PERIODS
    keys, now, stale_ids = rebuild.keys, rebuild.now_sessions, rebuild.stale_sessions
    r, sr = changes.ratings, changes.step_ratings
    t, u = dims.trees.lazy(), dims.users.lazy()

    # Facts: the stale rows as they are now.
    ratings_now = merged(previous.rows("ratings_of_sessions", listed=stale_ids, excluded=r.touched), r.changed)
    newest = facts.newest_ratings(ratings_now.filter(pl.col("session_id").is_in(list(stale_ids))))
    coded_now = ids.sessions(now)
    yield "fact_sessions", facts.fact_sessions(coded_now.lazy(), t, newest.lazy()).collect()
    if r.changed is not None:
        yield "fact_ratings", ratings.fact_ratings(r.changed.lazy()).collect()
    step_changed = ids.step_ratings(sr.changed)
    if step_changed is not None:
        yield "fact_step_ratings", steps.fact_step_ratings(step_changed)

    # The history's per-day keys, from every row of their days; with them, the sessions of each
    # period's first day of the trees whose window step feedback is stale (read once).
    feedback_keys = keys["window_step_feedback"]
    feedback_trees = feedback_keys["tree_id"].unique().to_list()
    first_days = {period: window_start(as_of, days).astimezone(UTC).date() for period, days in periods.items()}
    opening_keys = pl.DataFrame({"scope_id": feedback_trees}, schema={"scope_id": pl.String()}).join(
        pl.DataFrame({"day": sorted(set(first_days.values()))}, schema={"day": pl.Date()}), how="cross"
    )
    day_keys = pl.concat(
        [
            keys["daily_sessions"].select("scope", "scope_id", "day"),
            keys["daily_step_feedback"].select(pl.lit(TREE).alias("scope"), pl.col("tree_id").alias("scope_id"), "day"),
            opening_keys.select(pl.lit(TREE).alias("scope"), "scope_id", "day"),
        ]
    ).unique()
    bounds = [day_keys["day"].min(), day_keys["day"].max()] if day_keys.height else [_FIRST.date(), _FIRST.date()]
    of_days = ids.sessions(
        _sessions(previous, now, stale_ids, previous.rows("session_ids_of_keys", bounds, keys=day_keys))
    )
    yield "daily_sessions", of_keys(history.daily_sessions(of_days.lazy(), t).collect(), keys["daily_sessions"])
    step_keys = keys["daily_step_feedback"]
    step_rows = None
    if sr.changed is not None:
        step_rows = ids.step_ratings(
            merged(previous.rows("step_ratings_of_keys", keys=step_keys, excluded=sr.touched), sr.changed)
        )
    daily_steps = of_keys(
        steps.daily_step_feedback(steps.daily_step_visits(of_days.lazy()), helpful_days(step_rows).lazy()).collect(),
        step_keys,
    )
    yield "daily_step_feedback", daily_steps
    # Of the stale days' sessions (the bulk of this refresh's memory), only each period's first day is used again.
    openings = of_days.filter(utc_day("started_at").is_in(sorted(set(first_days.values()))))
    del of_days
    rating_keys = keys["daily_ratings"]
    day_ratings = merged(previous.rows("ratings_of_keys", keys=rating_keys, excluded=r.touched), r.changed)
    yield "daily_ratings", of_keys(ratings.daily_ratings(day_ratings.lazy()).collect(), rating_keys)

    # The window's session rollups, per scope kind from the sessions of its stale scopes.
    yield from _session_rollups(previous, rebuild, dims, plan)

    # Step feedback: whole days from the per-day rows, each period's first day from its sessions.
    counts = [_whole_days(previous, keys, daily_steps, feedback_trees, first_days)]
    for period, day in first_days.items():
        of_day = openings.filter(utc_day("started_at") == day).lazy()
        counts.append(steps.step_counts(of_day, as_of, {period: periods[period]}).collect())
    window_steps = None
    if sr.changed is not None:
        window_steps = ids.step_ratings(
            merged(
                previous.rows("step_ratings_of_trees", [since], listed=feedback_trees, excluded=sr.touched),
                sr.changed.filter(pl.col("created_at") >= since),
            )
        )
    feedback = steps.window_step_feedback(
        pl.concat(counts, how="diagonal_relaxed").lazy(),
        window_steps.lazy() if window_steps is not None else None,
        dims.nodes.lazy(),
        as_of,
        periods,
    )
    yield "window_step_feedback", of_keys(feedback.collect(), feedback_keys)

    # Ratings: CSAT of the window, and each tree's newest comments of any age.
    csat_keys = keys["window_ratings"]
    csat_trees = csat_keys["tree_id"].unique().to_list()
    csat_rows = merged(
        previous.rows("ratings_of_trees", [since], listed=csat_trees, excluded=r.touched),
        r.changed.filter(pl.col("created_at") >= since) if r.changed is not None else None,
    )
    yield "window_ratings", of_keys(ratings.window_ratings(csat_rows.lazy(), as_of, periods).collect(), csat_keys)
    comment_keys = keys["recent_comments"]
    comment_trees = comment_keys["tree_id"].to_list()
    comment_rows = merged(
        previous.rows("ratings_of_trees", [_FIRST], listed=comment_trees, excluded=r.touched), r.changed
    )
    yield "recent_comments", of_keys(ratings.recent_comments(comment_rows.lazy()).collect(), comment_keys)

    # The tables the overlay holds whole.
    yield "users", dimensions.users(u).collect()
    yield "trees", dimensions.trees(t).collect()
    yield "tree_nodes", dims.nodes
    yield "data_quality", _data_quality(previous, changes, rebuild, dims, as_of=as_of, since=since)


def _session_rollups(
    previous: PreviousStore,
    rebuild: Rebuild,
    dims: Dimensions,
    plan: Plan,
) -> Built:
    as_of, since, periods = plan.as_of, plan.since, PERIODS
    keys = rebuild.keys
    summary_keys, listed_keys = keys["window_summary"], keys["window_top_flows"]

    def stale(table_keys: pl.DataFrame, scope: str) -> set[str]:
        return set(table_keys.filter(pl.col("scope") == scope)["scope_id"].to_list())

    accounts = stale(summary_keys, ACCOUNT) | stale(listed_keys, ACCOUNT) | stale(keys["window_top_engineers"], ACCOUNT)
    pairs = summary_keys.filter(pl.col("scope") == ACCOUNT_ENGINEER).select(
        pl.col("scope_id").alias("account_id"), pl.col("engineer_id").alias("user_id")
    )
    users = stale(summary_keys, USER) | stale(listed_keys, USER)
    trees_of = stale(summary_keys, TREE)
    scopes = _scopes(account=accounts | set(pairs["account_id"].to_list()), user=users, tree=trees_of)
    stored = previous.rows("window_sessions_of_scopes", [since], excluded=rebuild.stale_sessions, scopes=scopes)
    now = rebuild.now_sessions.filter(pl.col("started_at") >= since).join(
        _tree_accounts(dims), on="tree_id", how="left"
    )
    rows = ids.sessions(pl.concat([stored, now.select(stored.columns)], how="vertical_relaxed")).lazy()
    del stored
    # Lazy: each plan filters its scope's rows as it reads them, instead of a copy per scope kind.
    user_text = pl.col("user_id").cast(pl.String)
    by_account = rows.filter(pl.col("account_id").is_in(list(accounts))).drop("account_id")
    coded_pairs = pairs.with_columns(pl.col("user_id").cast(pl.Categorical)).lazy()  # as the rows' user ids
    by_pair = rows.join(coded_pairs, on=["account_id", "user_id"], how="semi").drop("account_id")
    by_user = rows.filter(user_text.is_in(list(users))).drop("account_id")
    by_tree = rows.filter(pl.col("tree_id").cast(pl.String).is_in(list(trees_of))).drop("account_id")
    t, u = dims.trees.lazy(), dims.users.lazy()
    per_scope = [(by_account, ACCOUNT), (by_pair, ACCOUNT_ENGINEER), (by_user, USER), (by_tree, TREE)]
    plans = {
        "window_summary": [window.window_summary(s, t, as_of, periods, (scope,)) for s, scope in per_scope],
        "window_time_series": [window.window_time_series(s, t, as_of, periods, (scope,)) for s, scope in per_scope],
        "window_top_flows": [
            window.window_top_flows(by_account, t, as_of, periods, (ACCOUNT,)),
            window.window_top_flows(by_user, t, as_of, periods, (USER,)),
        ],
        "window_top_engineers": [window.window_top_engineers(by_account, t, u, as_of, periods)],
    }
    for table, parts in plans.items():
        built = pl.concat(pl.collect_all(parts), how="diagonal")
        yield table, of_keys(built, keys[table])


def _tree_accounts(dims: Dimensions) -> pl.DataFrame:
    """Each tree's account now, with text ids (to join the store's rows)."""
    return dims.trees.select(pl.col("tree_id").cast(pl.String), pl.col("account_id").cast(pl.String))


def _whole_days(
    previous: PreviousStore,
    keys: dict[str, pl.DataFrame],
    daily_steps: pl.DataFrame,
    trees_of: list[str],
    first: Mapping[str, date],
) -> pl.DataFrame:
    """Visits and drop-offs per (period, tree, node) of the whole days after each period's first day."""
    stored = previous.rows(
        "daily_step_feedback_of_trees", [min(first.values())], listed=trees_of, keys=keys["daily_step_feedback"]
    )
    rebuilt = daily_steps.select(stored.columns).with_columns(pl.col("tree_id").cast(pl.String))
    rebuilt = rebuilt.filter(pl.col("tree_id").is_in(trees_of))
    days = ids.encode(pl.concat([stored, rebuilt], how="vertical_relaxed"), ["tree_id"])
    return pl.concat(
        [
            days.filter(pl.col("day") > day).select(
                pl.lit(period).alias("period"), "tree_id", "node_id", "visits", "dropoffs"
            )
            for period, day in first.items()
        ]
    )


def _data_quality(
    previous: PreviousStore, changes: Changes, rebuild: Rebuild, dims: Dimensions, *, as_of: datetime, since: datetime
) -> pl.DataFrame:
    """data_quality over the lookback: the stored counts less the stale rows' as stored, plus theirs now.

    Every count of rows (quality.SESSION_RULES, RATING_RULES, STEP_RATING_RULES) is corrected so, but the
    sessions started after as_of (counted again); the counts of the dimensions are theirs
    now. When the lookback (a new UTC day) or the dimensions the counts join moved, every
    count of rows is counted again over the lookback.
    """
    r, sr = changes.ratings, changes.step_ratings
    stale_ids = rebuild.stale_sessions
    now = rebuild.now_sessions.filter(pl.col("started_at") >= since)
    in_lookback = pl.col("created_at") >= since
    if not rebuild.counts_hold:
        every = merged(previous.sessions_started_in(since, None, excluded=stale_ids), now)
        ratings_now = merged(
            previous.rows("comments_since", [since], excluded=r.touched),
            r.changed.filter(in_lookback).select("comment") if r.changed is not None else None,
        )
        steps_now = None
        if sr.changed is not None:
            steps_now = merged(
                previous.rows("step_rating_nodes_since", [since], excluded=sr.touched),
                sr.changed.filter(in_lookback).select("tree_id", "node_id"),
            )
        return _quality(dims, every, ratings_now, steps_now, as_of)
    before = _quality(
        dims,
        rebuild.stored_sessions.filter(pl.col("started_at") >= since),
        previous.rows("comments_listed_since", [since], listed=r.touched),
        previous.rows("step_rating_nodes_listed_since", [since], listed=sr.touched) if sr.changed is not None else None,
        as_of,
    )
    after = _quality(
        dims,
        now,
        r.changed.filter(in_lookback).select("comment") if r.changed is not None else _no_comments(),
        sr.changed.filter(in_lookback).select("tree_id", "node_id") if sr.changed is not None else None,
        as_of,
    )
    stored = dict(previous.rows("data_quality").iter_rows())
    old, new = (
        dict(before.select("check_name", "rows").iter_rows()),
        dict(after.select("check_name", "rows").iter_rows()),
    )
    later = int(previous.rows("sessions_after", [as_of], excluded=stale_ids)["sessions"][0])
    # Without a step_ratings table (any longer) its count is none, not a correction.
    steps_counted = quality.STEP_RATING_RULES if sr.changed is not None else ()
    rules = [*quality.SESSION_RULES, *quality.RATING_RULES, *steps_counted]
    corrected = {rule: int(stored[rule]) - old[rule] + new[rule] for rule in rules}
    corrected["sessions_in_future"] = later + new["sessions_in_future"]
    return after.with_columns(
        rows=pl.col("check_name").replace_strict(corrected, default=pl.col("rows"), return_dtype=pl.Int64)
    )


def _quality(
    dims: Dimensions, sessions: pl.DataFrame, comments: pl.DataFrame, step_nodes: pl.DataFrame | None, as_of: datetime
) -> pl.DataFrame:
    counts = quality.session_counts(ids.sessions(sessions), dims.users, dims.trees, dims.nodes, as_of)
    return quality.quality_table(counts, dims.users, dims.trees, dims.nodes, comments, ids.step_ratings(step_nodes))


def _no_comments() -> pl.DataFrame:
    return pl.DataFrame({"comment": []}, schema={"comment": pl.String()})


def _counts_hold(
    meta: Mapping[str, str], stored_dims: pl.DataFrame, stored_nodes: pl.DataFrame, dims: Dimensions, since: datetime
) -> bool:
    """Whether the stored session counts can be corrected by the stale sessions alone.

    They cannot when the lookback moved (a new UTC day) or when the trees, users or nodes
    they are joined with changed (every session's count may have).
    """
    if meta.get("lookback_start") != since.isoformat():
        return False
    trees_now = set(dims.trees["tree_id"].cast(pl.String).to_list())
    users_now = set(dims.users["user_id"].cast(pl.String).to_list())
    if set(stored_dims.filter(pl.col("kind") == "tree")["id"].to_list()) != trees_now:
        return False
    if set(stored_dims.filter(pl.col("kind") == "user")["id"].to_list()) != users_now:
        return False
    nodes_then = stored_nodes.select("tree_id", "node_id")
    nodes_now = dims.nodes.select(pl.col("tree_id").cast(pl.String), "node_id")
    return nodes_then.sort(["tree_id", "node_id"]).equals(nodes_now.sort(["tree_id", "node_id"]))


def _sessions(
    previous: PreviousStore, now: pl.DataFrame, stale_ids: frozenset[str], listed: pl.DataFrame
) -> pl.DataFrame:
    """The extract's rows now of the listed sessions (`id`) with every stale session now."""
    return merged(previous.sessions_listed(listed["id"].to_list(), excluded=stale_ids), now)


def _between(
    previous: PreviousStore,
    query: str,
    touched: frozenset[str],
    changed: pl.DataFrame | None,
    low: datetime,
    high: datetime,
) -> pl.DataFrame:
    """tree_id of the rows created in [low, high) now: stored, but the stale, plus those read again."""
    stored = previous.rows(query, [low, high], excluded=touched).select(pl.col("tree_id").cast(pl.String))
    if changed is None:
        return stored
    crossed = changed.filter(pl.col("created_at") >= low, pl.col("created_at") < high)
    return pl.concat([stored, crossed.select(pl.col("tree_id").cast(pl.String))])


def _changed_dimensions(
    stored: pl.DataFrame,
    nodes_then: pl.DataFrame,
    source_users: pl.DataFrame,
    source_trees: pl.DataFrame,
    dims: Dimensions,
) -> tuple[set[str], set[str]]:
    """Trees whose account, name or nodes changed, came or went; users whose name did, or who came or went.

    `stored` and `nodes_then` are the store's (dimensions_stored, tree_nodes).
    """

    def changed(kind: str, now: pl.DataFrame, columns: list[str]) -> set[str]:
        then = stored.filter(pl.col("kind") == kind).select(pl.col("id"), *columns)
        joined = then.join(now.select("id", *columns), on="id", how="full", coalesce=True, suffix="_now")
        differs = pl.lit(False)
        for column in columns:
            differs = differs | pl.col(column).ne_missing(pl.col(f"{column}_now"))
        differs = differs | pl.col("id").is_in(list(set(then["id"]) ^ set(now["id"])))
        return set(joined.filter(differs)["id"].to_list())

    trees_now = source_trees.select(pl.col("tree_id").alias("id"), "account_id", "name")
    users_now = source_users.select(pl.col("user_id").alias("id"), "account_id", "name")
    trees = changed("tree", trees_now, ["account_id", "name"])
    nodes_now = dims.nodes.with_columns(pl.col("tree_id").cast(pl.String))
    differ = nodes_then.join(nodes_now, on=["tree_id", "node_id", "node_title"], how="anti")
    differ = pl.concat([differ, nodes_now.join(nodes_then, on=["tree_id", "node_id", "node_title"], how="anti")])
    trees |= set(differ["tree_id"].to_list())
    return trees, changed("user", users_now, ["name"])


def _scopes(**ids_by_scope: set[str]) -> pl.DataFrame:
    """The registered `scopes` table (scope, id) of window_sessions_of_scopes."""
    return pl.DataFrame(
        {
            "scope": [scope for scope, listed in ids_by_scope.items() for _ in listed],
            "id": [one for listed in ids_by_scope.values() for one in listed],
        },
        schema={"scope": pl.String(), "id": pl.String()},
    )
