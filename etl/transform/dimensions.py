"""The users and trees dimensions, as the API and analysts read them."""

from __future__ import annotations

import polars as pl


def users(source_users: pl.LazyFrame) -> pl.LazyFrame:
    return source_users.select(
        "user_id",
        "account_id",
        "name",
        pl.col("is_active", "is_team_admin", "is_super_admin").fill_null(False),
    )


def trees(source_trees: pl.LazyFrame) -> pl.LazyFrame:
    return source_trees.select("tree_id", "account_id", "name")
