"""The scopes of the window and per-day tables: the one vocabulary the pipeline writes and
the API reads.

A row's `scope` says whose sessions it counts, `scope_id` which one; `engineer_id` narrows
the team view to one user and is NO_ENGINEER everywhere else.
"""

from __future__ import annotations

ACCOUNT = "account"
"""Sessions on the account's trees (the tree must exist: it gives the account)."""
ACCOUNT_ENGINEER = "account_engineer"
"""The team view narrowed to one user: the account's sessions of that engineer."""
USER = "user"
"""A user's sessions, whatever their tree."""
TREE = "tree"
"""A tree's sessions."""

NO_ENGINEER = ""
"""engineer_id of every row that is not narrowed to an engineer."""

SCOPE_KEYS: dict[str, tuple[str, str | None]] = {
    ACCOUNT: ("account_id", None),
    ACCOUNT_ENGINEER: ("account_id", "user_id"),
    USER: ("user_id", None),
    TREE: ("tree_id", None),
}
"""Each scope's scope_id column and, when narrowed, its engineer_id column."""
