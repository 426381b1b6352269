"""Decision-tree documents for `flowmetrics seed`: nested tree_structure JSON with titles,
questions and answers, the root-to-leaf paths sessions walk, and the malformed documents
real data holds.

Pure: no I/O, no clock; every random choice comes from the caller's numpy Generator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

MAX_DEPTH = 6
"""Levels of the deepest tree, so a path visits at most this many nodes."""


MAX_PATHS = 8
"""Paths kept per tree: sessions pick among these, which keeps generation vectorised."""


TREE_DIRTY_KINDS = (
    "structure_array",  # tree_structure is [] (a migration wrote the wrong default)
    "structure_string",  # the document was stored double-encoded, as a JSON string
    "structure_null",  # SQL NULL: the tree was never saved
    "leaves_without_children",  # leaves omit the key instead of holding []
    "repeated_node_id",  # a copied subtree kept its ids
    "empty_title_with_question",  # title '' next to a question
    "no_title_or_question",  # a node with neither
)


_SUBJECTS = (
    "VPN", "Printer", "Email", "Laptop", "Wi-Fi", "Password reset", "Billing", "SSO login",
    "Mobile app", "Database", "Payments", "Shipping", "Invoices", "Video calls", "Backups",
    "Disk space", "Firewall", "Monitor", "Phone line", "CRM sync", "Calendar", "File share",
    "Antivirus", "Software install", "Router", "Scanner", "Headset", "Docking station",
)  # fmt: skip


_ISSUES = (
    "not working", "is slow", "error on start", "cannot connect", "access denied",
    "keeps crashing", "setup", "sync failing", "outage triage", "intermittent failures",
)  # fmt: skip


_QUESTIONS = (
    "Is the {s} powered on?", "Can the customer reproduce the issue?", "Does a restart help?",
    "Is an error message shown?", "Is the {s} on the latest version?",
    "Are other users affected?", "Is the account active?", "Does it happen on another device?",
    "Is the network reachable?", "Were there recent changes to the {s}?", "Is a VPN in use?",
    "Did clearing the cache help?", "Is the {s} listed in the admin console?",
)  # fmt: skip


_SOLUTIONS = (
    "Restart the {s}", "Reinstall the {s} client", "Escalate to tier 2", "Reset the credentials",
    "Update the {s} firmware", "Open a ticket with the vendor", "Clear the cache and retry",
    "Replace the hardware", "Send the knowledge-base article", "Schedule a technician visit",
)  # fmt: skip


_ANSWERS = {1: ("Next",), 2: ("Yes", "No"), 3: ("Yes", "No", "Not sure")}


_LEAF_ANSWER = "Done"


@dataclass(frozen=True)
class Tree:
    """One generated tree: its stored document and the paths sessions may walk."""

    name: str
    structure: str | None
    """tree_structure as JSON text; None stores SQL NULL."""
    paths: list[list[tuple[str, str]]]
    """Per path, the (node_id, answer) of each node visited from the root to a leaf."""


@dataclass(frozen=True)
class PathTable:
    """Every tree's paths, flattened so sessions can index into them with numpy.

    Position p of path k lives at k * MAX_DEPTH + p; positions past the path's end are null.
    """

    offsets: npt.NDArray[np.int64]
    """Per tree, the index of its first path."""
    counts: npt.NDArray[np.int64]
    """Per tree, how many paths it has."""
    lengths: npt.NDArray[np.int64]
    """Per path, how many nodes it visits."""
    node_ids: pl.Series
    elements: pl.Series
    """The decision object's JSON up to the opening quote of its "at" value."""


def tree_name(rng: np.random.Generator, taken: set[str]) -> str:
    """A tree name not yet in `taken` (names repeat across accounts, not within one)."""
    base = f"{_pick(rng, _SUBJECTS)} {_pick(rng, _ISSUES)}"
    name, version = base, 1
    while name in taken:
        version += 1
        name = f"{base} (v{version})"
    taken.add(name)
    return name


def make_tree(rng: np.random.Generator, name: str, dirty_kind: str | None = None) -> Tree:
    """A tree of depth 3..MAX_DEPTH, branching 1..3, optionally malformed as `dirty_kind`."""
    subject = name.split(" ")[0].lower()
    ids: set[str] = set()
    depth = int(rng.integers(3, MAX_DEPTH + 1))
    root = _node(rng, ids, subject, level=0, depth=depth)
    root = {"id": root["id"], "title": name, **{k: v for k, v in root.items() if k != "id"}}
    if dirty_kind in ("structure_array", "structure_string", "structure_null"):
        # The sessions were recorded against the tree before it was broken.
        return Tree(name, _broken_document(dirty_kind, root), _paths(rng, root))
    if dirty_kind is not None:
        _corrupt_nodes(rng, root, dirty_kind)
    return Tree(name, json.dumps(root), _paths(rng, root))


def path_table(trees: Sequence[Tree]) -> PathTable:
    counts = np.array([len(tree.paths) for tree in trees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    lengths: list[int] = []
    node_ids: list[str | None] = []
    elements: list[str | None] = []
    for tree in trees:
        for path in tree.paths:
            lengths.append(len(path))
            padding: list[str | None] = [None] * (MAX_DEPTH - len(path))
            node_ids.extend([*(node_id for node_id, _ in path), *padding])
            elements.extend([*(_element_prefix(node_id, answer) for node_id, answer in path), *padding])
    return PathTable(
        offsets=offsets,
        counts=counts,
        lengths=np.array(lengths, dtype=np.int64),
        node_ids=pl.Series("node_id", node_ids, dtype=pl.String),
        elements=pl.Series("element", elements, dtype=pl.String),
    )


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _new_id(rng: np.random.Generator, ids: set[str]) -> str:
    while True:
        node_id = f"n-{int(rng.integers(16**6)):06x}"
        if node_id not in ids:
            ids.add(node_id)
            return node_id


def _node(rng: np.random.Generator, ids: set[str], subject: str, *, level: int, depth: int) -> dict[str, Any]:
    node_id = _new_id(rng, ids)
    # Some branches end early, so paths have different lengths within a tree.
    if level == depth - 1 or (level >= 2 and rng.random() < 0.2):
        return {"id": node_id, "title": _pick(rng, _SOLUTIONS).format(s=subject), "children": []}
    branching = int(rng.choice([1, 2, 3], p=[0.25, 0.5, 0.25]))
    children = []
    for answer in _ANSWERS[branching]:
        child = _node(rng, ids, subject, level=level + 1, depth=depth)
        children.append({"id": child.pop("id"), "answer": answer, **child})
    return {"id": node_id, "question": _pick(rng, _QUESTIONS).format(s=subject), "children": children}


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes depth-first from the root (children may be missing in malformed trees)."""
    nodes = [node]
    for child in node.get("children", []):
        nodes.extend(_walk(child))
    return nodes


def _paths(rng: np.random.Generator, root: dict[str, Any]) -> list[list[tuple[str, str]]]:
    found: list[list[dict[str, Any]]] = []
    stack = [[root]]
    while stack:
        path = stack.pop()
        children = path[-1].get("children", [])
        if not children:
            found.append(path)
        stack.extend(path + [child] for child in reversed(children))
    keep = np.sort(rng.choice(len(found), size=min(MAX_PATHS, len(found)), replace=False))
    result = []
    for index in keep:
        path = found[int(index)]
        answers = [child["answer"] for child in path[1:]] + [_LEAF_ANSWER]
        result.append([(node["id"], answer) for node, answer in zip(path, answers, strict=True)])
    return result


def _broken_document(kind: str, root: dict[str, Any]) -> str | None:
    if kind == "structure_array":
        return "[]"
    if kind == "structure_string":
        return json.dumps(json.dumps(root))
    return None


def _corrupt_nodes(rng: np.random.Generator, root: dict[str, Any], kind: str) -> None:
    nodes = _walk(root)
    leaves = [node for node in nodes if not node.get("children")]
    inner = [node for node in nodes if node.get("children")]
    if kind == "leaves_without_children":
        for leaf in leaves:
            del leaf["children"]
    elif kind == "repeated_node_id":
        # A later node (depth-first) takes an earlier one's id: "the last walked wins".
        later = int(rng.integers(1, len(nodes)))
        nodes[later]["id"] = nodes[int(rng.integers(later))]["id"]
    elif kind == "empty_title_with_question":
        inner[int(rng.integers(len(inner)))]["title"] = ""
    elif kind == "no_title_or_question":
        del leaves[int(rng.integers(len(leaves)))]["title"]
    else:
        raise ValueError(f"unknown tree dirty kind {kind!r}; expected one of {TREE_DIRTY_KINDS}")


def _element_prefix(node_id: str, answer: str) -> str:
    # Compact JSON, as the app's frontend (JSON.stringify) sends it.
    return f'{{"node_id":{json.dumps(node_id)},"answer":{json.dumps(answer)},"at":"'
