"""Random app changes and refreshes of every mode: the store stays a full rebuild's (a state machine).

Rules write to the source as the app does (sessions, ratings, step ratings, names, trees)
and refresh in any mode while as_of moves forward by minutes to days. After every refresh
the store equals a nightly full at the same as_of, table by table, and sampled API bodies
equal the app's live SQL. Every mode but the nightly full starts from the published store
and what changed; the hourly and nightly also compare that state with the source (drift),
which must find nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from etl import database
from synthetic.seed import seed
from tests.incremental import (
    AS_OF,
    SEED_ANCHOR,
    App,
    References,
    assert_bodies,
    assert_same_store,
    drift,
    make_config,
    refresh,
)

KINDS = (
    "insert",
    "complete",
    "move",
    "decisions",
    "delete",
    "rate",
    "rerate",
    "unrate",
    "step",
    "restep",
    "unstep",
    "rename user",
    "rename tree",
    "edit tree",
    "move tree",
    "retree",
    "bulk touch",
    "bulk delete",
)
TABLE_OF = {
    "rerate": "session_ratings",
    "unrate": "session_ratings",
    "restep": "step_ratings",
    "unstep": "step_ratings",
    "rename user": "users",
    "rename tree": "trees",
    "edit tree": "trees",
    "move tree": "trees",
}
"""The table a change picks its row from (sessions when not named)."""
MODES = ("incremental", "incremental", "hourly", "nightly", "nightly full")
ADVANCES = (0, 1, 17, 60, 7 * 60, 24 * 60, 3 * 24 * 60 + 11)
"""Minutes as_of moves forward before a refresh."""
DECISIONS = (
    None,
    "[]",
    '{"node_id": "n-object"}',
    '[{"node_id": "n-a"}, {"node_id": "n-b"}, {"node_id": "n-a"}]',
    '[{"node_id": "n-a"}, 7]',
    '[{"node_id": ""}, {"node_id": 5}, {"no": "id"}]',
)
NAMES = ("", None, "Aa", "Zz Top", "Bo", "Aa")


@dataclass
class Setup:
    """What the pytest test hands every example: a database factory and a private folder."""

    make_database: Callable[[], str]
    folder: Path
    examples: int = 0


class Machine(RuleBasedStateMachine):
    setup: ClassVar[Setup]

    def __init__(self) -> None:
        super().__init__()
        setup = self.setup
        setup.examples += 1
        self.url = setup.make_database()
        seed(self.url, sessions=500, accounts=2, days=130, seed=17, now=SEED_ANCHOR)
        self.store = setup.folder / f"example-{setup.examples}" / "metrics.duckdb"
        self.refs = References(setup.folder / f"example-{setup.examples}-refs")
        self.as_of = AS_OF
        self.conn: psycopg.Connection[Any] = database.connect(self.url)
        self.app = App(self.conn)
        record = refresh(make_config(self.store), self.url, "nightly", self.as_of, full=True)
        assert record.status == "success", record

    def teardown(self) -> None:
        self.conn.close()

    # --- the app's changes ---------------------------------------------------------------

    def _pick(self, table: str, where: str, salt: int, **params: Any) -> uuid.UUID | None:
        row = self.conn.execute(
            f"SELECT id FROM {table} WHERE {where} ORDER BY md5(id::text || %(salt)s) LIMIT 1",
            {**params, "salt": str(salt)},
        ).fetchone()
        return None if row is None else uuid.UUID(str(row[0]))

    @rule(
        batch=st.lists(
            st.tuples(
                st.sampled_from(KINDS),
                st.integers(0, 2**16),
                st.integers(-125 * 24 * 60, 24 * 60),
                st.integers(0, 5),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def changes(self, batch: list[tuple[str, int, int, int]]) -> None:
        """A few app writes between two refreshes (writes are cheap, refreshes are not)."""
        for kind, salt, offset, choice in batch:
            self.change(kind, salt, offset, choice)

    def change(self, kind: str, salt: int, offset: int, choice: int) -> None:
        """One app write; `offset` (minutes from as_of) places new times, `choice` picks values."""
        at = self.as_of + timedelta(minutes=offset, microseconds=salt)
        outcome = ("resolved", "escalated", "workaround", "unresolved", None, "odd")[choice]
        self.app.used.clear()
        table = TABLE_OF.get(kind, "sessions")
        if kind in ("insert", "bulk touch", "bulk delete"):
            if kind == "insert":
                minutes = None if choice % 3 == 0 else choice * 4.5
                self.app.insert_session(at, completed_minutes=minutes, outcome=outcome)
            elif kind == "bulk touch":  # new row versions of about half the sessions, values unchanged
                touch = "UPDATE sessions SET decisions = decisions WHERE md5(id::text || %s) < '8'"
                self.conn.execute(touch, (str(salt),))
            else:  # about a sixteenth of the sessions, all days
                self.conn.execute("DELETE FROM sessions WHERE md5(id::text || %s) < '1'", (str(salt),))
            self.conn.commit()
            return
        picked = self._pick(table, "completed_at IS NULL" if kind == "complete" else "true", salt)
        if picked is None:
            return
        if kind == "complete":
            interval = "completed_at = started_at + make_interval(mins => %(m)s), outcome = %(o)s"
            self.app.update_session(picked, interval, m=choice * 7 - 3, o=outcome)
        elif kind == "retree":
            self.app.update_session(
                picked, "tree_id = (SELECT id FROM trees ORDER BY md5(id::text || %(salt)s) LIMIT 1)", salt=str(choice)
            )
        elif kind == "move":
            self.app.update_session(picked, "started_at = %(at)s", at=at)
        elif kind == "decisions":
            self.app.update_session(picked, "decisions = %(d)s::jsonb", d=DECISIONS[choice])
        elif kind == "delete":
            self.conn.execute("DELETE FROM sessions WHERE id = %s", (picked,))
        elif kind == "rate":
            self.app.rate(picked, 1 + choice % 5, NAMES[choice], at)
        elif kind == "step":
            self.app.rate_step(picked, choice % 2 == 0, at, node_id=None if choice < 3 else "n-a")
        elif kind == "rerate":
            self.conn.execute(
                "UPDATE session_ratings SET rating = %s, comment = %s WHERE id = %s",
                (1 + choice % 5, NAMES[choice], picked),
            )
        elif kind == "unrate":
            self.conn.execute("DELETE FROM session_ratings WHERE id = %s", (picked,))
        elif kind == "restep":
            self.conn.execute("UPDATE step_ratings SET helpful = NOT helpful WHERE id = %s", (picked,))
        elif kind == "unstep":
            self.conn.execute("DELETE FROM step_ratings WHERE id = %s", (picked,))
        elif kind == "rename user":
            self.conn.execute("UPDATE users SET name = %s WHERE id = %s", (NAMES[choice], picked))
        elif kind == "rename tree":
            self.conn.execute("UPDATE trees SET name = %s WHERE id = %s", (NAMES[choice] or "", picked))
        elif kind == "edit tree":
            self.conn.execute(
                "UPDATE trees SET tree_structure = jsonb_build_object('id', 'n-a', 'title', %s::text, 'children', "
                "jsonb_build_array(jsonb_build_object('id', 'n-b', 'question', 'b?'), tree_structure)) WHERE id = %s",
                (NAMES[choice], picked),
            )
        elif kind == "move tree":
            self.conn.execute(
                "UPDATE trees SET account_id = (SELECT account_id FROM users WHERE account_id <> trees.account_id "
                "ORDER BY 1 LIMIT 1) WHERE id = %s",
                (picked,),
            )
        self.conn.commit()

    # --- refreshes -------------------------------------------------------------------------

    @rule(mode=st.sampled_from(MODES), advance=st.sampled_from(ADVANCES))
    def refresh(self, mode: str, advance: int) -> None:
        self.as_of += timedelta(minutes=advance)
        full = mode == "nightly full"
        record = refresh(make_config(self.store), self.url, "nightly" if full else mode, self.as_of, full=full)
        what = f"{mode} at {self.as_of}"
        assert record.status == "success", record
        if not full:
            assert record.fallback is None, f"{what} fell back: {record.fallback}"
        if mode in ("hourly", "nightly"):
            assert set(drift(record).values()) <= {0}, f"{what}: the incremental state drifted: {record.drift_rows}"
        assert_same_store(self.store, self.refs.build(self.url, self.as_of), what=what)
        assert_bodies(self.url, make_config(self.store), self.as_of, what=what, engineers_per_account=1, users_sample=2)


@pytest.mark.slow
def test_random_changes_and_refreshes_keep_the_store_a_full_rebuild(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    Machine.setup = Setup(make_database, tmp_path)
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=5,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
