"""Ids as Categorical: group-bys and joins on 4-byte codes, not 36-character text.

Polars shares one set of categories among all Categorical columns, so frames coded
separately (chunks of a refresh) concatenate and join; a Categorical sorts by its text, so
top-N tie-breaks are unchanged. Measured on the 90-day window of 10M sessions, the window
rollups ran 2x faster than on text ids. Publishing hands Categorical columns to DuckDB as
Arrow dictionaries, which it stores as text.

Every frame is coded once, as it enters the transform: the dimensions in
`etl.transform.parts.Dimensions.of`, the sessions and step ratings in the
etl.transform.assembly functions that take them (`sessions`, `step_ratings` below). The
builders of etl.transform.parts take coded frames and code nothing; nothing decodes, the
store gets the text (the users, trees and tree_nodes tables too).
"""

from __future__ import annotations

import polars as pl


def encode(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`columns` cast to Categorical."""
    return frame.with_columns(pl.col(columns).cast(pl.Categorical))


def sessions(extracted: pl.DataFrame) -> pl.DataFrame:
    """Sessions as extracted (extract_sessions.sql), with Categorical tree and user ids."""
    return encode(extracted, ["tree_id", "user_id"])


def step_ratings(extracted: pl.DataFrame | None) -> pl.DataFrame | None:
    """Step ratings as extracted, with Categorical tree ids; None (the table is absent) stays None."""
    return encode(extracted, ["tree_id"]) if extracted is not None else None
