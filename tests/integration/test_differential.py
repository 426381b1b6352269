"""The API equals the app's live SQL, body for body, on seeded dirty data (issue: exactness).

Each case seeds a real PostgreSQL, refreshes through the real pipeline at a fixed as_of,
and compares every dashboard question through the real HTTP app with tests/reference.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from etl import database
from etl.config import Config
from jobs.refresh import run_refresh
from metrics_api.app import create_app
from synthetic.seed import seed
from tests.differential import SECRET, compare_everything

# Deliberately not on a whole second or day: window edges fall mid-day, mid-second.
AS_OF = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=timezone.utc)
SEED_ANCHOR = datetime(2026, 11, 20, tzinfo=timezone.utc)


def make_config(store_path: Path) -> Config:
    return Config.from_env(
        {"METRICS_DB": str(store_path), "METRICS_JWT_SECRET": SECRET, "METRICS_REFRESH_RETRIES": "0"},
        dotenv=Path("/nonexistent"),
    )


def check(url: str, config: Config, as_of: datetime, **sample: int) -> int:
    with TestClient(create_app(config)) as client, database.connect(url) as conn:
        result = compare_everything(conn, client, as_of, **sample)
    assert not result.mismatches, f"{len(result.mismatches)} of {result.checked} differ:\n" + "\n".join(
        result.mismatches[:10]
    )
    return result.checked


@pytest.mark.parametrize(
    ("seed_value", "sessions", "accounts", "days"),
    [(1, 25, 2, 30), (7, 1_500, 3, 120), (11, 6_000, 4, 200)],
    ids=["handful", "1.5k-sessions", "6k-sessions"],
)
def test_every_response_equals_live_sql(
    fresh_db: str, store_path: Path, seed_value: int, sessions: int, accounts: int, days: int
) -> None:
    seed(fresh_db, sessions=sessions, accounts=accounts, days=days, seed=seed_value, now=SEED_ANCHOR)
    config = make_config(store_path)
    run_refresh(config, fresh_db, mode="nightly", as_of=AS_OF)
    assert check(fresh_db, config, AS_OF) > 30


@pytest.mark.full
@pytest.mark.parametrize("seed_value", [3, 5])
def test_large_source_equals_live_sql(fresh_db: str, store_path: Path, seed_value: int) -> None:
    seed(fresh_db, sessions=60_000, accounts=12, days=365, seed=seed_value, now=SEED_ANCHOR)
    config = make_config(store_path)
    run_refresh(config, fresh_db, mode="nightly", as_of=AS_OF)
    # Every engineer of every account, every user, every tree, every period.
    assert check(fresh_db, config, AS_OF, engineers_per_account=100_000, users_sample=100_000) > 1_000


def test_hourly_refresh_picks_up_late_data(fresh_db: str, store_path: Path) -> None:
    """A session that completes, a rating that arrives, a decision appended: all exact next hour."""
    seed(fresh_db, sessions=1_200, accounts=3, days=120, seed=21, now=SEED_ANCHOR)
    config = make_config(store_path)
    run_refresh(config, fresh_db, mode="nightly", as_of=AS_OF)
    check(fresh_db, config, AS_OF)

    later = AS_OF + timedelta(hours=1)
    with database.connect(fresh_db) as conn:
        # Complete the most recent incomplete sessions (late completion), one of them late by weeks.
        changed = conn.execute(
            """
            UPDATE sessions SET completed_at = started_at + interval '17 minutes 3.5 seconds', outcome = 'resolved'
            WHERE id IN (SELECT id FROM sessions WHERE completed_at IS NULL AND started_at < %s
                         ORDER BY started_at DESC LIMIT 5)
            """,
            (AS_OF,),
        ).rowcount
        assert changed == 5
        # Append a decision to an incomplete session's array: its drop-off node moves.
        conn.execute(
            """
            UPDATE sessions SET decisions = decisions || '[{"node_id": "late-node"}]'::jsonb
            WHERE id = (SELECT id FROM sessions WHERE completed_at IS NULL AND jsonb_typeof(decisions) = 'array'
                        AND started_at < %s ORDER BY started_at DESC LIMIT 1)
            """,
            (AS_OF,),
        )
        # A rating with a comment arrives for a busy tree, newer than every other.
        conn.execute(
            """
            INSERT INTO session_ratings (id, session_id, tree_id, user_id, rating, comment, created_at)
            SELECT gen_random_uuid(), s.id, s.tree_id, s.user_id, 1, 'arrived late', %s
            FROM sessions s ORDER BY s.started_at DESC LIMIT 1
            """,
            (later - timedelta(minutes=5),),
        )
        conn.commit()
    run_refresh(config, fresh_db, mode="hourly", as_of=later)
    check(fresh_db, config, later)


def test_an_hourly_refresh_over_an_older_schema_recomputes_everything(fresh_db: str, store_path: Path) -> None:
    seed(fresh_db, sessions=300, accounts=2, days=120, seed=5, now=SEED_ANCHOR)
    config = make_config(store_path)
    run_refresh(config, fresh_db, mode="nightly", as_of=AS_OF)
    con = duckdb.connect(str(store_path.resolve()))
    con.execute("UPDATE store_meta SET value = 'older' WHERE key = 'schema_version'")
    con.close()
    record = run_refresh(config, fresh_db, mode="hourly", as_of=AS_OF)
    assert record.mode == "hourly"
    assert record.fallback is not None and "schema version older" in record.fallback
    check(fresh_db, config, AS_OF)
