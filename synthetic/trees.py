"""The world `flowmetrics seed` generates sessions in: skewed accounts, their users and
their decision trees (nested tree_structure documents and the root-to-leaf paths sessions
walk), including the malformed users and trees real data holds.

Pure: no I/O, no clock; every random choice comes from the caller's numpy Generator, so a
seed reproduces the same world. Never used by the ETL itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

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

ACCOUNT_SKEW = 0.8
"""Zipf exponent of account volume: with 200 accounts the biggest holds ~10% of sessions."""
TREE_SKEW = 1.1
"""Zipf exponent of tree popularity within an account."""
SESSIONS_PER_USER = 150
USER_NULL_NAME_SHARE = 0.02
TREE_DIRTY_SHARE = 0.02
"""Malformed trees of each kind, as a share of the clean trees (at least 2 of each)."""
DELETED_SHARE = 0.01
"""Deleted trees (and users) that sessions still point at, as a share of the stored ones."""

_FIRST = (
    "Ana", "Ben", "Chloe", "Dev", "Emeka", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kofi",
    "Lena", "Mo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Yusuf",
)  # fmt: skip
_LAST = (
    "Smith", "Garcia", "Okafor", "Chen", "Novak", "Silva", "Khan", "Muller", "Rossi",
    "Tanaka", "Kowalski", "Nguyen", "Haddad", "Larsen", "Mensah", "Ortiz",
)  # fmt: skip
_COMPANIES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "wonka")
_UTC_OFFSETS = (-8, -7, -6, -5, -5, -4, -3, 0, 0, 1, 1, 2, 3, 5, 8, 9, 10)
"""Hours east of UTC of the accounts' offices: working hours fall at different UTC hours."""

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
class Members:
    """Users or trees grouped by account, each with a skewed share of its account's sessions."""

    keys: Floats
    """Ascending: the member's account index plus its cumulative share within the account."""
    last: Ints
    """Per account, the index of its last member."""

    def pick(self, account: Ints, draw: Floats) -> Ints:
        """One member of each given account, for uniform draws in [0, 1)."""
        found = np.searchsorted(self.keys, account + draw, side="right").astype(np.int64)
        # Float rounding of account + draw could step into the next account's block.
        return np.minimum(found, self.last[account])


@dataclass(frozen=True)
class World:
    """Everything sessions are generated from; ids past the stored ones are deleted rows."""

    account_keys: Floats
    """Cumulative session share of the accounts (the last is exactly 1)."""
    utc_offsets: Ints
    users: Members
    trees: Members
    user_ids: pl.Series
    tree_ids: pl.Series
    stored_users: int
    stored_trees: int
    paths: PathTable
    dirty_rows: int
    """Users with a NULL name plus malformed trees."""

    def pick_accounts(self, draw: Floats) -> Ints:
        found = np.searchsorted(self.account_keys, draw, side="right").astype(np.int64)
        return np.minimum(found, self.account_keys.size - 1)


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


def build_world(
    rng: np.random.Generator, accounts: int, sessions: int, clean: bool
) -> tuple[World, pl.DataFrame, pl.DataFrame]:
    """The world, with the users and trees frames to store (in the tables' column names)."""
    ranks = np.arange(1, accounts + 1, dtype=np.float64)
    weights: Floats = ranks**-ACCOUNT_SKEW / np.sum(ranks**-ACCOUNT_SKEW)
    account_ids = uuids(rng, accounts)
    users, user_owner, nameless = _users(rng, account_ids, weights, sessions, clean)
    trees, tree_owner, built, malformed = _trees(rng, account_ids, weights, clean)
    popularity = _zipf_within(rng, tree_owner, TREE_SKEW)
    # Some people run far more sessions than their colleagues.
    activity = rng.lognormal(0.0, 0.8, size=users.height)
    deleted_users = uuids(rng, max(2, round(DELETED_SHARE * users.height)))
    deleted_trees = uuids(rng, max(2, round(DELETED_SHARE * trees.height)))
    world = World(
        account_keys=_cumulative(weights),
        utc_offsets=np.array(_UTC_OFFSETS, dtype=np.int64)[rng.integers(len(_UTC_OFFSETS), size=accounts)],
        users=_members(user_owner, activity, accounts),
        trees=_members(tree_owner, popularity, accounts),
        user_ids=pl.concat([users["id"], deleted_users]),
        tree_ids=pl.concat([trees["id"], deleted_trees]),
        stored_users=users.height,
        stored_trees=trees.height,
        paths=path_table(built),
        dirty_rows=nameless + malformed,
    )
    return world, users, trees


def uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """n version-4 UUIDs as text, drawn from the seeded generator (so reproducible)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2], hexed[:, 1::2] = digits[raw >> 4], digits[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - start] = hexed[:, start:end]
    return pl.Series("id", text.view("S36").ravel()).cast(pl.String)


def _cumulative(weights: Floats) -> Floats:
    keys = np.cumsum(weights / weights.sum())
    keys[-1] = 1.0
    return keys


def _members(owner: Ints, weight: Floats, accounts: int) -> Members:
    """Members must come grouped by account, in ascending account order."""
    sizes = np.bincount(owner, minlength=accounts)
    totals = np.bincount(owner, weights=weight, minlength=accounts)
    before = np.cumsum(totals) - totals
    share = (np.cumsum(weight) - before[owner]) / totals[owner]
    last = (np.cumsum(sizes) - 1).astype(np.int64)
    share[last] = 1.0
    return Members(keys=owner + share, last=last)


def _zipf_within(rng: np.random.Generator, owner: Ints, exponent: float) -> Floats:
    """Per member, rank ** -exponent with ranks shuffled within each account."""
    weight = np.empty(owner.size)
    starts = np.searchsorted(owner, np.arange(owner.max() + 1))
    ends = np.append(starts[1:], owner.size)
    for start, end in zip(starts, ends, strict=True):
        weight[start:end] = (rng.permutation(end - start) + 1.0) ** -exponent
    return weight


def _users(
    rng: np.random.Generator, account_ids: pl.Series, weights: Floats, sessions: int, clean: bool
) -> tuple[pl.DataFrame, Ints, int]:
    """Users grouped by account, about in proportion to its volume (2 at least)."""
    accounts = weights.size
    per_account = np.maximum(2, np.round(weights * max(2 * accounts, sessions / SESSIONS_PER_USER)))
    owner = np.repeat(np.arange(accounts, dtype=np.int64), per_account.astype(np.int64))
    n = owner.size
    first_of_account = np.zeros(n, dtype=bool)
    first_of_account[np.searchsorted(owner, np.arange(accounts))] = True
    domains = [f"{_COMPANIES[a % len(_COMPANIES)]}-{a + 1}.example" for a in range(accounts)]
    parts = pl.DataFrame(
        {
            "first": pl.Series(_FIRST).gather(rng.integers(len(_FIRST), size=n)),
            "last": pl.Series(_LAST).gather(rng.integers(len(_LAST), size=n)),
            "number": np.arange(1, n + 1),
            "domain": pl.Series(domains).gather(owner),
        }
    )
    users = parts.select(
        id=uuids(rng, n),
        account_id=account_ids.gather(owner),
        name=pl.concat_str("first", pl.lit(" "), "last"),
        email=pl.concat_str(
            pl.col("first").str.to_lowercase(),
            pl.lit("."),
            pl.col("last").str.to_lowercase(),
            pl.col("number").cast(pl.String),
            pl.lit("@"),
            "domain",
        ),  # fmt: skip
        # Every account keeps one active admin; ~5% of the others have left.
        is_active=pl.lit(first_of_account | (rng.random(n) >= 0.05)),
        is_team_admin=pl.lit(first_of_account | (rng.random(n) < 0.08)),
        is_super_admin=pl.lit(np.arange(n) == 0),
    )
    nameless = 0 if clean else min(n // 2, max(2, round(USER_NULL_NAME_SHARE * n)))
    if nameless:
        hit = rng.choice(n, size=nameless, replace=False)
        # Half NULL, half empty: the app shows both as "Unknown".
        users = users.with_columns(users["name"].scatter(hit[::2], None).scatter(hit[1::2], ""))
    return users, owner, nameless


def _trees(
    rng: np.random.Generator, account_ids: pl.Series, weights: Floats, clean: bool
) -> tuple[pl.DataFrame, Ints, list[Tree], int]:
    """2..30 trees per account by volume, plus the malformed ones, grouped by account."""
    accounts = weights.size
    scale = (weights / weights.max()) ** 0.7 * rng.uniform(0.6, 1.0, size=accounts)
    per_account = np.clip(np.round(2 + 28 * scale), 2, 30).astype(np.int64)
    specs: list[tuple[int, str | None]] = [(a, None) for a in range(accounts) for _ in range(per_account[a])]
    each = 0 if clean else max(2, round(TREE_DIRTY_SHARE * len(specs)))
    for kind in TREE_DIRTY_KINDS:
        specs += [(int(a), kind) for a in rng.choice(accounts, size=each, p=weights)]
    specs.sort(key=lambda spec: spec[0])  # stable: clean trees first within an account
    taken: list[set[str]] = [set() for _ in range(accounts)]
    built = [make_tree(rng, tree_name(rng, taken[a]), kind) for a, kind in specs]
    owner = np.array([a for a, _ in specs], dtype=np.int64)
    trees = pl.DataFrame(
        {
            "id": uuids(rng, len(built)),
            "account_id": account_ids.gather(owner),
            "name": [tree.name for tree in built],
            "tree_structure": pl.Series([tree.structure for tree in built], dtype=pl.String),
        }
    )
    return trees, owner, built, each * len(TREE_DIRTY_KINDS)


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
