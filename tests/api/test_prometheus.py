"""`/metrics`: parsed by prometheus_client's own parser; requests, refresh history and store state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from etl.config import Config
from etl.runs import RunRecord, append_run
from tests.api.conftest import bearer, encode_token, publish_store
from tests.api.sample import ADMIN_A, AS_OF, TREE_A1, sample_rows

Client = Callable[[Config], TestClient]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, path: str = "/metrics") -> Samples:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def record(mode: str, status: str, as_of: datetime, **stages: float) -> RunRecord:
    run = RunRecord(mode=mode, trigger="schedule", as_of=as_of, status=status, attempts=1)
    run.finished_at = run.started_at + timedelta(seconds=5)
    for name, value in stages.items():
        setattr(run, name, value)
    return run


def test_metrics_count_requests_by_route_template_and_status(
    api_client: Client, make_config: Callable[..., Config], store_path: Path
) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF, built_at=datetime.now(UTC) - timedelta(minutes=5))
    client = api_client(make_config())
    token = bearer(encode_token(ADMIN_A))
    for _ in range(3):
        assert client.get(f"/analytics/flows/{TREE_A1}", headers=token).status_code == 200
    assert client.get("/analytics/team").status_code == 401
    assert client.get("/health").status_code == 200
    assert client.get("/nowhere").status_code == 404
    samples = scrape(client)
    flow = labels(route="/analytics/flows/{tree_id}", method="GET", status="200")
    assert samples[("flowmetrics_http_requests_total", flow)] == 3
    assert samples[("flowmetrics_http_request_duration_seconds_count", flow)] == 3
    assert samples[("flowmetrics_http_request_duration_seconds_bucket", tuple(sorted((*flow, ("le", "+Inf")))))] == 3
    assert (
        samples[("flowmetrics_http_requests_total", labels(route="/analytics/team", method="GET", status="401"))] == 1
    )
    assert samples[("flowmetrics_http_requests_total", labels(route="/health", method="GET", status="200"))] == 1
    assert samples[("flowmetrics_http_requests_total", labels(route="unmatched", method="GET", status="404"))] == 1
    assert not any(TREE_A1 in str(key) for key in samples)  # one series per route, not per tree
    assert samples[("flowmetrics_store_up", ())] == 1
    assert 290 < samples[("flowmetrics_store_age_seconds", ())] < 3600
    assert samples[("flowmetrics_store_as_of_timestamp_seconds", ())] == AS_OF.timestamp()


def test_metrics_of_the_run_history(api_client: Client, make_config: Callable[..., Config], store_path: Path) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    config = make_config()
    nightly = record("nightly", "success", AS_OF, extract_rows=1000, extract_seconds=2.5, publish_rows=300)
    hourly = record("hourly", "success", AS_OF + timedelta(hours=1), transform_seconds=0.5)
    runs = [
        nightly,
        hourly,
        record("hourly", "failed", AS_OF + timedelta(hours=2), extract_seconds=0.25),
        record("hourly", "skipped", AS_OF + timedelta(hours=3)),
    ]
    runs[2].failed_step = "extract"
    for run in runs:
        append_run(config.runs_log, run)
    samples = scrape(api_client(config))
    assert nightly.finished_at is not None and hourly.finished_at is not None
    expected = {
        ("flowmetrics_last_success_timestamp_seconds", labels(mode="nightly")): nightly.finished_at.timestamp(),
        ("flowmetrics_last_success_timestamp_seconds", labels(mode="hourly")): hourly.finished_at.timestamp(),
        ("flowmetrics_last_success_as_of_timestamp_seconds", labels(mode="nightly")): AS_OF.timestamp(),
        ("flowmetrics_last_success_as_of_timestamp_seconds", labels(mode="hourly")): (
            AS_OF + timedelta(hours=1)
        ).timestamp(),
        # The last finished run is the failed one (a skipped run does nothing).
        ("flowmetrics_last_run_stage_seconds", labels(stage="extract")): 0.25,
        ("flowmetrics_last_run_stage_seconds", labels(stage="transform")): 0.0,
        ("flowmetrics_last_run_success", ()): 0.0,
        ("flowmetrics_refresh_failures_total", labels(step="extract")): 1,
        ("flowmetrics_refresh_runs_total", labels(status="success")): 2,
        ("flowmetrics_refresh_runs_total", labels(status="failed")): 1,
        ("flowmetrics_refresh_runs_total", labels(status="skipped")): 1,
    }
    assert {key: samples.get(key) for key in expected} == expected


def test_metrics_without_a_store(api_client: Client, make_config: Callable[..., Config]) -> None:
    client = api_client(make_config(METRICS_API_PREFIX="/api/v1"))
    samples = scrape(client, "/api/v1/metrics")
    assert samples[("flowmetrics_store_up", ())] == 0
    assert ("flowmetrics_store_age_seconds", ()) not in samples
    assert ("flowmetrics_store_lag_seconds", ()) not in samples


def test_docs_and_every_other_route_get_their_own_label(
    api_client: Client, make_config: Callable[..., Config], store_path: Path
) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    client = api_client(make_config(METRICS_API_PREFIX="/api/v1"))
    # path asked -> its route's template (as declared: without the prefix every path shares)
    asked = {
        "/api/v1/docs": "/docs",
        "/api/v1/openapi.json": "/openapi.json",
        "/api/v1/docs/assets/swagger-ui.css": "/docs/assets/{name}",
        "/api/v1/": "/",
        "/api/v1/page/ops": "/page/ops",
        "/api/v1/_ping": "/_ping",
    }
    for path in asked:
        assert client.get(path).status_code == 200, path
    assert client.head("/api/v1/").status_code == 200
    for path in ["/docs", "/openapi.json", "/api/v1/nowhere"]:  # no route: the only unmatched ones
        assert client.get(path).status_code == 404
    samples = scrape(client, "/api/v1/metrics")
    requests = {
        (dict(key)["route"], dict(key)["method"], dict(key)["status"]): value
        for (name, key), value in samples.items()
        if name == "flowmetrics_http_requests_total"
    }
    assert requests == {
        **{(route, "GET", "200"): 1 for route in asked.values()},
        ("/", "HEAD", "200"): 1,
        ("unmatched", "GET", "404"): 3,
    }


def test_store_lag_and_last_incremental(
    api_client: Client, make_config: Callable[..., Config], store_path: Path
) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    config = make_config()
    client = api_client(config)
    before = (datetime.now(UTC) - AS_OF).total_seconds()
    samples = scrape(client)
    after = (datetime.now(UTC) - AS_OF).total_seconds()
    assert before <= samples[("flowmetrics_store_lag_seconds", ())] <= after
    assert ("flowmetrics_last_incremental_timestamp_seconds", ()) not in samples  # none ran yet

    ok = record("incremental", "success", AS_OF + timedelta(minutes=1))
    for run in [
        record("incremental", "success", AS_OF),
        ok,
        record("incremental", "failed", AS_OF + timedelta(minutes=2)),
        record("hourly", "success", AS_OF + timedelta(minutes=3)),
    ]:
        append_run(config.runs_log, run)
    assert ok.finished_at is not None
    samples = scrape(client)
    assert samples[("flowmetrics_last_incremental_timestamp_seconds", ())] == ok.finished_at.timestamp()
    assert samples[("flowmetrics_last_success_timestamp_seconds", labels(mode="incremental"))] == (
        ok.finished_at.timestamp()
    )
    # The same moment /health names.
    health = client.get("/health").json()
    assert datetime.fromisoformat(health["last_incremental_at"]).timestamp() == ok.finished_at.timestamp()


def test_fallbacks_and_drift_of_the_run_history(
    api_client: Client, make_config: Callable[..., Config], store_path: Path
) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    config = make_config()
    first = record("incremental", "success", AS_OF)
    first.fallback = "no store at data/metrics.duckdb yet"
    later = record("incremental", "success", AS_OF + timedelta(minutes=1))
    later.fallback = "the watermark cannot be vouched for: xid wraparound"
    hourly = record("hourly", "success", AS_OF + timedelta(hours=1))
    hourly.drift_rows = '{"fact_ratings": 0, "fact_sessions": 3, "fact_step_ratings": 0}'
    for run in (first, later, hourly):
        append_run(config.runs_log, run)
    samples = scrape(api_client(config))
    expected = {
        ("flowmetrics_refresh_fallbacks_total", labels(mode="incremental")): 2,
        ("flowmetrics_last_fallback_info", labels(reason=later.fallback)): 1.0,
        ("flowmetrics_drift_rows", labels(table="fact_sessions")): 3.0,
        ("flowmetrics_drift_rows", labels(table="fact_ratings")): 0.0,
    }
    assert {key: samples.get(key) for key in expected} == expected
