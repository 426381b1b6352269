"""CLI fixtures: a seeded source and a store published through `flowmetrics refresh`, per module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.cli import main
from tests.conftest import seeded_database

SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
"""The seeded sessions end here; refreshes run at this as_of, so the store is the same every day."""


@pytest.fixture(scope="module")
def source_db(pg_admin_url: str) -> Iterator[str]:
    """A small seeded source (real PostgreSQL), dropped after the module."""
    with seeded_database(pg_admin_url, "fm_cli", sessions=400, accounts=2, days=40, seed=3, now=SEED_ANCHOR) as url:
        yield url


@pytest.fixture(scope="module")
def cli_env(source_db: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a CLI run on the module's own store, published by a nightly refresh."""
    store = tmp_path_factory.mktemp("cli") / "store" / "metrics.duckdb"
    env = {"DATABASE_URL": source_db, "METRICS_DB": str(store), "METRICS_REFRESH_RETRIES": "0"}
    assert main(["-q", "refresh", "--mode", "nightly", "--as-of", SEED_ANCHOR.isoformat()], env) == 0
    return env


@pytest.fixture
def store(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["METRICS_DB"])
