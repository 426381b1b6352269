"""The analyst cookbook, as the tests run it: queries read from docs/cookbook.md itself.

Each query sits under a `<!-- cookbook: NAME -->` line in a ```sql block; `run` sets the
DuckDB variables it reads (`getvariable`) and returns its rows as dicts. Nothing here
rewrites a query, so the page and the tests cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

COOKBOOK = Path(__file__).resolve().parents[1] / "docs" / "cookbook.md"
_BLOCK = re.compile(r"<!-- cookbook: (\S+) -->\s*```sql\n(.*?)```", re.DOTALL)

Row = dict[str, Any]


@cache
def queries() -> dict[str, str]:
    """Cookbook queries by name, in page order."""
    found: dict[str, str] = {}
    for name, query in _BLOCK.findall(COOKBOOK.read_text()):
        assert name not in found, f"cookbook query {name} appears twice in docs/cookbook.md"
        found[name] = query.strip()
    return found


def run(con: duckdb.DuckDBPyConnection, name: str, **variables: str | date | datetime) -> list[Row]:
    """The cookbook query `name` with these variables set, as one dict per row."""
    for key, value in variables.items():
        con.execute(f"SET VARIABLE {key} = ?", [value])
    relation = con.sql(queries()[name])
    columns = relation.columns
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


def months(first: date, last: date) -> list[tuple[date, date]]:
    """[month start, next month start) for every calendar month from `first` to `last`."""
    ranges = []
    start = date(first.year, first.month, 1)
    while start <= last:
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        ranges.append((start, end))
        start = end
    return ranges


def rate(part: int, whole: int) -> float:
    """A rate as the dashboards round it."""
    return round(part / whole, 3) if whole else 0.0


def minutes(median: float | None) -> float:
    """A median duration as the dashboards round it (0.0 when there is none)."""
    return round(float(median), 1) if median is not None else 0.0


def summary(row: Row) -> Row:
    """A team_summary row as the dashboard's summary card (rounded like the app)."""
    total = int(row["total_sessions"])
    return {
        "total_sessions": total,
        "completed_sessions": int(row["completed_sessions"]),
        "completion_rate": round(row["completion_rate"], 3) if total else 0.0,
        "median_duration_minutes": minutes(row["median_duration_minutes"]),
        "active_engineers": int(row["active_engineers"]),
        "outcome_breakdown": {k: int(row[k]) for k in ("resolved", "escalated", "workaround", "unresolved")},
    }


def step_row(row: Row) -> Row:
    """A node_dropoff row as the dashboard's step table shows it."""
    yes, no = int(row["helpful_yes"]), int(row["helpful_no"])
    return {
        "node_id": row["node_id"],
        "node_title": row["node_title"],
        "helpful_yes": yes,
        "helpful_no": no,
        "helpful_rate": rate(yes, yes + no),
        "visit_count": int(row["visits"]),
        "dropoff_count": int(row["dropoffs"]),
        "dropoff_rate": round(row["dropoff_rate"], 3),
    }
