"""Publish detection: a new store is served without a restart, never mixed with the old one."""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from etl import statements
from etl.config import Config
from metrics_api.reader import StoreReader
from tests.api.conftest import bearer, encode_token, publish_store
from tests.api.sample import ADMIN_A, AS_OF, tiny_rows

Client = Callable[[Config], TestClient]
TEAM = "/analytics/team?period=7d"


@pytest.fixture
def admin() -> dict[str, str]:
    """The Authorization header of account A's team admin."""
    return bearer(encode_token(ADMIN_A))


def as_of_for(n: int) -> str:
    return (AS_OF + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")


def publish_numbered(store_path: Path, n: int) -> Path:
    """Store number n: as_of = AS_OF + n minutes, account A has n sessions."""
    as_of = AS_OF + timedelta(minutes=n)
    return publish_store(store_path, tiny_rows(n, as_of), as_of=as_of).path


def test_new_store_served_without_restart(
    api_client: Client, make_config: Callable[..., Config], store_path: Path, admin: dict[str, str]
) -> None:
    publish_numbered(store_path, 3)
    client = api_client(make_config())
    first = client.get(TEAM, headers=admin)
    assert first.json()["summary"]["total_sessions"] == 3
    assert first.headers["x-data-as-of"] == first.json()["as_of"] == as_of_for(3)

    second_path = publish_numbered(store_path, 7)
    second = client.get(TEAM, headers=admin)
    assert second.json()["summary"]["total_sessions"] == 7
    assert second.headers["x-data-as-of"] == second.json()["as_of"] == as_of_for(7)
    assert client.get("/health").json()["store_version"] == second_path.name


def test_old_snapshot_released_after_swap(store_path: Path) -> None:
    publish_numbered(store_path, 1)
    reader = StoreReader(store_path)
    old = reader.snapshot()
    assert reader.snapshot() is old  # unchanged store: same snapshot, no reopen
    gone = weakref.ref(old)
    with old.queries() as q:  # a request still using the old version...
        publish_numbered(store_path, 2)
        assert reader.snapshot() is not old
        assert q.summary("7d", "account", tiny_rows(1, AS_OF)["users"][0]["account_id"]).total_sessions == 1
    del old, q
    gc.collect()
    assert gone() is None  # ...and once it is done, the old version is let go (and closed)


def test_requests_do_not_wait_for_a_new_version(store_path: Path) -> None:
    publish_numbered(store_path, 1)
    reader = StoreReader(store_path)
    old = reader.snapshot()
    publish_numbered(store_path, 2)
    assert reader.snapshot_nowait() is None  # the event loop hands the open to a worker
    with reader._loading:  # another worker is busy opening the new version
        assert reader.snapshot_nowait() is old
        assert reader.snapshot() is old
    assert reader.snapshot().as_of == AS_OF + timedelta(minutes=2)


def test_unreadable_store_is_503(
    api_client: Client, make_config: Callable[..., Config], store_path: Path, admin: dict[str, str]
) -> None:
    store_path.parent.mkdir(parents=True)
    garbage = store_path.with_name("metrics.duckdb.vgarbage")
    garbage.write_bytes(b"this is not a database" * 100)
    os.symlink(garbage.name, store_path)
    client = api_client(make_config())
    response = client.get("/analytics/me", headers=admin)
    assert response.status_code == 503
    assert str(garbage) in response.json()["detail"]
    health = client.get("/health")
    assert (health.status_code, health.json()["status"]) == (503, "unavailable")


def test_a_version_that_will_not_open_leaves_the_last_good_one_in_service(
    api_client: Client, make_config: Callable[..., Config], store_path: Path, admin: dict[str, str]
) -> None:
    publish_numbered(store_path, 3)
    client = api_client(make_config())
    assert client.get(TEAM, headers=admin).json()["summary"]["total_sessions"] == 3
    broken = store_path.with_name("metrics.duckdb.vbroken")
    broken.write_bytes(b"not a database" * 100)
    link = store_path.with_name(".broken.link")
    os.symlink(broken.name, link)
    os.replace(link, store_path)  # as publish swaps, but to an unreadable file

    for _ in range(3):  # served from the last good version; the broken one is not retried each time
        response = client.get(TEAM, headers=admin)
        assert (response.status_code, response.json()["summary"]["total_sessions"]) == (200, 3)
    health = client.get("/health").json()
    assert (health["status"], health["as_of"]) == ("degraded", as_of_for(3))
    assert "could not be opened" in health["detail"] and str(broken) not in health["detail"]

    publish_numbered(store_path, 4)
    assert client.get(TEAM, headers=admin).json()["summary"]["total_sessions"] == 4
    assert client.get("/health").json()["status"] == "ok"


def test_store_of_another_schema_version_is_503(
    api_client: Client, make_config: Callable[..., Config], store_path: Path, admin: dict[str, str]
) -> None:
    store_path.parent.mkdir(parents=True)
    old = store_path.with_name("metrics.duckdb.vold")
    con = duckdb.connect(str(old))
    con.execute(statements.read("store.sql"))
    con.execute("INSERT INTO store_meta VALUES ('schema_version', '0'), ('as_of', '2026-01-01T00:00:00+00:00')")
    con.close()
    os.symlink(old.name, store_path)
    response = api_client(make_config()).get("/analytics/me", headers=admin)
    assert response.status_code == 503
    assert "schema_version '0'" in response.json()["detail"]


@pytest.mark.slow
def test_concurrent_requests_while_publishing(
    api_client: Client, make_config: Callable[..., Config], store_path: Path, admin: dict[str, str]
) -> None:
    """Every answer is one store's: its as_of, header, totals and (health) path agree."""
    paths = {as_of_for(1): publish_numbered(store_path, 1)}
    client = api_client(make_config())
    stop = threading.Event()
    seen: list[tuple[str, int, dict[str, Any], str]] = []
    failures: list[BaseException] = []

    def hammer(path: str) -> None:
        try:
            while not stop.is_set():
                response = client.get(path, headers=admin)
                seen.append((path, response.status_code, response.json(), response.headers.get("x-data-as-of", "")))
                time.sleep(0.002)  # leave the publishing thread some of the GIL
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=hammer, args=(p,)) for p in [TEAM, TEAM, TEAM, "/analytics/team", "/health"]]
    for thread in threads:
        thread.start()
    try:
        for n in range(2, 6):
            time.sleep(0.05)
            paths[as_of_for(n)] = publish_numbered(store_path, n)
        time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert not failures
    stores_seen = set()
    for path, status, body, header in seen:
        assert status == 200, body
        assert header == body["as_of"]
        n = list(paths).index(body["as_of"]) + 1  # store n was published n-th
        stores_seen.add(n)
        if path == "/health":
            assert body["store_version"] == paths[body["as_of"]].name
        else:
            assert body["summary"]["total_sessions"] == n
            assert sum(p["sessions"] for p in body["time_series"]) == n
    assert len(seen) > 50
    assert len(stores_seen) >= 3  # requests really overlapped several publishes
    assert 5 in stores_seen  # and the last one is being served
