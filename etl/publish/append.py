"""Appending a frame to a store table: its columns in store order, sorted by its lookup key.

Used by the store build (etl.publish); knows nothing of files or publishing.
"""

from __future__ import annotations

import duckdb
import polars as pl

from etl.publish.sort_key import sort_by_keys

# Rows are written sorted by the key the API looks them up by: DuckDB's zone maps then
# skip most row groups (a PRIMARY KEY made the file 7x larger and no faster).
SORT_KEYS: dict[str, str] = {
    "users": "user_id",
    "trees": "tree_id",
    "tree_nodes": "tree_id, node_id",
    "fact_sessions": "started_at",
    "fact_ratings": "created_at",
    "fact_step_ratings": "created_at",
    "window_summary": "period, scope, scope_id, engineer_id",
    "window_time_series": "period, scope, scope_id, engineer_id, day",
    "window_top_flows": "period, scope, scope_id, rank",
    "window_top_engineers": "period, scope, scope_id, rank",
    "window_step_feedback": "period, tree_id, dropoff_rate DESC, node_id",
    "window_ratings": "period, tree_id",
    "recent_comments": "tree_id, rank",
    "daily_sessions": "scope, scope_id, day",
    "daily_ratings": "tree_id, day",
    "daily_step_feedback": "tree_id, day, node_id",
    "refresh_runs": "started_at",
    "data_quality": "check_name",
}


def insert(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, columns: list[str]) -> int:
    # Sorting in Polars through one packed integer key (etl/publish/sort_key.py) and appending in
    # order is much faster than DuckDB's INSERT ... ORDER BY for the larger tables.
    keys = [key.split() for key in SORT_KEYS.get(name, "").split(",") if key.strip()]
    ordered = sort_by_keys(frame.select(columns), [(k[0], k[-1].upper() == "DESC") for k in keys])
    # Categorical columns go over as Arrow dictionaries; DuckDB stores their text.
    con.register("incoming", ordered.to_arrow())
    try:
        con.execute(f"INSERT INTO {name} SELECT * FROM incoming")
    finally:
        con.unregister("incoming")
    return frame.height
