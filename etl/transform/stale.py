"""Which keys of the window tables a change makes stale (pure): the incremental refresh
rebuilds those keys alone and keeps every other row of the store.

A window row depends only on the sessions (ratings, step ratings) of its key that lie in
its period's window. A key is stale when one of those changed, came or went (a session
rated, moved, deleted, of a tree renamed...), or crossed the window's start as `as_of`
moved. The caller lists those rows with the `period` they may count in; this module says
which keys they make stale (etl.store.UNIT_KEYS names the key columns of each table).
"""

from __future__ import annotations

import polars as pl

from etl.scopes import ACCOUNT, ACCOUNT_ENGINEER, NO_ENGINEER, TREE, USER

SESSION_COLUMNS = {"period": pl.String(), "tree_id": pl.String(), "user_id": pl.String(), "account_id": pl.String()}
"""The columns of the sessions given to `window_keys` (account_id: of the session's tree, null when it has none)."""


def window_keys(sessions: pl.DataFrame, ratings: pl.DataFrame, step_ratings: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The stale keys of each window table, from the changed rows.

    `sessions` has SESSION_COLUMNS, `ratings` and `step_ratings` period and tree_id: each
    row a version (before or after a change) of a row that may count in that period.
    """
    s = sessions.select(*(pl.col(c).cast(t) for c, t in SESSION_COLUMNS.items()))
    accounts = s.filter(pl.col("account_id").is_not_null())
    no_engineer = pl.lit(NO_ENGINEER)
    scoped = pl.concat(
        [
            accounts.select("period", scope=pl.lit(ACCOUNT), scope_id="account_id", engineer_id=no_engineer),
            accounts.select("period", scope=pl.lit(ACCOUNT_ENGINEER), scope_id="account_id", engineer_id="user_id"),
            s.select("period", scope=pl.lit(USER), scope_id="user_id", engineer_id=no_engineer),
            s.select("period", scope=pl.lit(TREE), scope_id="tree_id", engineer_id=no_engineer),
        ]
    ).unique()
    listed = scoped.filter(pl.col("scope").is_in([ACCOUNT, USER])).select("period", "scope", "scope_id").unique()
    trees = pl.concat([s.select("period", "tree_id"), step_ratings.select("period", pl.col("tree_id").cast(pl.String))])
    return {
        "window_summary": scoped,
        "window_time_series": scoped,
        "window_top_flows": listed,
        "window_top_engineers": listed.filter(pl.col("scope") == ACCOUNT),
        "window_step_feedback": trees.unique(),
        "window_ratings": ratings.select("period", pl.col("tree_id").cast(pl.String)).unique(),
    }


def scope_ids(keys: pl.DataFrame, scope: str) -> pl.DataFrame:
    """The distinct scope_id (and engineer_id) of the stale keys of one scope kind."""
    return keys.filter(pl.col("scope") == scope).select("scope_id", "engineer_id").unique()
