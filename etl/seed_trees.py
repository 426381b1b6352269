"""Synthetic decision trees for `flowmetrics seed`: nested tree_structure and walkable paths.

Pure Python over a few thousand trees (never per session); the session generator indexes
into the paths with numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

QUESTIONS = [
    "Is the device powered on?", "Can you reach the login page?", "Is the VPN connected?",
    "Does the error mention a certificate?", "Was the password changed recently?",
    "Is the printer listed in settings?", "Does a restart fix it?", "Is the cable seated?",
    "Are other users affected?", "Is the account locked?", "Does safe mode start?",
]
TITLES = [
    "Check power", "Reset password", "Reinstall driver", "Clear cache", "Escalate to tier 2",
    "Replace cable", "Update firmware", "Verify licence", "Restart service", "Collect logs",
]
FLOW_NAMES = [
    "Wi-Fi drops", "VPN will not connect", "Printer offline", "Password reset", "Email not syncing",
    "Laptop will not boot", "Slow computer", "Screen flicker", "MFA lost device", "Shared drive access",
    "Teams audio", "Software install", "Blue screen", "Phone setup", "Badge access",
]


@dataclass(frozen=True)
class SeedTree:
    structure: Any  # what goes into trees.tree_structure (None for SQL NULL)
    paths: list[list[str]]  # root-to-leaf node id sequences sessions walk


def build_tree(rng: np.random.Generator, tree_no: int) -> SeedTree:
    counter = iter(range(10_000))

    def node(depth: int, max_depth: int) -> dict[str, Any]:
        node_id = f"n{tree_no}-{next(counter)}"
        entry: dict[str, Any] = {"id": node_id}
        if rng.random() < 0.5:
            entry["question"] = QUESTIONS[int(rng.integers(len(QUESTIONS)))]
        else:
            entry["title"] = TITLES[int(rng.integers(len(TITLES)))]
        if depth < max_depth:
            entry["children"] = [node(depth + 1, max_depth) for _ in range(int(rng.integers(1, 4)))]
        return entry

    root = node(1, int(rng.integers(3, 7)))
    return SeedTree(root, _paths(root, rng))


def _paths(root: dict[str, Any], rng: np.random.Generator, wanted: int = 8) -> list[list[str]]:
    paths = []
    for _ in range(wanted):
        path, current = [], root
        while True:
            path.append(current["id"])
            children = current.get("children") or []
            if not children:
                break
            current = children[int(rng.integers(len(children)))]
        paths.append(path)
    return paths


def dirty_structure(kind: str, tree: SeedTree) -> Any:
    """A dirty variant of a tree's structure; the paths (what sessions walk) stay as they were."""
    root = json.loads(json.dumps(tree.structure))
    if kind == "not_object":
        return []
    if kind == "string":
        return "legacy-format"
    if kind == "null":
        return None
    if kind == "no_children":
        root.pop("children", None)
        return root
    if kind == "repeated_id":
        child = root["children"][0]
        duplicate = {"id": child["id"], "title": "Duplicate (wins)"}
        root["children"].append(duplicate)
        return root
    if kind == "empty_title":
        root.pop("question", None)
        root["title"] = ""
        root["question"] = "Empty title, question shown"
        child = root["children"][0]
        child.pop("title", None)
        child.pop("question", None)  # neither: Unnamed
        return root
    raise ValueError(kind)


DIRTY_TREE_KINDS = ("not_object", "string", "null", "no_children", "repeated_id", "empty_title")
