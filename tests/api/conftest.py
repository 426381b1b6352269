"""API test fixtures: stores written by the real publish, the real app, real JWTs.

Reusable beyond the hand-written stores: `make_config`, `api_client` and `make_token`
work on any store at `store_path`, including one built by the real pipeline.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import polars as pl
import pytest
from fastapi.testclient import TestClient

from etl import statements
from etl.config import Config
from etl.publish import PublishResult, publish
from metrics_api.app import create_app

# 64+ bytes (enough for HS512): PyJWT warns about shorter HMAC keys, and warnings fail tests.
SECRET = "api-test-secret-" + "0123456789abcdef" * 4


def store_schemas() -> dict[str, pl.Schema]:
    """Polars schema of every store table, from etl/sql/store.sql."""
    return {table: statements.store_schema(table) for table in statements.store_columns()}


def store_tables(rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> dict[str, pl.DataFrame]:
    """One frame per store table (store_meta aside): the given rows, empty for the rest."""
    given = dict(rows or {})
    schemas = store_schemas()
    unknown = set(given) - set(schemas)
    assert not unknown, f"not store tables: {unknown}"
    return {
        name: pl.DataFrame(list(given.get(name, [])), schema=schema, orient="row")
        for name, schema in schemas.items()
        if name != "store_meta"
    }


def publish_store(
    metrics_db: Path,
    rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    *,
    as_of: datetime,
    built_at: datetime | None = None,
) -> PublishResult:
    """Publish a store of these rows (the real publish: audited, atomic symlink swap)."""
    meta = {"as_of": as_of.isoformat(), "built_at": (built_at or as_of).isoformat(), "mode": "nightly"}
    return publish(metrics_db, store_tables(rows), meta=meta)


@pytest.fixture
def make_config(store_path: Path) -> Callable[..., Config]:
    """Config for the test store; keyword arguments are extra environment variables."""

    def make(**env: str) -> Config:
        environ = {"METRICS_DB": str(store_path), "METRICS_JWT_SECRET": SECRET, **env}
        return Config.from_env(environ, dotenv=Path("/nonexistent"))

    return make


@pytest.fixture
def api_client() -> Iterator[Callable[[Config], TestClient]]:
    """Factory: a started TestClient on the real app for a config; closed after the test."""
    with ExitStack() as stack:

        def make(config: Config) -> TestClient:
            return stack.enter_context(TestClient(create_app(config)))

        yield make


@pytest.fixture
def client(api_client: Callable[[Config], TestClient], make_config: Callable[..., Config]) -> TestClient:
    return api_client(make_config())


def encode_token(user_id: object, /, *, secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    payload = {"sub": user_id, "exp": datetime.now(UTC) + timedelta(minutes=10), **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm=algorithm)


@pytest.fixture
def make_token() -> Callable[..., str]:
    """make_token(user_id, **claims) -> a JWT signed like the app's (a claim set to None is left out)."""
    return encode_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unsigned_token(claims: Mapping[str, Any]) -> str:
    """A token with `alg: none` and no signature, as an attacker would send it."""

    def part(data: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> PublishResult:
    """The hand-written store of tests/api/sample.py, published once; tests only read it."""
    from tests.api.sample import AS_OF, sample_rows

    metrics_db = tmp_path_factory.mktemp("sample") / "metrics.duckdb"
    return publish_store(metrics_db, sample_rows(), as_of=AS_OF, built_at=AS_OF + timedelta(minutes=2))


@pytest.fixture
def sample_client(
    api_client: Callable[[Config], TestClient], make_config: Callable[..., Config], sample_store: PublishResult
) -> TestClient:
    """The app on the sample store (METRICS_DB is the symlink beside the published version)."""
    metrics_db = sample_store.path.parent / sample_store.path.name.split(".v")[0]
    return api_client(make_config(METRICS_DB=str(metrics_db)))
