"""The API's lookups on one store snapshot: one method per store table it reads.

Each lookup selects the fields of a response model (metrics_api.models) by name, straight
from the store's columns; `select` says which fields a column of another name, or an
expression, stands for. The rows are validated into the model, which rounds. Parameterised
and fully fetched; never writes, never opens a store itself (the reader hands it a cursor).
"""

from __future__ import annotations

from typing import Any, TypeVar

import duckdb
from pydantic import BaseModel

from etl.scopes import ACCOUNT, NO_ENGINEER
from metrics_api.models import (
    AnalyticsSummary,
    FlowRatingItem,
    OutcomeBreakdown,
    StepFeedbackSummary,
    TimeSeriesPoint,
    TopEngineer,
    TopFlow,
)

M = TypeVar("M", bound=BaseModel)


def select(model: type[BaseModel], **expressions: str) -> str:
    """The SELECT list of `model`'s fields, in order: the store column of the field's name,
    unless `expressions` gives the column or expression the field stands for."""
    return ", ".join(f"{expressions[name]} AS {name}" if name in expressions else name for name in model.model_fields)


SUMMARY = select(
    AnalyticsSummary,
    outcome_breakdown="{" + ", ".join(f"'{name}': {name}" for name in OutcomeBreakdown.model_fields) + "}",
)
TIME_SERIES = select(TimeSeriesPoint, date="CAST(day AS VARCHAR)")  # ISO 8601, as date.isoformat()
TOP_FLOW = select(TopFlow, name="tree_name")
TOP_ENGINEER = select(TopEngineer)
STEP_FEEDBACK = select(StepFeedbackSummary, visit_count="visits", dropoff_count="dropoffs")
COMMENT = select(FlowRatingItem)


Replaced = dict[str, frozenset[tuple[str, ...]]]
"""Per table, the keys an overlay replaces (etl.store.UNIT_KEYS), as text."""


class StoreQueries:
    """The API's lookups, one method per store table it reads; parameterised, fully fetched.

    Each filters on the table's sort key (publish writes rows sorted by it), so DuckDB's
    zone maps skip most row groups. Each looks up one key of its table (etl.store.UNIT_KEYS):
    on a store with an overlay (`replaced` given, the cursor's database holding the base and
    the overlay attached as `base` and `overlay`), it reads that key's rows from the one file
    that holds them: the overlay when it replaces the key, else the base.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, replaced: Replaced | None = None) -> None:
        self._cursor = cursor
        self._replaced = replaced

    def _table(self, table: str, key: list[str]) -> str:
        if self._replaced is None:
            return table
        return f"overlay.{table}" if tuple(key) in self._replaced.get(table, frozenset()) else f"base.{table}"

    def sql(self, query: str, params: list[str]) -> list[tuple[Any, ...]]:
        """Any read-only query, fully fetched (the page's operator views)."""
        # fetchall: an unfinished fetch would block this cursor's connection.
        return self._cursor.execute(query, params).fetchall()

    def _models(self, model: type[M], columns: str, table_and_filter: str, params: list[str]) -> list[M]:
        found = self._cursor.execute(f"SELECT {columns} FROM {table_and_filter}", params)
        names = [column[0] for column in found.description]  # the SELECT list's aliases: the model's fields
        return [model.model_validate(dict(zip(names, row, strict=True))) for row in found.fetchall()]

    def summary(self, period: str, scope: str, scope_id: str, engineer_id: str = NO_ENGINEER) -> AnalyticsSummary:
        rows = self._models(
            AnalyticsSummary,
            SUMMARY,
            f"{self._table('window_summary', key := [period, scope, scope_id, engineer_id])} "
            "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ?",
            key,
        )
        return rows[0] if rows else AnalyticsSummary.empty()

    def time_series(
        self, period: str, scope: str, scope_id: str, engineer_id: str = NO_ENGINEER
    ) -> list[TimeSeriesPoint]:
        return self._models(
            TimeSeriesPoint,
            TIME_SERIES,
            f"{self._table('window_time_series', key := [period, scope, scope_id, engineer_id])} "
            "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ? ORDER BY day",
            key,
        )

    def top_flows(self, period: str, scope: str, scope_id: str) -> list[TopFlow]:
        return self._models(
            TopFlow,
            TOP_FLOW,
            f"{self._table('window_top_flows', key := [period, scope, scope_id])} "
            "WHERE period = ? AND scope = ? AND scope_id = ? ORDER BY rank",
            key,
        )

    def top_engineers(self, period: str, account_id: str) -> list[TopEngineer]:
        return self._models(
            TopEngineer,
            TOP_ENGINEER,
            f"{self._table('window_top_engineers', key := [period, ACCOUNT, account_id])} "
            "WHERE period = ? AND scope = ? AND scope_id = ? ORDER BY rank",
            key,
        )

    def step_feedback(self, period: str, tree_id: str) -> list[StepFeedbackSummary]:
        """Ordered by the rounded dropoff_rate desc, then node_id (code points), as the app sorted.

        The app listed nodes in node_id order, then sorted stably by the rate it had rounded:
        two nodes at 1/82 and 1/84 both show 0.012 and keep node_id order.
        """
        steps = self._models(
            StepFeedbackSummary,
            STEP_FEEDBACK,
            f"{self._table('window_step_feedback', key := [period, tree_id])} WHERE period = ? AND tree_id = ?",
            key,
        )
        return sorted(steps, key=lambda step: (-step.dropoff_rate, step.node_id))

    def ratings(self, period: str, tree_id: str) -> tuple[float | None, int]:
        """(avg_csat, total_ratings) as stored; (None, 0) when the tree has no rating in the window."""
        table = self._table("window_ratings", key := [period, tree_id])
        rows = self.sql(f"SELECT avg_csat, total_ratings FROM {table} WHERE period = ? AND tree_id = ?", key)
        return (rows[0][0], rows[0][1]) if rows else (None, 0)

    def recent_comments(self, tree_id: str) -> list[FlowRatingItem]:
        # The author is never stored, so never included.
        table = self._table("recent_comments", [tree_id])
        return self._models(FlowRatingItem, COMMENT, f"{table} WHERE tree_id = ? ORDER BY rank", [tree_id])
