"""Node titles from tree_structure and per-node step feedback (visits, drop-offs, helpfulness)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

from etl.transform.common import dropped_off, rate, started_in, utc_day, window_start

UNKNOWN_STEP = "Unknown Step"
UNNAMED = "Unnamed"
FEEDBACK_COLUMNS = (
    "tree_id",
    "node_id",
    "visits",
    "dropoffs",
    "helpful_yes",
    "helpful_no",
    "node_title",
    "period",
    "dropoff_rate",
    "helpful_rate",
)


def walk_nodes(tree_structure: str | None) -> list[tuple[str, str]] | None:
    """(id, title) of every node, depth-first pre-order from the root; None if the root is no object.

    A node is an object; only string ids count; its title is `title`, else `question`,
    else "Unnamed" (empty or non-string counts as missing). Children that are not a list
    are ignored; unparseable JSON has no nodes.
    """
    try:
        root = _loads(tree_structure) if tree_structure is not None else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(root, dict):
        return None
    walked: list[tuple[str, str]] = []
    stack: list[Any] = [root]
    while stack:  # iterative pre-order: deep trees never hit the recursion limit
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        node_id = node.get("id")
        if isinstance(node_id, str):
            walked.append((node_id, _title(node)))
        children = node.get("children")
        if isinstance(children, list):
            stack.extend(reversed(children))
    return walked


_DEEP_LOCK = threading.Lock()


def _loads(text: str) -> Any:
    """json.loads, retried on a big stack for trees nested deeper than Python's recursion limit.

    PostgreSQL stores jsonb thousands of levels deep; json.loads recurses once per level.
    """
    try:
        return json.loads(text)
    except RecursionError:
        pass
    result: list[Any] = []
    failure: list[BaseException] = []

    def parse() -> None:
        try:
            result.append(json.loads(text))
        except BaseException as exc:  # handed back to the caller below
            failure.append(exc)

    with _DEEP_LOCK:
        previous_stack, previous_limit = threading.stack_size(), sys.getrecursionlimit()
        threading.stack_size(512 * 2**20)
        sys.setrecursionlimit(max(previous_limit, 200_000))
        try:
            worker = threading.Thread(target=parse)
            worker.start()
            worker.join()
        finally:
            threading.stack_size(previous_stack)
            sys.setrecursionlimit(previous_limit)
    if failure:
        raise failure[0]
    return result[0]


def node_titles(tree_structure: str | None) -> dict[str, str]:
    """Node id -> title; when an id repeats, the last node walked wins."""
    return dict(walk_nodes(tree_structure) or [])


def _title(node: Mapping[str, Any]) -> str:
    for key in ("title", "question"):
        value = node.get(key)
        if isinstance(value, str) and value:
            return value
    return UNNAMED


def tree_nodes(trees: pl.DataFrame) -> pl.DataFrame:
    """One row per (tree, node id) with its title. Walks JSON per tree, not per session."""
    tree_ids: list[str] = []
    node_ids: list[str] = []
    titles: list[str] = []
    for tree_id, structure in trees.select("tree_id", "tree_structure").iter_rows():
        for node_id, title in node_titles(structure).items():
            tree_ids.append(tree_id)
            node_ids.append(node_id)
            titles.append(title)
    return pl.DataFrame(
        {"tree_id": tree_ids, "node_id": node_ids, "node_title": titles},
        schema={"tree_id": pl.String, "node_id": pl.String, "node_title": pl.String},
    )


def step_counts(sessions: pl.LazyFrame, as_of: datetime, periods: Mapping[str, int]) -> pl.LazyFrame:
    """Visits and drop-offs per (period, tree, node) of these sessions (rows may repeat a key)."""
    parts = []
    for period, days in periods.items():
        windowed = sessions.filter(started_in(as_of, days))
        visits = (
            windowed.select("tree_id", pl.col("node_ids").alias("node_id"))
            .explode("node_id")
            .drop_nulls("node_id")
            .group_by("tree_id", "node_id")
            .agg(pl.len().cast(pl.Int64).alias("visits"), pl.lit(0, pl.Int64).alias("dropoffs"))
        )
        dropoffs = (
            windowed.filter(dropped_off())
            .group_by("tree_id", pl.col("last_node_id").alias("node_id"))
            .agg(pl.lit(0, pl.Int64).alias("visits"), pl.len().cast(pl.Int64).alias("dropoffs"))
        )
        parts.append(pl.concat([visits, dropoffs]).with_columns(period=pl.lit(period)))
    return pl.concat(parts)


def window_step_feedback(
    counts: pl.LazyFrame,
    step_ratings: pl.LazyFrame | None,
    nodes: pl.LazyFrame,
    as_of: datetime,
    periods: Mapping[str, int],
) -> pl.LazyFrame:
    """One row per (period, tree, node visited in the window), from `step_counts` of its sessions.

    Every decision element that is an object with a non-empty string node_id is a visit
    (repeats count); an incomplete session drops off at its raw last element when that
    element is such an object. Helpfulness counts the tree's step ratings of that node
    created in the window.
    """
    keys = ["period", "tree_id", "node_id"]
    totals = counts.group_by(keys).agg(pl.col("visits").sum(), pl.col("dropoffs").sum()).filter(pl.col("visits") > 0)
    tree_type = counts.collect_schema()["tree_id"]  # text or Categorical
    helpful = pl.concat(
        [
            _helpful(step_ratings, window_start(as_of, days), tree_type).with_columns(period=pl.lit(period))
            for period, days in periods.items()
        ]
    )
    return (
        totals.join(helpful, on=keys, how="left")
        .join(nodes, on=["tree_id", "node_id"], how="left")
        .with_columns(
            pl.col("dropoffs", "helpful_yes", "helpful_no").fill_null(0),
            pl.col("node_title").fill_null(UNKNOWN_STEP),
        )
        .with_columns(
            rate("dropoffs", "visits").alias("dropoff_rate"),
            (pl.col("helpful_yes") + pl.col("helpful_no")).alias("rated"),
        )
        .with_columns(rate("helpful_yes", "rated").alias("helpful_rate"))
        .select(FEEDBACK_COLUMNS)
    )


def _helpful(step_ratings: pl.LazyFrame | None, start: datetime, tree_type: pl.DataType) -> pl.LazyFrame:
    schema = pl.Schema(
        {"tree_id": tree_type, "node_id": pl.String(), "helpful_yes": pl.Int64(), "helpful_no": pl.Int64()}
    )
    if step_ratings is None:  # the optional table is absent: all zero
        return pl.LazyFrame(schema=schema)
    return (
        step_ratings.filter(pl.col("created_at") >= start)
        .group_by("tree_id", "node_id")
        .agg(
            pl.col("helpful").fill_null(False).sum().cast(pl.Int64).alias("helpful_yes"),
            (~pl.col("helpful")).fill_null(False).sum().cast(pl.Int64).alias("helpful_no"),
        )
    )


STEP_DAY_KEYS = ["tree_id", "node_id", "day"]
DAILY_STEP_COLUMNS = [*STEP_DAY_KEYS, "visits", "dropoffs", "helpful_yes", "helpful_no"]


def daily_step_visits(sessions: pl.LazyFrame) -> pl.LazyFrame:
    """Visits and drop-offs per (tree, node, UTC day of started_at) of these sessions.

    The same rules as window_step_feedback, counted per day so that any range of whole days
    is a sum. Each day's rows depend only on that day's sessions.
    """
    with_day = sessions.with_columns(utc_day("started_at"))
    visits = (
        with_day.select("tree_id", "day", pl.col("node_ids").alias("node_id"))
        .explode("node_id")
        .drop_nulls("node_id")
        .group_by(STEP_DAY_KEYS)
        .agg(pl.len().cast(pl.Int64).alias("visits"))
    )
    dropoffs = (
        with_day.filter(dropped_off())
        .group_by("tree_id", pl.col("last_node_id").alias("node_id"), "day")
        .agg(pl.len().cast(pl.Int64).alias("dropoffs"))
    )
    return visits.join(dropoffs, on=STEP_DAY_KEYS, how="full", coalesce=True).with_columns(
        pl.col("visits", "dropoffs").fill_null(0)
    )


def daily_helpful(step_ratings: pl.LazyFrame | None, tree_type: pl.DataType) -> pl.LazyFrame:
    """helpful_yes / helpful_no per (tree, node, UTC day of created_at); empty without the table."""
    schema = pl.Schema(
        {
            "tree_id": tree_type,
            "node_id": pl.String(),
            "day": pl.Date(),
            "helpful_yes": pl.Int64(),
            "helpful_no": pl.Int64(),
        }
    )
    if step_ratings is None:
        return pl.LazyFrame(schema=schema)
    return (
        step_ratings.with_columns(utc_day("created_at"))
        .group_by(STEP_DAY_KEYS)
        .agg(
            pl.col("helpful").fill_null(False).sum().cast(pl.Int64).alias("helpful_yes"),
            (~pl.col("helpful")).fill_null(False).sum().cast(pl.Int64).alias("helpful_no"),
        )
        .select(schema.names())
    )


def daily_step_feedback(visits: pl.LazyFrame, helpful: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (tree, node, day) with visits, drop-offs or step ratings on that day.

    `visits` (daily_step_visits) and `helpful` (daily_helpful) must cover the same days.
    """
    return (
        visits.join(helpful, on=STEP_DAY_KEYS, how="full", coalesce=True)
        .with_columns(pl.col("visits", "dropoffs", "helpful_yes", "helpful_no").fill_null(0))
        .select(DAILY_STEP_COLUMNS)
    )


FACT_STEP_RATING_COLUMNS = ("step_rating_id", "tree_id", "node_id", "helpful", "created_at", "day")


def fact_step_ratings(step_ratings: pl.DataFrame | None) -> pl.DataFrame:
    """fact_step_ratings: the step rating rows as read (extract_step_ratings.sql), with their UTC day."""
    if step_ratings is None:
        return pl.DataFrame(schema=FACT_STEP_RATING_SCHEMA)
    return step_ratings.with_columns(utc_day("created_at")).select(FACT_STEP_RATING_COLUMNS)


FACT_STEP_RATING_SCHEMA = pl.Schema(
    {
        "step_rating_id": pl.String(),
        "tree_id": pl.String(),
        "node_id": pl.String(),
        "helpful": pl.Boolean(),
        "created_at": pl.Datetime("us", "UTC"),
        "day": pl.Date(),
    }
)
