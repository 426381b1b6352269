"""Tests of etl.transform.common: outcome counts, the median, rate, top_n."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.transform.common import (
    median_minutes,
    median_reference,
    outcome_counts,
    rate,
    top_n,
)
from tests.unit.etl.transform.frames import assert_rows

# --- median: PostgreSQL percentile_cont(0.5), bit for bit -------------------------------

# PostgreSQL computes lo + (hi - lo) * 0.5, not (lo + hi) / 2; for the pairs below the two
# differ in floating point, and for 0.1 and 1.2 the difference even flips round(x, 1):
# 0.6 (the formula) where the mean gives 0.7.
MEDIAN_CASES = [
    pytest.param([7.5], 7.5, id="one"),
    pytest.param([3.0, 1.0, 2.0], 2.0, id="odd-takes-the-middle"),
    pytest.param([4.0, 1.0, 3.0, 2.0], 2.5, id="even-interpolates"),
    pytest.param([0.5, 0.1], 0.1 + (0.5 - 0.1) * 0.5, id="lo-plus-half-the-gap-not-mean"),
    pytest.param([1.2, 0.1], 0.6499999999999999, id="formula-rounds-down-where-mean-rounds-up"),
    pytest.param([10.1, 0.1, 3.3, 0.2], 1.7499999999999998, id="four-values-formula-not-mean"),
    pytest.param([-3.0, 10.0, 1.0], 1.0, id="negative-duration-sorts-first"),
    pytest.param([-3.0, 2.0], -0.5, id="negative-duration-interpolated"),
    pytest.param([None, 5.0, None, 1.0, 2.0], 2.0, id="incomplete-sessions-ignored"),
    pytest.param([2.0, 2.0, 9.0, 2.0], 2.0, id="repeated-values"),
]


@pytest.mark.parametrize(("durations", "median"), MEDIAN_CASES)
def test_median_minutes_is_percentile_cont(durations: list[float | None], median: float) -> None:
    sessions = pl.LazyFrame(
        {"g": ["x"] * len(durations), "duration_minutes": durations},
        schema={"g": pl.String, "duration_minutes": pl.Float64},
    )
    expected = pl.DataFrame(
        {"g": ["x"], "median_duration_minutes": [median]},
        schema={"g": pl.String, "median_duration_minutes": pl.Float64},
    )
    assert_rows(sessions.group_by("g").agg(median_minutes()), expected, by=["g"], whole=True)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)),
        min_size=1,
        max_size=12,
    ).filter(lambda values: any(v is not None for v in values))
)
def test_median_minutes_is_the_explicit_formula_bit_for_bit(durations: list[float | None]) -> None:
    sessions = pl.DataFrame({"duration_minutes": durations}, schema={"duration_minutes": pl.Float64})
    [median] = sessions.select(median_minutes()).to_series().to_list()
    assert median == median_reference([d for d in durations if d is not None])


def test_median_minutes_per_group_and_null_without_completed() -> None:
    sessions = pl.LazyFrame(
        {
            "g": ["a", "a", "b", "b", "b", "c"],
            "duration_minutes": [0.1, 0.5, 9.0, 1.0, None, None],
        },
        schema={"g": pl.String, "duration_minutes": pl.Float64},
    )
    expected = pl.DataFrame(
        {"g": ["a", "b", "c"], "median_duration_minutes": [0.30000000000000004, 5.0, None]},
        schema={"g": pl.String, "median_duration_minutes": pl.Float64},
    )
    assert_rows(sessions.group_by("g").agg(median_minutes()), expected, by=["g"], whole=True)


# --- outcome counts ---------------------------------------------------------------------

OUTCOME_FRAME = pl.DataFrame(
    {
        "outcome": ["resolved", "resolved", "escalated", "workaround", "Resolved", "other", None, "unresolved"],
        "duration_minutes": [1.0, None, 2.0, None, 3.0, 4.0, 5.0, 6.0],
    },
    schema={"outcome": pl.String, "duration_minutes": pl.Float64},
)


@pytest.mark.parametrize(
    ("among_completed", "counts"),
    [
        pytest.param(False, [2, 1, 1, 1], id="all-sessions"),
        pytest.param(True, [1, 1, 0, 1], id="completed-only"),
    ],
)
def test_outcome_counts_ignore_unknown_and_null(among_completed: bool, counts: list[int]) -> None:
    # 'Resolved' (case differs), 'other' and NULL are in no count.
    expected = pl.DataFrame(
        [counts],
        schema={"resolved": pl.Int64, "escalated": pl.Int64, "workaround": pl.Int64, "unresolved": pl.Int64},
        orient="row",
    )
    assert_rows(OUTCOME_FRAME.select(outcome_counts(among_completed=among_completed)), expected, by=[], whole=True)


# --- rate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "value"),
    [
        pytest.param(3, 4, 0.75, id="plain"),
        pytest.param(2, 3, 2 / 3, id="unrounded"),
        pytest.param(0, 5, 0.0, id="zero-numerator"),
        pytest.param(0, 0, 0.0, id="zero-over-zero"),
        pytest.param(2, 0, 0.0, id="zero-denominator"),
    ],
)
def test_rate(numerator: int, denominator: int, value: float) -> None:
    frame = pl.DataFrame({"n": [numerator], "d": [denominator]}, schema={"n": pl.Int64, "d": pl.Int64})
    expected = pl.DataFrame({"r": [value]}, schema={"r": pl.Float64})
    assert_rows(frame.select(rate("n", "d").alias("r")), expected, by=[], whole=True)


# --- top_n ------------------------------------------------------------------------------


def test_top_n_ties_by_name_in_code_point_order_then_id() -> None:
    # Code points: 'B' (U+0042) < 'a' (U+0061) < 'É' (U+00C9); a locale collation would differ.
    items = pl.LazyFrame(
        {
            "group": ["g1", "g1", "g1", "g1", "g1", "g2", "g2"],
            "sessions": [1, 1, 1, 1, 5, 1, 1],
            "name": ["É", "a", "B", "a", "z", "y", "x"],
            "id": ["i1", "i3", "i4", "i2", "i5", "i6", "i7"],
        }
    )
    expected = pl.DataFrame(
        {
            "group": ["g1", "g1", "g1", "g1", "g1", "g2", "g2"],
            "id": ["i5", "i4", "i2", "i3", "i1", "i7", "i6"],
            "rank": [1, 2, 3, 4, 5, 1, 2],
        },
        schema={"group": pl.String, "id": pl.String, "rank": pl.Int32},
    )
    ranked = top_n(items, "group", ["sessions", "name", "id"], [True, False, False])
    assert_rows(ranked, expected, by=["group", "rank"])


@pytest.mark.parametrize("n", [pytest.param(1, id="n=1"), pytest.param(3, id="n=3"), pytest.param(10, id="n>rows")])
def test_top_n_keeps_the_first_n_per_group(n: int) -> None:
    items = pl.LazyFrame({"group": ["g"] * 4 + ["h"], "value": [4, 3, 2, 1, 7]})
    kept = top_n(items, "group", ["value"], [True], n=n).collect()
    assert kept.filter(pl.col("group") == "g")["value"].sort(descending=True).to_list() == [4, 3, 2, 1][:n]
    assert kept.filter(pl.col("group") == "h")["rank"].to_list() == [1]
