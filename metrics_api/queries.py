"""The API's lookups on one store snapshot: one method per store table it reads.

Each lookup's row is a NamedTuple whose fields are the columns it selects: the SELECT list
is generated from the fields, so the layout is stated once and read by name in
metrics_api.responses. Parameterised and fully fetched; never writes, never opens a store
itself (the reader hands it a cursor).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

import duckdb

from etl.scopes import ACCOUNT, NO_ENGINEER


class SummaryRow(NamedTuple):
    total_sessions: int
    completed_sessions: int
    completion_rate: float
    median_duration_minutes: float | None
    active_engineers: int
    resolved: int
    escalated: int
    workaround: int
    unresolved: int


class TimeSeriesRow(NamedTuple):
    day: date
    sessions: int
    resolved: int
    escalated: int
    workaround: int
    unresolved: int


class TopFlowRow(NamedTuple):
    tree_id: str
    tree_name: str
    sessions: int
    completion_rate: float
    median_duration_minutes: float | None


class TopEngineerRow(NamedTuple):
    user_id: str
    name: str
    sessions: int
    completion_rate: float
    median_duration_minutes: float | None


class StepFeedbackRow(NamedTuple):
    node_id: str
    node_title: str
    visits: int
    dropoffs: int
    dropoff_rate: float
    helpful_yes: int
    helpful_no: int
    helpful_rate: float


class RatingsRow(NamedTuple):
    avg_csat: float | None
    total_ratings: int


class CommentRow(NamedTuple):
    rating: int
    comment: str
    created_at: datetime


R = TypeVar("R", bound=tuple[Any, ...])


class StoreQueries:
    """The API's lookups, one method per store table it reads; parameterised, fully fetched.

    Each filters on the table's sort key (publish writes rows sorted by it), so DuckDB's
    zone maps skip most row groups.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor

    def _rows(self, row: type[R], table_and_filter: str, params: list[str]) -> list[R]:
        columns = ", ".join(row._fields)  # type: ignore[attr-defined]
        # fetchall: an unfinished fetch would block this cursor's connection.
        found = self._cursor.execute(f"SELECT {columns} FROM {table_and_filter}", params).fetchall()
        return [row(*values) for values in found]

    def sql(self, query: str, params: list[str]) -> list[tuple[Any, ...]]:
        """Any read-only query, fully fetched (the page's operator views)."""
        return self._cursor.execute(query, params).fetchall()

    def window_summary(
        self, period: str, scope: str, scope_id: str, engineer_id: str = NO_ENGINEER
    ) -> SummaryRow | None:
        rows = self._rows(
            SummaryRow,
            "window_summary WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ?",
            [period, scope, scope_id, engineer_id],
        )
        return rows[0] if rows else None

    def window_time_series(
        self, period: str, scope: str, scope_id: str, engineer_id: str = NO_ENGINEER
    ) -> list[TimeSeriesRow]:
        return self._rows(
            TimeSeriesRow,
            "window_time_series WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ? ORDER BY day",
            [period, scope, scope_id, engineer_id],
        )

    def window_top_flows(self, period: str, scope: str, scope_id: str) -> list[TopFlowRow]:
        return self._rows(
            TopFlowRow,
            "window_top_flows WHERE period = ? AND scope = ? AND scope_id = ? ORDER BY rank",
            [period, scope, scope_id],
        )

    def window_top_engineers(self, period: str, account_id: str) -> list[TopEngineerRow]:
        return self._rows(
            TopEngineerRow,
            "window_top_engineers WHERE period = ? AND scope = ? AND scope_id = ? ORDER BY rank",
            [period, ACCOUNT, account_id],
        )

    def window_step_feedback(self, period: str, tree_id: str) -> list[StepFeedbackRow]:
        # The shown order needs the rounded rate: metrics_api.responses.step_feedback sorts.
        return self._rows(StepFeedbackRow, "window_step_feedback WHERE period = ? AND tree_id = ?", [period, tree_id])

    def window_ratings(self, period: str, tree_id: str) -> RatingsRow | None:
        rows = self._rows(RatingsRow, "window_ratings WHERE period = ? AND tree_id = ?", [period, tree_id])
        return rows[0] if rows else None

    def recent_comments(self, tree_id: str) -> list[CommentRow]:
        return self._rows(CommentRow, "recent_comments WHERE tree_id = ? ORDER BY rank", [tree_id])
