"""Tests of etl.publish.sort_key: sorting through one packed Int64 key matches Polars' multi-column sort."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etl.publish.sort_key import packed_key, sort_by_keys

Keys = list[tuple[str, bool]]


def polars_sort(frame: pl.DataFrame, keys: Keys) -> pl.DataFrame:
    """The reference: Polars' multi-column sort, nulls first in each column."""
    return frame.sort([name for name, _ in keys], descending=[desc for _, desc in keys], nulls_last=False)


def assert_sorted_like_polars(frame: pl.DataFrame, keys: Keys) -> None:
    """Same key values in the same order as Polars, and every row kept whole (a permutation)."""
    names = [name for name, _ in keys]
    result = sort_by_keys(frame, keys)
    assert result.schema == frame.schema
    assert_frame_equal(result.select(names), polars_sort(frame, keys).select(names))
    assert_frame_equal(result.sort(pl.all(), nulls_last=False), frame.sort(pl.all(), nulls_last=False))


# --- random frames ------------------------------------------------------------------------

TEXTS = ["", "a", "B", "b", "ab", "zz", "é", "a b"]
DATES = [date(2024, 1, 1) + timedelta(days=d) for d in (-400, -1, 0, 1, 2, 31, 365)]
# (dtype, pool of values) per generated column kind; every pool is small, so the packed key fits.
KINDS: dict[str, tuple[pl.DataType, list[Any]]] = {
    "text": (pl.String(), TEXTS),
    "category": (pl.Categorical(), TEXTS),
    "day": (pl.Date(), DATES),
    "int8": (pl.Int8(), [-128, -3, 0, 1, 2, 127]),
    "int64": (pl.Int64(), [-1000, -1, 0, 5, 999]),
    "uint16": (pl.UInt16(), [0, 1, 7, 65535]),
}


@st.composite
def frames_and_keys(draw: st.DrawFn) -> tuple[pl.DataFrame, Keys]:
    height = draw(st.integers(min_value=0, max_value=25))
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4))
    columns: dict[str, pl.Series] = {}
    for i, kind in enumerate(kinds):
        dtype, pool = KINDS[kind]
        # A few distinct values per column, so that duplicates and ties are common.
        values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
        cells = draw(st.lists(st.one_of(st.none(), st.sampled_from(values)), min_size=height, max_size=height))
        name = f"{kind}_{i}"
        if kind == "category":
            columns[name] = pl.Series(name, cells, dtype=pl.String).cast(pl.Categorical)
        else:
            columns[name] = pl.Series(name, cells, dtype=dtype)
    columns["row"] = pl.Series("row", range(height), dtype=pl.UInt32)  # payload, not a key
    names = draw(st.permutations(list(columns)[:-1]))
    keys = [(name, draw(st.booleans())) for name in names]
    return pl.DataFrame(list(columns.values())), keys


@settings(max_examples=50, deadline=None)
@given(frames_and_keys())
def test_packed_sort_matches_polars_sort_on_random_frames(case: tuple[pl.DataFrame, Keys]) -> None:
    frame, keys = case
    if frame.height >= 2:
        assert packed_key(frame, keys) is not None  # the packed path is the one under test
    assert_sorted_like_polars(frame, keys)


@settings(max_examples=50, deadline=None)
@given(frames_and_keys())
def test_packed_key_orders_rows_as_the_keys_do(case: tuple[pl.DataFrame, Keys]) -> None:
    # Equal keys pack equal; otherwise the packed order is the multi-column order.
    frame, keys = case
    packed = packed_key(frame, keys)
    assert packed is not None
    assert packed.dtype == pl.Int64
    assert packed.len() == frame.height
    assert packed.null_count() == 0
    assert (packed >= 0).all()
    names = [name for name, _ in keys]
    ranked = frame.select(names).with_columns(packed.alias("__packed"))
    reference = polars_sort(ranked, keys)
    assert reference["__packed"].is_sorted()
    # Rows with the same key values get the same packed value, and different ones differ.
    assert ranked.select(names).n_unique() == ranked["__packed"].n_unique()


# --- nulls and descending ------------------------------------------------------------------


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize(
    "column",
    [
        pl.Series("k", [2, None, 3, 1], dtype=pl.Int64),
        pl.Series("k", ["b", None, "c", "a"]),
        pl.Series("k", ["b", None, "c", "a"]).cast(pl.Categorical),
        pl.Series("k", [date(2024, 1, 2), None, date(2024, 1, 3), date(2024, 1, 1)]),
    ],
    ids=["int", "text", "category", "date"],
)
def test_nulls_come_first_in_either_direction(column: pl.Series, descending: bool) -> None:
    frame = pl.DataFrame([column, pl.Series("row", [0, 1, 2, 3])])
    result = sort_by_keys(frame, [("k", descending)])
    assert result["k"][0] is None
    assert_sorted_like_polars(frame, [("k", descending)])


def test_descending_key_between_ascending_keys_with_nulls() -> None:
    frame = pl.DataFrame(
        {
            "a": ["x", "x", "x", "y", None, "x"],
            "b": [1, None, 3, 1, 2, 3],
            "c": ["p", "q", None, "p", "q", "p"],
        }
    )
    assert_sorted_like_polars(frame, [("a", False), ("b", True), ("c", False)])


# --- Categorical: by text, not by physical code -----------------------------------------


def test_categorical_sorts_by_text_not_by_first_seen_code() -> None:
    # Fresh category names first seen in non-lexical order, so their physical codes disagree
    # with their text order (categories are global: reuse of older names could hide that).
    words = ["zulu-8c1f", "alpha-8c1f", "mike-8c1f", "bravo-8c1f"]
    column = pl.Series("k", [*words, None, "alpha-8c1f"], dtype=pl.String).cast(pl.Categorical)
    by_code = [word for _, word in sorted(zip(column.to_physical()[:4].to_list(), words, strict=True))]
    assert by_code != sorted(words)  # precondition: physical code order is not text order

    frame = pl.DataFrame([column, pl.Series("row", range(6))])
    assert packed_key(frame, [("k", False)]) is not None
    ascending = sort_by_keys(frame, [("k", False)])["k"].cast(pl.String).to_list()
    assert ascending == [None, "alpha-8c1f", "alpha-8c1f", "bravo-8c1f", "mike-8c1f", "zulu-8c1f"]
    assert_sorted_like_polars(frame, [("k", False)])

    # Descending, on the rows without a null (nulls with descending keys are tested above).
    no_nulls = frame.drop_nulls()
    descending = sort_by_keys(no_nulls, [("k", True)])["k"].cast(pl.String).to_list()
    assert descending == ["zulu-8c1f", "mike-8c1f", "bravo-8c1f", "alpha-8c1f", "alpha-8c1f"]
    assert_sorted_like_polars(no_nulls, [("k", True)])


def test_categorical_rank_uses_only_the_columns_own_values() -> None:
    # Many other categories exist globally; the key still needs only this column's few values.
    pl.Series([f"unrelated-{i}" for i in range(1000)]).cast(pl.Categorical)
    frame = pl.DataFrame({"k": pl.Series(["q", "p", "q"]).cast(pl.Categorical), "n": [3, 2, 1]})
    packed = packed_key(frame, [("k", False), ("n", False)])
    assert packed is not None
    assert packed.to_list() == [0b10_11, 0b01_10, 0b10_01]  # p=1, q=2 high; n - min(n) + 1 low


# --- fallback: floats and keys over 63 bits ------------------------------------------------


def test_float_key_is_not_packed_and_falls_back_to_polars() -> None:
    frame = pl.DataFrame(
        {
            "g": ["b", "a", "b", "a", None],
            "rate": [0.5, None, -1.25, 0.5, 2.0],
            "row": [0, 1, 2, 3, 4],
        }
    )
    for keys in ([("rate", False)], [("g", False), ("rate", True)], [("rate", True), ("g", True)]):
        assert packed_key(frame, keys) is None
        assert_sorted_like_polars(frame, keys)


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_keys_over_63_bits_are_not_packed_and_still_sort(descending: bool) -> None:
    big = 2**40
    frame = pl.DataFrame(
        {
            "a": [big, -big, 0, big, None],
            "b": [-big, big, 7, -big, 0],
            "c": [1, 2, 3, None, 5],
        }
    )
    keys = [("a", descending), ("b", not descending), ("c", descending)]
    assert packed_key(frame, keys) is None  # 42 + 42 + 3 bits
    assert_sorted_like_polars(frame, keys)


def test_full_int64_range_is_not_packed_and_still_sorts() -> None:
    frame = pl.DataFrame({"k": [2**63 - 1, -(2**63), 0, None]})
    assert packed_key(frame, [("k", False)]) is None
    assert_sorted_like_polars(frame, [("k", False)])


def test_exactly_62_bits_are_packed_and_63_are_not() -> None:
    # A range of 2**30 - 1 values (plus null) needs 30 bits, 2**31 values need 32.
    frame = pl.DataFrame({"a": [0, 2**30 - 2, 5], "b": [0, 2**31 - 1, 9], "c": [9, 0, 2**30 - 1]})
    assert packed_key(frame, [("b", False), ("a", True)]) is not None  # 32 + 30 = 62
    assert packed_key(frame, [("b", False), ("c", True)]) is None  # 32 + 31 = 63
    single = pl.DataFrame({"k": [0, 2**62 - 2, 3]})  # 2**62 - 1 values: exactly 62 bits
    assert packed_key(single, [("k", False)]) is not None
    for keys in ([("b", False), ("a", True)], [("b", False), ("c", True)]):
        assert_sorted_like_polars(frame, keys)
    assert_sorted_like_polars(single, [("k", True)])


def test_unsigned_column_beyond_int64_sorts_like_polars() -> None:
    frame = pl.DataFrame({"k": pl.Series([2**64 - 1, 0, 2**63], dtype=pl.UInt64)})
    assert_sorted_like_polars(frame, [("k", False)])


# --- trivial frames --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pl.DataFrame(schema={"a": pl.String, "b": pl.Int64, "c": pl.Float64}),
        pl.DataFrame({"a": ["x"], "b": [None], "c": [1.5]}, schema={"a": pl.String, "b": pl.Int64, "c": pl.Float64}),
    ],
    ids=["empty", "one-row"],
)
def test_empty_and_one_row_frames_come_back_unchanged(frame: pl.DataFrame) -> None:
    for keys in ([("a", False)], [("b", True), ("a", False)], [("c", True)]):
        assert_frame_equal(sort_by_keys(frame, keys), frame)


def test_no_keys_leaves_the_order_alone() -> None:
    frame = pl.DataFrame({"a": [3, 1, 2]})
    assert_frame_equal(sort_by_keys(frame, []), frame)


def test_all_null_key_column_packs_and_keeps_the_other_keys_order() -> None:
    frame = pl.DataFrame({"n": pl.Series([None, None, None], dtype=pl.Int32), "v": ["b", "c", "a"]})
    keys = [("n", True), ("v", False)]
    assert packed_key(frame, keys) is not None
    assert sort_by_keys(frame, keys)["v"].to_list() == ["a", "b", "c"]
    assert_sorted_like_polars(frame, keys)
