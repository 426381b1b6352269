"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test.

With DATABASE_URL set, that server is used; each test creates its own database there and
drops only what it created. Without it, a private embedded PostgreSQL is started.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from synthetic import embedded
from synthetic.seed import seed


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    pgdata = tmp_path_factory.mktemp("pg") / "data"
    yield embedded.start_embedded(pgdata, stop_at_exit=False)
    embedded.stop_embedded(pgdata)


@contextmanager
def seeded_database(admin_url: str, prefix: str, **seeding: Any) -> Iterator[str]:
    """A new database on the test server, seeded (`seeding`: synthetic.seed's arguments), dropped on exit."""
    url = embedded.create_database(admin_url, prefix=prefix)
    try:
        seed(url, **seeding)
        yield url
    finally:
        embedded.drop_database(admin_url, url)


@pytest.fixture
def make_database(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Factory of fresh, empty databases; each is dropped after the test."""
    created: list[str] = []

    def make() -> str:
        url = embedded.create_database(pg_admin_url, prefix="fm_test")
        created.append(url)
        return url

    yield make
    for url in created:
        embedded.drop_database(pg_admin_url, url)


@pytest.fixture
def fresh_db(make_database: Callable[[], str]) -> str:
    """URL of a fresh, empty database on the test server."""
    return make_database()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Where a test's METRICS_DB lives (the folder is private to the test)."""
    return tmp_path / "store" / "metrics.duckdb"
