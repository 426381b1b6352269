"""The API's lookups on one store snapshot: one method per store table it reads.

Parameterised and fully fetched; never writes, never opens a store itself (the reader
hands it a cursor).
"""

from __future__ import annotations

from typing import Any

import duckdb

Row = tuple[Any, ...]


class StoreQueries:
    """The API's lookups, one method per store table it reads; parameterised, fully fetched.

    Each filters on the table's sort key (publish writes rows sorted by it), so DuckDB's
    zone maps skip most row groups.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor

    def _rows(self, query: str, params: list[str]) -> list[Row]:
        # fetchall: an unfinished fetch would block this cursor's connection.
        return self._cursor.execute(query, params).fetchall()

    def window_summary(self, period: str, scope: str, scope_id: str, engineer_id: str = "") -> Row | None:
        rows = self._rows(
            "SELECT total_sessions, completed_sessions, completion_rate, median_duration_minutes, "
            "active_engineers, resolved, escalated, workaround, unresolved FROM window_summary "
            "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ?",
            [period, scope, scope_id, engineer_id],
        )
        return rows[0] if rows else None

    def window_time_series(self, period: str, scope: str, scope_id: str, engineer_id: str = "") -> list[Row]:
        return self._rows(
            "SELECT day, sessions, resolved, escalated, workaround, unresolved FROM window_time_series "
            "WHERE period = ? AND scope = ? AND scope_id = ? AND engineer_id = ? ORDER BY day",
            [period, scope, scope_id, engineer_id],
        )

    def window_top_flows(self, period: str, scope: str, scope_id: str) -> list[Row]:
        return self._rows(
            "SELECT tree_id, tree_name, sessions, completion_rate, median_duration_minutes FROM window_top_flows "
            "WHERE period = ? AND scope = ? AND scope_id = ? ORDER BY rank",
            [period, scope, scope_id],
        )

    def window_top_engineers(self, period: str, account_id: str) -> list[Row]:
        return self._rows(
            "SELECT user_id, name, sessions, completion_rate, median_duration_minutes FROM window_top_engineers "
            "WHERE period = ? AND scope = 'account' AND scope_id = ? ORDER BY rank",
            [period, account_id],
        )

    def window_step_feedback(self, period: str, tree_id: str) -> list[Row]:
        # The shown order needs the rounded rate: metrics_api.responses.step_feedback sorts.
        return self._rows(
            "SELECT node_id, node_title, visits, dropoffs, dropoff_rate, helpful_yes, helpful_no, helpful_rate "
            "FROM window_step_feedback WHERE period = ? AND tree_id = ?",
            [period, tree_id],
        )

    def window_ratings(self, period: str, tree_id: str) -> Row | None:
        rows = self._rows(
            "SELECT avg_csat, total_ratings FROM window_ratings WHERE period = ? AND tree_id = ?", [period, tree_id]
        )
        return rows[0] if rows else None

    def recent_comments(self, tree_id: str) -> list[Row]:
        return self._rows(
            "SELECT rating, comment, created_at FROM recent_comments WHERE tree_id = ? ORDER BY rank", [tree_id]
        )
