"""The `decisions` column of synthetic sessions: for each session a JSON array of the
decisions along its path, as the app's frontend writes them, or the dirty variant its kind
in SESSION_DIRTY calls for (null, not an array, double-encoded, bad node ids, ...).

Pure: every random choice from the caller's Generator; no I/O, no clock.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.sessions import REMOVED_NODE, SESSION_KIND, Bools
from synthetic.trees import MAX_DEPTH, Ints, PathTable

_AT_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"  # as the app's frontend writes it (toISOString)


def decisions_json(
    rng: np.random.Generator, paths: PathTable, path: Ints, visited: Ints, repeat: Bools, at: Ints, kinds: Ints
) -> pl.Series:
    """JSON arrays of the decisions along each session's path, then the dirty variants."""
    n = path.size
    columns: dict[str, object] = {"visited": visited, "repeat": repeat, "kind": kinds}
    elements = []
    for j in range(MAX_DEPTH):
        columns[f"p{j}"] = paths.elements.gather(path * MAX_DEPTH + j)
        columns[f"t{j}"] = at[:, j]
        elements.append(_element(f"p{j}", pl.when(pl.col("visited") > j).then(pl.col(f"t{j}"))))
    # node_repeated: the last node submitted again (a double click, a retry).
    columns["p_last"] = paths.elements.gather(path * MAX_DEPTH + visited - 1)
    columns["t_again"] = at[np.arange(n), visited]
    elements.append(_element("p_last", pl.when(pl.col("repeat")).then(pl.col("t_again"))))
    frame = pl.DataFrame(columns).with_columns(
        decisions=pl.concat_str([pl.lit("["), pl.concat_str(elements, separator=",", ignore_nulls=True), pl.lit("]")])
    )
    decisions = frame["decisions"]
    dirty = np.flatnonzero(kinds)
    if dirty.size:
        broken = frame[dirty].with_columns(flip=pl.lit(rng.random(dirty.size) < 0.5)).select(_dirty_decisions())
        decisions = decisions.scatter(dirty, broken.to_series())
    return decisions


def _element(prefix: str, at: pl.Expr) -> pl.Expr:
    """One decision object; null (skipped) where `at` is null. Formats only the kept instants."""
    text = at.cast(pl.Datetime("us")).dt.to_string(_AT_FORMAT)
    return pl.concat_str([pl.col(prefix), text, pl.lit('"}')])


def _dirty_decisions() -> pl.Expr:
    decisions = pl.col("decisions")
    first_element = decisions.str.extract(r"^\[(\{[^}]*\})")
    first_node_id = r'"node_id":"[^"]*"'

    def kind(name: str) -> pl.Expr:
        return pl.col("kind") == SESSION_KIND[name]

    return (
        pl.when(kind("decisions_null")).then(pl.lit(None, pl.String))
        .when(kind("decisions_empty_array")).then(pl.lit("[]"))
        .when(kind("decisions_object")).then(pl.when("flip").then(pl.lit("{}")).otherwise(first_element))
        .when(kind("decisions_json_string"))
        .then(pl.concat_str([pl.lit('"'), decisions.str.replace_all('"', '\\"', literal=True), pl.lit('"')]))
        .when(kind("decisions_mixed_elements"))
        .then(pl.when("flip").then(pl.lit('[1,"x",null]')).otherwise(decisions.str.strip_suffix("]") + ',1,"x",null]'))
        .when(kind("element_without_node_id")).then(decisions.str.replace('"node_id":', '"step":', literal=True))
        .when(kind("node_id_number")).then(decisions.str.replace(first_node_id, '"node_id":5'))
        .when(kind("node_id_empty")).then(decisions.str.replace(first_node_id, '"node_id":""'))
        # Greedy prefix: the LAST element names the removed node, so drop-offs land on it too.
        .when(kind("node_not_in_tree"))
        .then(decisions.str.replace(r'^(.*)"node_id":"[^"]*"', f'${{1}}"node_id":"{REMOVED_NODE}"'))
        .otherwise(decisions)
        .alias("decisions")
    )  # fmt: skip
