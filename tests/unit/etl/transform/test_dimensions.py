"""Tests of etl.transform.dimensions: the users and trees dimensions."""

from __future__ import annotations

import polars as pl

from etl.transform.dimensions import trees, users
from tests.unit.etl.transform.frames import TREES, USERS, assert_rows


def test_users_keep_null_names_and_read_null_flags_as_false() -> None:
    source = pl.LazyFrame(
        [
            ("u1", "a1", "Ann", True, True, False),
            ("u2", "a1", None, None, None, None),
        ],
        schema=USERS,
        orient="row",
    )
    expected = pl.DataFrame(
        [
            ("u1", "a1", "Ann", True, True, False),
            ("u2", "a1", None, False, False, False),
        ],
        schema=USERS,
        orient="row",
    )
    assert_rows(users(source), expected, by=["user_id"], whole=True)


def test_trees_drop_the_structure() -> None:
    source = pl.LazyFrame(
        [("t1", "a1", "Flow", '{"id": "a"}'), ("t2", "a2", "Other", None)], schema=TREES, orient="row"
    )
    expected = pl.DataFrame(
        [("t1", "a1", "Flow"), ("t2", "a2", "Other")],
        schema={"tree_id": pl.String, "account_id": pl.String, "name": pl.String},
        orient="row",
    )
    assert_rows(trees(source), expected, by=["tree_id"], whole=True)
