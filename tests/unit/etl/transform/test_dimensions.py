"""Tests of etl.transform.dimensions: the users dimension (trees is a plain column selection)."""

from __future__ import annotations

import polars as pl

from etl.transform.dimensions import users
from tests.unit.etl.transform.frames import USERS, assert_rows


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
