"""The store's DuckDB storage format: the publish writes METRICS_STORAGE_VERSION's, a refresh
after a change of setting (an hourly, which copies the older days) writes the new one.

How the setting is read is tested in tests/unit/etl/test_config.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from etl.config import Config
from etl.publish import publish
from etl.store import published_meta
from jobs.refresh import run_refresh
from synthetic.seed import seed
from tests.api.conftest import store_tables

AS_OF = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
META = {"as_of": AS_OF.isoformat(), "built_at": AS_OF.isoformat(), "mode": "nightly"}


def config(**env: str) -> Config:
    return Config.from_env(env, dotenv=Path("/nonexistent"))


def file_format(path: Path) -> str:
    """The storage format DuckDB reports for a file ('v1.0.0+' covers v1.0.0 and v1.1.0)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
        tags = con.sql("SELECT tags FROM duckdb_databases() WHERE database_name = 'store'").fetchall()[0][0]
    finally:
        con.close()
    return str(tags["storage_version"])


@pytest.mark.parametrize(("version", "reported"), [("v1.0.0", "v1.0.0+"), ("v1.4.0", "v1.4.0+"), ("v2.0.0", "v2.0.0+")])
def test_publish_writes_the_chosen_format_and_records_it(tmp_path: Path, version: str, reported: str) -> None:
    result = publish(tmp_path / "metrics.duckdb", store_tables(), meta=META, storage_version=version)
    assert file_format(result.path) == reported


def test_a_changed_setting_takes_effect_at_the_next_refresh(fresh_db: str, store_path: Path) -> None:
    seed(fresh_db, sessions=300, accounts=2, days=120, seed=3, now=AS_OF)
    env = {"METRICS_DB": str(store_path), "METRICS_JWT_SECRET": "x", "METRICS_REFRESH_RETRIES": "0"}
    run_refresh(config(**env), fresh_db, mode="nightly", as_of=AS_OF)
    assert run_refresh(config(**env), fresh_db, mode="hourly", as_of=AS_OF).mode == "hourly"
    assert file_format(store_path.resolve()) == "v1.0.0+"
    assert published_meta(store_path)["storage_version"] == "v1.0.0"
    with duckdb.connect(str(store_path.resolve()), read_only=True) as con:
        before = con.sql("SELECT count(*) FROM fact_sessions").fetchall()
    newer = config(**env, METRICS_STORAGE_VERSION="v2.0.0")
    assert run_refresh(newer, fresh_db, mode="hourly", as_of=AS_OF).mode == "hourly"
    assert file_format(store_path.resolve()) == "v2.0.0+"
    assert published_meta(store_path)["storage_version"] == "v2.0.0"
    with duckdb.connect(str(store_path.resolve()), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM fact_sessions").fetchall() == before
