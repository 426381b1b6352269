"""Tests of etl.changes' pure parts: when a watermark is vouched for, drift, moved trees."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from etl.changes import WATERMARK_SPAN, Unvouched, differing_rows, moved_trees, vouched_watermark
from etl.extract import Snapshot

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def snapshot(watermark: int, *, identity: str = "sys/16384/app", filenodes: str = "sessions:1") -> Snapshot:
    return Snapshot("snap", watermark, NOW, identity, filenodes)


def meta(watermark: str | None, *, identity: str = "sys/16384/app", filenodes: str = "sessions:1") -> dict[str, str]:
    kept = {"source_identity": identity, "source_filenodes": filenodes}
    return {**kept, "source_watermark": watermark} if watermark is not None else kept


def test_a_watermark_is_read_as_its_32_bit_xid() -> None:
    assert vouched_watermark(meta(str(5 * 2**32 + 1000)), snapshot(5 * 2**32 + 2000)) == 1000


@pytest.mark.parametrize(
    ("stored", "current", "why"),
    [
        pytest.param(meta(None), snapshot(100), "no source watermark", id="none-kept"),
        pytest.param(meta("200"), snapshot(100), "ahead of the source", id="ahead"),
        pytest.param(meta("100"), snapshot(100 + WATERMARK_SPAN), "wraparound", id="wraparound"),
        pytest.param(meta("100", identity="other"), snapshot(150), "another database", id="other-database"),
        pytest.param(meta("100", filenodes="sessions:2"), snapshot(150), "rewritten", id="rewritten"),
    ],
)
def test_a_watermark_the_store_cannot_vouch_for_says_why(stored: dict[str, str], current: Snapshot, why: str) -> None:
    with pytest.raises(Unvouched, match=why):
        vouched_watermark(stored, current)


def test_the_last_watermark_before_wraparound_is_still_vouched_for() -> None:
    assert vouched_watermark(meta("100"), snapshot(100 + WATERMARK_SPAN - 1)) == 100


def test_differing_rows_counts_changed_missing_and_extra_rows() -> None:
    source = pl.DataFrame({"id": ["a", "b", "c"], "v": [1, 2, 3], "nodes": [["x"], [], ["y", "z"]]})
    held = pl.DataFrame({"id": ["a", "b", "d"], "v": [1, 5, 4], "nodes": [["x"], [], []]})
    # b differs (counted on both sides), c is missing from held, d is extra.
    assert differing_rows(source, held, "id") == 4
    assert differing_rows(source, source.reverse(), "id") == 0
    assert differing_rows(None, None, "id") == 0
    assert differing_rows(source, None, "id") == 3


def test_a_tree_moved_added_or_removed_is_moved() -> None:
    before = pl.DataFrame({"tree_id": ["t1", "t2", "t3"], "account_id": ["a", "a", "a"]})
    after = pl.DataFrame({"tree_id": ["t1", "t2", "t4"], "account_id": ["a", "b", "a"], "name": ["", "", ""]})
    assert sorted(moved_trees(before, after)) == ["t2", "t3", "t4"]
