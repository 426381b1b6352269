"""The publish audits (etl/sql/audits.sql) on hand-made stores: the sample passes, bad data fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config import PERIODS
from etl.errors import AuditError
from tests.api.conftest import publish_store
from tests.api.sample import ACCOUNT_A, AS_OF, Row, sample_rows

WINDOW_TABLES = ("window_summary", "window_time_series")


def relabelled(rows: dict[str, list[Row]], periods: dict[str, str], scope_id: str | None = None) -> None:
    """Rename periods in the window tables (of one scope id, or all), summaries and series alike."""
    for table in WINDOW_TABLES:
        for row in rows[table]:
            if row["period"] in periods and scope_id in (None, row["scope_id"]):
                row["period"] = periods[row["period"]]


def failed_audits(store_path: Path, rows: dict[str, list[Row]]) -> str:
    with pytest.raises(AuditError) as failed:
        publish_store(store_path, rows, as_of=AS_OF)
    return str(failed.value)


def test_the_sample_passes_every_audit(store_path: Path) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)


def test_a_shorter_window_with_more_sessions_fails(store_path: Path) -> None:
    rows = sample_rows()
    shortest, longest = min(PERIODS, key=PERIODS.__getitem__), max(PERIODS, key=PERIODS.__getitem__)
    relabelled(rows, {shortest: longest, longest: shortest}, ACCOUNT_A)  # 7d: 10 sessions, 90d: 3
    assert failed_audits(store_path, rows).startswith("the new store failed audits: windows_nest (")


def test_periods_of_any_length_nest(store_path: Path) -> None:
    rows = sample_rows()
    relabelled(rows, {"7d": "14d", "90d": "365d"})  # the audit reads each period's days from its name
    publish_store(store_path, rows, as_of=AS_OF)


def test_a_period_not_named_in_days_fails(store_path: Path) -> None:
    rows = sample_rows()
    relabelled(rows, {"7d": "week"})
    assert "periods_named_in_days (1 rows)" in failed_audits(store_path, rows)


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_history_must_cover_every_window(store_path: Path, period: str) -> None:
    rows = sample_rows()
    rows["daily_sessions"] = [r for r in rows["daily_sessions"] if r["scope_id"] != ACCOUNT_A]
    # Only `period`'s rows of account A are left: whichever window it is, the history must cover it.
    rows["window_summary"] = [r for r in rows["window_summary"] if r["scope_id"] != ACCOUNT_A or r["period"] == period]
    rows["window_time_series"] = [
        r for r in rows["window_time_series"] if r["scope_id"] != ACCOUNT_A or r["period"] == period
    ]
    assert "history_covers_window (1 rows)" in failed_audits(store_path, rows)
