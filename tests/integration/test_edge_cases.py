"""Property-based edge cases: small generated sources, API equals the live SQL exactly.

Hypothesis builds tiny, nasty sources (window boundaries to the microsecond, future and
negative-duration sessions, NULL names, deleted trees and users, every dirty shape of
decisions and tree_structure, comment edge cases, ties at the 10th place); each is loaded
into a real PostgreSQL, refreshed by the real pipeline and compared through the real API.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import database
from synthetic import SOURCE_SCHEMA, embedded
from tests.integration.test_differential import check, make_config

AS_OF = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=timezone.utc)
NODE_IDS = ["a", "b", "c", "d", "É", "B"]


def ids(prefix: int, count: int) -> list[str]:
    return [str(uuid.UUID(int=(prefix << 64) + i)) for i in range(count)]


# Offsets from as_of that sit on or next to every window edge, plus the future.
edge_offsets = st.sampled_from(
    [timedelta(days=-d) + timedelta(microseconds=e) for d in (7, 30, 90) for e in (-1, 0, 1)]
    + [timedelta(hours=2), timedelta(0), timedelta(days=-91), timedelta(days=-400)]
)
any_offset = st.one_of(
    edge_offsets,
    st.integers(min_value=-95 * 86_400_000_000, max_value=86_400_000_000).map(lambda us: timedelta(microseconds=us)),
)
# Durations on 3-second steps land medians on exact .x5 minute boundaries; negatives happen.
durations = st.one_of(
    st.none(),
    st.integers(min_value=-20, max_value=400).map(lambda k: timedelta(seconds=3 * k)),
    st.integers(min_value=0, max_value=10**10).map(lambda us: timedelta(microseconds=us)),
)
decision_element = st.one_of(
    st.sampled_from(NODE_IDS + ["zz"]).map(lambda n: {"node_id": n, "answer": "y"}),
    st.sampled_from([1, "x", None, {}, {"node_id": ""}, {"node_id": 5}, {"other": "a"}, [{"node_id": "a"}]]),
)
decisions = st.one_of(
    st.none(),
    st.sampled_from([{}, "x", 3, {"node_id": "a"}]),
    st.lists(decision_element, max_size=6),
)


@st.composite
def tree_node(draw: st.DrawFn, depth: int = 0) -> Any:
    node: dict[str, Any] = {}
    if draw(st.booleans()) or depth == 0:
        node["id"] = draw(st.sampled_from(NODE_IDS + [7]))
    for key in ("title", "question"):
        if draw(st.booleans()):
            node[key] = draw(st.sampled_from(["", "Check cable", "Restart?", None]))
    if depth < 3 and draw(st.booleans()):
        node["children"] = draw(
            st.one_of(st.lists(tree_node(depth + 1), max_size=3), st.sampled_from(["not a list", [1, None]]))
        )
    return node


tree_structures = st.one_of(tree_node(), st.sampled_from([None, [], "x", 5]))


@st.composite
def sources(draw: st.DrawFn) -> dict[str, list[tuple[Any, ...]]]:
    accounts = ids(1, draw(st.integers(1, 2)))
    users: list[tuple[Any, ...]] = []
    for a, account in enumerate(accounts):
        for u, user in enumerate(ids(10 + a, draw(st.integers(1, 4)))):
            name = draw(st.sampled_from([None, "", "Ann", "bob", "Ann", "Émile", "Unknown"]))
            # The first user of each account is an active team admin (the API needs a caller).
            active = u == 0 or draw(st.booleans())
            users.append((user, account, name, f"{user}@x", active, u == 0, a == 0 and u == 0))
    trees = [
        (tree, account, draw(st.sampled_from(["Wifi", "wifi", "VPN", "Wifi", ""])), draw(tree_structures))
        for a, account in enumerate(accounts)
        for tree in ids(20 + a, draw(st.integers(1, 12)))
    ]
    ghost_tree, ghost_user = str(uuid.UUID(int=99)), str(uuid.UUID(int=98))
    tree_ids = [t[0] for t in trees] + [ghost_tree]
    user_ids = [u[0] for u in users] + [ghost_user]
    sessions = []
    for session in ids(30, draw(st.integers(0, 30))):
        started = AS_OF + draw(any_offset)
        duration = draw(durations)
        sessions.append(
            (
                session,
                draw(st.sampled_from(tree_ids)),
                draw(st.sampled_from(user_ids)),
                started,
                None if duration is None else started + duration,
                draw(st.sampled_from([None, "resolved", "escalated", "workaround", "unresolved", "abandoned"])),
                draw(decisions),
            )
        )
    ratings = []
    for rating_id in ids(40, draw(st.integers(0, 14))):
        tree = draw(st.sampled_from(tree_ids))
        ratings.append(
            (
                rating_id,
                str(uuid.UUID(int=0)),
                tree,
                draw(st.sampled_from(user_ids)),
                draw(st.integers(1, 5)),
                draw(st.sampled_from([None, "", "   ", "great", "slow"])),
                AS_OF + draw(st.sampled_from([timedelta(days=-1), timedelta(days=-7), timedelta(days=-40)])),
            )
        )
    step_ratings = [
        (
            rid,
            str(uuid.UUID(int=0)),
            draw(st.sampled_from(tree_ids)),
            draw(st.sampled_from(NODE_IDS + ["zz"])),
            draw(st.booleans()),
            draw(st.sampled_from(user_ids)),
            AS_OF + draw(any_offset),
        )
        for rid in ids(50, draw(st.integers(0, 10)))
    ]
    return {
        "users": users,
        "trees": trees,
        "sessions": sessions,
        "session_ratings": ratings,
        "step_ratings": step_ratings,
    }


def load(url: str, source: dict[str, list[tuple[Any, ...]]]) -> None:
    with database.connect(url) as conn:
        conn.execute("TRUNCATE users, trees, sessions, session_ratings, step_ratings")
        columns = {
            "users": "id, account_id, name, email, is_active, is_team_admin, is_super_admin",
            "trees": "id, account_id, name, tree_structure",
            "sessions": "id, tree_id, user_id, started_at, completed_at, outcome, decisions",
            "session_ratings": "id, session_id, tree_id, user_id, rating, comment, created_at",
            "step_ratings": "id, session_id, tree_id, node_id, helpful, user_id, created_at",
        }
        json_column = {"trees": 3, "sessions": 6}
        for table, rows in source.items():
            if not rows:
                continue
            position = json_column.get(table)
            encoded = [
                tuple(json.dumps(v) if i == position and v is not None else v for i, v in enumerate(row))
                for row in rows
            ]
            marks = ", ".join(["%s"] * len(encoded[0]))
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} ({columns[table]}) VALUES ({marks})", encoded)
        conn.commit()


@pytest.fixture(scope="module")
def edge_db(pg_admin_url: str) -> Any:
    url = embedded.create_database(pg_admin_url, prefix="fm_edge")
    with database.connect(url) as conn:
        conn.execute(SOURCE_SCHEMA.read_text())
        conn.commit()
    yield url
    embedded.drop_database(pg_admin_url, url)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=sources())
def test_generated_sources_equal_live_sql(edge_db: str, tmp_path_factory: pytest.TempPathFactory, source: Any) -> None:
    load(edge_db, source)
    store = tmp_path_factory.mktemp("edge") / "metrics.duckdb"
    config = make_config(store)
    from jobs.refresh import run_refresh

    run_refresh(config, edge_db, mode="nightly", as_of=AS_OF)
    check(edge_db, config, AS_OF, engineers_per_account=5, users_sample=10)
