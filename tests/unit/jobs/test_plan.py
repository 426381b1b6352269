"""Tests of jobs.plan: the day ranges a refresh reads the source in are contiguous, whole UTC days,
covering exactly the lookback (open-ended) and the history before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.plan import HISTORY_CHUNK_DAYS, WINDOW_CHUNK_DAYS, history_chunks, lookback_start, window_chunks


@pytest.mark.parametrize(
    "as_of",
    [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC),
    ],
    ids=["midnight", "mid-day", "end-of-day"],
)
def test_window_ranges_cover_the_lookback_and_everything_after(as_of: datetime) -> None:
    since = lookback_start(as_of)
    ranges = window_chunks(since, as_of)

    assert ranges[0][0] == since
    assert ranges[-1][1] is None  # no upper bound: sessions after as_of are in every window
    for (start, end), (next_start, _) in zip(ranges, ranges[1:], strict=False):
        assert end == next_start
        assert end - start == timedelta(days=WINDOW_CHUNK_DAYS)
    for start, _ in ranges:
        assert start < as_of and (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)
    # The last range is never longer than the others, up to as_of.
    assert as_of - ranges[-1][0] <= timedelta(days=WINDOW_CHUNK_DAYS)


def test_history_ranges_end_at_the_lookback() -> None:
    since = datetime(2026, 8, 3, tzinfo=UTC)
    first = datetime(2025, 11, 1, 17, 5, tzinfo=UTC)
    ranges = history_chunks(first, since)

    assert ranges[0][0] == datetime(2025, 11, 1, tzinfo=UTC)
    assert ranges[-1][1] == since
    assert all(end - start <= timedelta(days=HISTORY_CHUNK_DAYS) for start, end in ranges)
    assert all(end == next_start for (_, end), (next_start, _) in zip(ranges, ranges[1:], strict=False))
    assert history_chunks(None, since) == [] and history_chunks(since, since) == []
