"""The app factory: refusing to start without a secret, prefix, CORS, OpenAPI, health, ping."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from etl.config import Config
from etl.errors import ConfigError, RefreshFailed
from etl.publish import PublishResult
from etl.runs import RunRecord, append_run, read_runs
from jobs.refresh import run_refresh
from jobs.status import render_status
from metrics_api.app import create_app
from tests.api.conftest import bearer, encode_token, publish_store
from tests.api.sample import ACCOUNT_A, ACCOUNT_B, ADMIN_A, AS_OF, AS_OF_TEXT, ENGINEER_A, TREE_A1, sample_rows

Client = Callable[[Config], TestClient]
MakeConfig = Callable[..., Config]


def sample_db(sample_store: PublishResult) -> str:
    return str(sample_store.path.parent / sample_store.path.name.split(".v")[0])


def test_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    config = Config.from_env({"METRICS_DB": str(tmp_path / "m.duckdb")}, dotenv=Path("/nonexistent"))
    with pytest.raises(ConfigError, match="^METRICS_JWT_SECRET is not set; "):
        create_app(config)
    assert create_app(config, demo=True).title == "flowmetrics read API"


def test_api_prefix(api_client: Client, make_config: MakeConfig, sample_store: PublishResult) -> None:
    client = api_client(make_config(METRICS_DB=sample_db(sample_store), METRICS_API_PREFIX="/api/v1/"))
    token = bearer(encode_token(ADMIN_A))
    for path in ["/analytics/team", "/analytics/me", f"/analytics/flows/{TREE_A1}"]:
        assert client.get(f"/api/v1{path}?period=7d", headers=token).status_code == 200
        assert client.get(path, headers=token).status_code == 404
    assert client.get("/api/v1/health").json()["status"] == "ok"
    assert client.get("/api/v1/_ping").json() == {"status": "ok"}
    assert client.get("/health").status_code == 404
    assert "/api/v1/analytics/team" in client.get("/api/v1/openapi.json").json()["paths"]


def test_docs_and_openapi_take_the_prefix(
    api_client: Client, make_config: MakeConfig, sample_store: PublishResult
) -> None:
    client = api_client(make_config(METRICS_DB=sample_db(sample_store), METRICS_API_PREFIX="/api/v1"))
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200 and "/api/v1/analytics/me" in schema.json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "url: '/api/v1/openapi.json'" in docs.text
    urls = asset_urls(docs.text)
    assert len(urls) == 4 and all(url.startswith("/api/v1/") for url in urls)
    assert all(client.get(url).status_code == 200 for url in urls)
    for path in ["/docs", "/openapi.json", "/redoc", "/api/v1/redoc"]:
        assert client.get(path).status_code == 404, path


def asset_urls(page: str) -> list[str]:
    """Every URL a page loads or links: src and href attributes, and Swagger UI's `url:` option."""
    return re.findall(r'(?:src|href)="([^"]*)"', page) + re.findall(r"\burl: '([^']*)'", page)


def test_docs_load_nothing_from_another_host(sample_client: TestClient) -> None:
    docs = sample_client.get("/docs")
    assert docs.status_code == 200 and "SwaggerUIBundle(" in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text
    assert '"validatorUrl": null' in docs.text  # no badge fetched from validator.swagger.io
    urls = asset_urls(docs.text)
    assert {url.rsplit("/", 1)[-1] for url in urls} == {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "favicon-32x32.png",
        "openapi.json",
    }
    kinds = {".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".json": "application/json"}
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url  # this server, not another host
        response = sample_client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(kinds[Path(url).suffix]), url
        assert len(response.content) > 100, url
    # Swagger UI 5 renders the OpenAPI 3.1 document FastAPI writes (Swagger UI 4 does not).
    assert b"SwaggerUIBundle" in sample_client.get("/docs/assets/swagger-ui-bundle.js").content
    assert sample_client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert sample_client.get("/docs/assets/index.html").status_code == 404  # only the files the page loads
    assert sample_client.get("/docs/assets/..%2F__init__.py").status_code == 404


def test_cors_for_configured_origins(api_client: Client, make_config: MakeConfig, sample_store: PublishResult) -> None:
    origin = "https://app.example.com"
    client = api_client(
        make_config(METRICS_DB=sample_db(sample_store), METRICS_CORS_ORIGINS=f"{origin}, https://other.example")
    )
    preflight = client.options(
        "/analytics/me",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    response = client.get("/analytics/me", headers={"Origin": origin, **bearer(encode_token(ENGINEER_A))})
    assert response.headers["access-control-allow-origin"] == origin
    assert "x-data-as-of" in response.headers["access-control-expose-headers"].lower()
    stranger = client.get(
        "/analytics/me", headers={"Origin": "https://evil.example", **bearer(encode_token(ENGINEER_A))}
    )
    assert "access-control-allow-origin" not in stranger.headers


def test_no_cors_headers_without_origins(sample_client: TestClient) -> None:
    response = sample_client.get("/_ping", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_openapi_declares_models_and_errors(sample_client: TestClient) -> None:
    schema = sample_client.get("/openapi.json").json()
    paths = schema["paths"]
    assert "/_ping" not in paths
    expected = {
        "/analytics/team": ("TeamAnalyticsResponse", {"200", "401", "403", "422", "503"}),
        "/analytics/me": ("PersonalAnalyticsResponse", {"200", "401", "403", "422", "503"}),
        "/analytics/flows/{tree_id}": ("FlowAnalyticsResponse", {"200", "401", "403", "404", "422", "503"}),
        "/health": ("HealthResponse", {"200", "503"}),
    }
    for path, (model, codes) in expected.items():
        answers = paths[path]["get"]["responses"]
        assert set(answers) == codes, path
        assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{model}")
        for code in codes - {"200", "422"} - ({"503"} if path == "/health" else set()):
            assert answers[code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    team = paths["/analytics/team"]["get"]
    assert {p["name"] for p in team["parameters"]} == {"period", "engineer_id"}
    assert team["security"] == [{"bearerAuth": []}]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "security" not in paths["/health"]["get"]
    assert sample_client.get("/docs").status_code == 200


def test_ping_is_constant(sample_client: TestClient) -> None:
    response = sample_client.get("/_ping")
    assert (response.status_code, response.content) == (200, b'{"status":"ok"}')


def test_health_before_and_after_the_first_store(api_client: Client, make_config: MakeConfig, store_path: Path) -> None:
    client = api_client(make_config())
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["store_version"], body["as_of"], body["last_run"]) == ("no store", None, None, None)
    assert "flowmetrics refresh" in body["detail"]

    published = publish_store(store_path, sample_rows(), as_of=AS_OF)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["store_version"] == published.path.name
    assert response.json()["as_of"] == AS_OF_TEXT
    assert response.headers["x-data-as-of"] == AS_OF_TEXT


def test_health_last_run_prefers_the_run_history(api_client: Client, make_config: MakeConfig, store_path: Path) -> None:
    config = make_config()
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    failed = {
        "run_id": "run-3",
        "mode": "hourly",
        "status": "failed",
        "failed_step": "extract",
        "error": "connection refused",
        "started_at": "2026-11-20T10:05:00Z",
    }
    # As etl.runs writes it: one JSON object per line; a torn last line is skipped.
    config.runs_log.write_text(
        json.dumps({"run_id": "run-2", "status": "success"})
        + "\n"
        + json.dumps(failed)
        + "\n"
        + '{"run_id": "run-4", "sta'
    )
    body = api_client(config).get("/health").json()
    assert body["status"] == "ok"
    assert body["last_run"] == {
        **{key: None for key in ("trigger", "as_of", "finished_at")},
        **{key: failed[key] for key in ("run_id", "mode", "status", "failed_step", "started_at")},
    }


HEALTH_KEYS = ["status", "store_version", "as_of", "built_at", "store_age_seconds", "last_run", "detail"]
"""/health's keys before lag_seconds and last_incremental_at were added: kept, in this order."""


def incremental_run(status: str, finished_at: datetime, mode: str = "incremental") -> RunRecord:
    run = RunRecord(mode=mode, trigger="schedule", as_of=finished_at - timedelta(seconds=2), status=status)
    run.started_at, run.finished_at = finished_at - timedelta(seconds=2), finished_at
    return run


def test_health_says_how_far_the_data_trails_and_when_incremental_last_ran(
    api_client: Client, make_config: MakeConfig, store_path: Path
) -> None:
    config = make_config()
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    client = api_client(config)
    before = (datetime.now(UTC) - AS_OF).total_seconds()
    body = client.get("/health").json()
    after = (datetime.now(UTC) - AS_OF).total_seconds()
    assert list(body) == [*HEALTH_KEYS, "lag_seconds", "last_incremental_at"]
    assert isinstance(body["lag_seconds"], float) and before - 0.001 <= body["lag_seconds"] <= after + 0.001
    assert body["last_incremental_at"] is None  # no run history yet

    first = datetime(2026, 12, 3, 12, 0, 5, 250000, tzinfo=UTC)
    for run in [
        incremental_run("success", first - timedelta(minutes=1)),
        incremental_run("success", first),
        incremental_run("failed", first + timedelta(minutes=1)),  # failed: does not count
        incremental_run("success", first + timedelta(minutes=2), mode="hourly"),  # another mode
        incremental_run("skipped", first + timedelta(minutes=3)),
    ]:
        append_run(config.runs_log, run)
    body = client.get("/health").json()
    assert datetime.fromisoformat(body["last_incremental_at"]) == first
    assert body["last_run"]["status"] == "skipped"  # last_run unchanged: the newest line, whatever it is

    # Read again as the history grows, a torn line (a writer mid-append) skipped until it is whole.
    later = first + timedelta(minutes=4)
    line = incremental_run("success", later).to_json() + "\n"
    with config.runs_log.open("a") as handle:
        handle.write(line[:40])
        handle.flush()
        assert datetime.fromisoformat(client.get("/health").json()["last_incremental_at"]) == first
        handle.write(line[40:])
    assert datetime.fromisoformat(client.get("/health").json()["last_incremental_at"]) == later

    config.runs_log.unlink()  # a new history (rotated away): nothing recorded any more
    assert client.get("/health").json()["last_incremental_at"] is None
    append_run(config.runs_log, incremental_run("success", first))
    assert datetime.fromisoformat(client.get("/health").json()["last_incremental_at"]) == first


def test_health_without_a_store_still_names_the_last_incremental_run(
    api_client: Client, make_config: MakeConfig
) -> None:
    config = make_config()
    finished = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)
    append_run(config.runs_log, incremental_run("success", finished))
    response = api_client(config).get("/health")
    assert response.status_code == 503
    body = response.json()
    assert list(body) == [*HEALTH_KEYS, "lag_seconds", "last_incremental_at"]
    assert body["lag_seconds"] is None
    assert datetime.fromisoformat(body["last_incremental_at"]) == finished


def test_health_names_the_store(sample_client: TestClient, sample_store: PublishResult) -> None:
    response = sample_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store_version"] == sample_store.path.name
    assert body["as_of"] == AS_OF_TEXT
    assert body["built_at"] == "2026-11-20T09:32:15.123456Z"
    assert isinstance(body["store_age_seconds"], float)
    assert body["last_run"]["run_id"] == "run-2"  # no run history file: the store's newest run
    assert body["last_run"]["status"] == "success"
    assert body["last_run"]["as_of"] == AS_OF_TEXT
    assert ACCOUNT_B not in response.text  # health says nothing about tenants


def test_health_names_no_source_or_path_but_status_has_them(
    api_client: Client, make_config: MakeConfig, store_path: Path
) -> None:
    config = make_config(METRICS_REFRESH_RETRIES="0")
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    # A real failed refresh: nothing listens on that port, and its error names the source.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://app_reader:hunter2@127.0.0.1:{port}/resolutionflow_prod"
    with pytest.raises(RefreshFailed):
        run_refresh(config, url, mode="hourly")
    [run] = read_runs(config.runs_log)
    secrets = ["app_reader", "127.0.0.1", str(port), "resolutionflow_prod", str(store_path.parent)]
    assert all(secret in render_status(config) for secret in secrets[:4])  # operators keep the message
    client = api_client(config)
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["last_run"]["status"] == "failed" and body["last_run"]["failed_step"] == "connect"
    assert body["last_run"]["run_id"] == run.run_id and isinstance(body["store_age_seconds"], float)
    assert [secret for secret in secrets if secret in response.text] == []

    # Unreadable (a new API on a file that is no database): 503 in words, still no path.
    garbage = store_path.with_name("metrics.duckdb.vgarbage")
    garbage.write_bytes(b"not a database" * 100)
    store_path.unlink()
    os.symlink(garbage.name, store_path)
    response = api_client(config).get("/health")
    assert (response.status_code, response.json()["status"]) == (503, "unavailable")
    assert [secret for secret in secrets if secret in response.text] == []


def damage(version: Path, how: str) -> None:
    if how == "truncated":
        os.truncate(version, version.stat().st_size // 3)
    else:  # overwritten in place with other bytes, same size
        size = version.stat().st_size
        with version.open("r+b") as handle:
            handle.write(os.urandom(size))


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
def test_a_damaged_store_answers_503_and_health_says_so(
    api_client: Client, make_config: MakeConfig, store_path: Path, how: str
) -> None:
    published = publish_store(store_path, sample_rows(), as_of=AS_OF)
    client = api_client(make_config())
    admin, engineer = bearer(encode_token(ADMIN_A)), bearer(encode_token(ENGINEER_A))
    assert client.get("/analytics/team?period=7d", headers=admin).status_code == 200
    damage(published.path, how)

    for path, token in [
        ("/analytics/team?period=7d", admin),  # answered before: cached
        ("/analytics/me?period=30d", engineer),  # never answered: needs the file
        (f"/analytics/flows/{TREE_A1}", admin),
    ]:
        response = client.get(path, headers=token)
        assert response.status_code == 503, (path, response.text)
        assert "publish a new one" in response.json()["detail"]
    health = client.get("/health")
    assert (health.status_code, health.json()["status"]) == (503, "damaged")
    assert str(store_path.parent) not in health.text

    # The next publish is served again, without a restart.
    later = AS_OF + timedelta(hours=1)
    publish_store(store_path, sample_rows(), as_of=later)
    response = client.get("/analytics/me?period=30d", headers=engineer)
    assert response.status_code == 200 and response.headers["x-data-as-of"] != AS_OF_TEXT
    assert client.get("/health").json()["status"] == "ok"


def test_a_new_version_is_warmed_with_the_previous_ones_answers(
    api_client: Client, make_config: MakeConfig, store_path: Path
) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    client = api_client(make_config())
    reader = client.app.state.reader  # type: ignore[attr-defined]
    admin, engineer = bearer(encode_token(ADMIN_A)), bearer(encode_token(ENGINEER_A))
    asked = [
        (("team", ACCOUNT_A, "", "7d"), "/analytics/team?period=7d", admin),
        (("me", ENGINEER_A, "30d"), "/analytics/me?period=30d", engineer),
        (("flow", TREE_A1, "90d"), f"/analytics/flows/{TREE_A1}?period=90d", engineer),
    ]
    for _key, path, token in asked:
        assert client.get(path, headers=token).status_code == 200

    later = AS_OF + timedelta(hours=1)
    publish_store(store_path, sample_rows(), as_of=later)
    assert client.get("/health").json()["as_of"] != AS_OF_TEXT  # the first request opens the new version
    snapshot = reader.snapshot()
    for key, path, token in asked:
        warmed = snapshot.cached(key)
        assert warmed is not None, key
        # The same bytes a cold build of the new version gives (a fresh API on the same file).
        cold = api_client(make_config()).get(path, headers=token)
        assert (cold.status_code, cold.content) == (200, warmed)
        assert json.loads(warmed)["as_of"] != AS_OF_TEXT
