"""The built-in page: its files, the run history it shows (error text for operators only), its choices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from etl.config import PERIODS, Config
from etl.runs import RunRecord, append_run
from metrics_api.models import DEFAULT_PERIOD
from tests.api.conftest import bearer, encode_token, publish_store
from tests.api.sample import (
    ACCOUNT_A,
    ADMIN_A,
    AS_OF,
    ENGINEER_A,
    INACTIVE_A,
    NAMELESS_A,
    SUPER_B,
    TREE_A1,
    TREE_A2,
    TREE_B1,
    named,
    sample_rows,
    user,
)

Client = Callable[[Config], TestClient]
UNNAMED_TREE = "71000000-0000-4000-8000-0000000000a3"
SECRET_TEXT = "connection to db-primary.internal:5432 refused"


@pytest.fixture
def page_client(api_client: Client, make_config: Callable[..., Config], store_path: Path) -> TestClient:
    """The sample store at the test's own METRICS_DB, with a run history beside it: a success, then a failure."""
    publish_store(store_path, sample_rows(), as_of=AS_OF, built_at=AS_OF + timedelta(minutes=2))
    config = make_config()
    ok = RunRecord(mode="nightly", trigger="manual", as_of=AS_OF, status="success", extract_rows=1200, attempts=1)
    ok.extract_seconds, ok.transform_seconds, ok.publish_seconds = 1.5, 0.75, 0.25
    ok.finished_at = ok.started_at + timedelta(seconds=3)
    failed = RunRecord(mode="hourly", trigger="schedule", as_of=AS_OF + timedelta(hours=1), attempts=4)
    failed.status, failed.failed_step, failed.error = "failed", "connect", SECRET_TEXT
    append_run(config.runs_log, ok)
    append_run(config.runs_log, failed)
    quality = config.quality_log
    quality.write_text(
        '{"run_id": "a", "counts": {"null_decisions": 3}}\n{"run_id": "b", "counts": {"null_decisions": 5}}\n'
    )
    return api_client(config)


def test_page_and_its_files_are_served_with_a_strict_policy(sample_client: TestClient) -> None:
    page = sample_client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/page/page.js" defer>' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    for name, kind in [("page.js", "text/javascript"), ("charts.js", "text/javascript"), ("page.css", "text/css")]:
        asset = sample_client.get(f"/page/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert b"http://" not in asset.content.replace(b"http://www.w3.org/2000/svg", b"")
    assert sample_client.get("/page/secrets.txt").status_code == 404


def test_head_on_the_page(api_client: Client, make_config: Callable[..., Config], store_path: Path) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    client = api_client(make_config())
    head, get = client.head("/"), client.get("/")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))
    prefixed = api_client(make_config(METRICS_API_PREFIX="/api/v1"))
    assert prefixed.head("/api/v1/").status_code == 200


@pytest.mark.parametrize(("interval", "warn_after"), [("60", 180), ("300", 900), ("0", 10800)])
def test_ops_tells_the_page_when_the_lag_is_too_much(
    api_client: Client, make_config: Callable[..., Config], store_path: Path, interval: str, warn_after: int
) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    client = api_client(make_config(METRICS_INCREMENTAL_SECONDS=interval))
    body = client.get("/page/ops").json()
    assert body["schedule"]["incremental_seconds"] == int(interval)
    assert body["schedule"]["lag_warning_seconds"] == warn_after
    assert body["store"]["lag_seconds"] > 86400  # the sample store's as_of is long past
    page = client.get("/").text
    assert '<p id="lag-warning" class="warning" hidden></p>' in page
    script = client.get("/page/page.js").text
    assert all(key in script for key in ("lag_seconds", "lag_warning_seconds", "last_incremental_at"))


def test_page_under_the_api_prefix(api_client: Client, make_config: Callable[..., Config], store_path: Path) -> None:
    publish_store(store_path, sample_rows(), as_of=AS_OF)
    client = api_client(make_config(METRICS_API_PREFIX="/api/v1"))
    page = client.get("/api/v1/")
    assert page.status_code == 200
    assert '<meta name="flowmetrics-base" content="/api/v1">' in page.text
    assert '<script src="/api/v1/page/page.js" defer>' in page.text
    assert client.get("/api/v1/page/page.js").status_code == 200
    assert client.get("/api/v1/page/ops").status_code == 200
    assert client.get("/").status_code == 404


def test_ops_shows_runs_newest_first_without_error_text(page_client: TestClient) -> None:
    body = page_client.get("/page/ops").json()
    assert [(r["status"], r["mode"], r["trigger"]) for r in body["runs"]] == [
        ("failed", "hourly", "schedule"),
        ("success", "nightly", "manual"),
    ]
    failed, ok = body["runs"]
    assert failed["failed_step"] == "connect" and failed["error"] is None and failed["error_hidden"] is True
    assert (ok["extract_rows"], ok["extract_seconds"], ok["transform_seconds"], ok["publish_seconds"]) == (
        1200,
        1.5,
        0.75,
        0.25,
    )
    assert "db-primary" not in page_client.get("/page/ops").text
    assert body["details"] is False
    assert body["store"]["as_of"] == AS_OF.isoformat() and body["store"]["mode"] == "nightly"
    assert body["store"]["built_at"] == (AS_OF + timedelta(minutes=2)).isoformat()
    assert body["schedule"]["stale_after_seconds"] == 7200  # hourly runs + an hour's grace
    assert body["quality"]["trend"] == [
        {"run_id": "a", "counts": {"null_decisions": 3}},
        {"run_id": "b", "counts": {"null_decisions": 5}},
    ]


@pytest.mark.parametrize(
    ("user_id", "shows_error"),
    [(ADMIN_A, False), (SUPER_B, True), (ENGINEER_A, False)],
    ids=["team-admin", "super-admin", "engineer"],
)
def test_ops_error_text_only_for_operators(page_client: TestClient, user_id: str, shows_error: bool) -> None:
    body = page_client.get("/page/ops", headers=bearer(encode_token(user_id))).json()
    assert body["details"] is shows_error
    assert body["runs"][0]["error"] == (SECRET_TEXT if shows_error else None)


def test_ops_refuses_a_bad_token(page_client: TestClient) -> None:
    assert page_client.get("/page/ops", headers=bearer(encode_token(ADMIN_A, secret="x" * 64))).status_code == 401
    assert page_client.get("/page/ops", headers=bearer(encode_token(INACTIVE_A))).status_code == 403


def test_ops_falls_back_to_the_store_runs(sample_client: TestClient) -> None:
    runs = sample_client.get("/page/ops").json()["runs"]
    assert [r["run_id"] for r in runs] == ["run-2", "run-1"]  # no run history file beside the sample store


def test_choices_need_a_token_and_follow_the_api_rules(sample_client: TestClient) -> None:
    assert sample_client.get("/page/choices").status_code == 401
    admin = sample_client.get("/page/choices", headers=bearer(encode_token(ADMIN_A))).json()
    assert admin["user"] == {"user_id": ADMIN_A, "name": "Ada", "team_reader": True, "super_admin": False}
    assert {u["user_id"] for u in admin["engineers"]} == {ADMIN_A, ENGINEER_A, NAMELESS_A, INACTIVE_A}
    assert {t["tree_id"] for t in admin["trees"]} == {TREE_A1, TREE_A2}
    engineer = sample_client.get("/page/choices", headers=bearer(encode_token(ENGINEER_A))).json()
    assert engineer["user"]["team_reader"] is False and engineer["engineers"] == []
    assert {t["tree_id"] for t in engineer["trees"]} == {TREE_A1, TREE_A2}
    root = sample_client.get("/page/choices", headers=bearer(encode_token(SUPER_B))).json()
    assert {t["tree_id"] for t in root["trees"]} >= {TREE_A1, TREE_A2, TREE_B1}
    assert all(u["user_id"] != ACCOUNT_A for u in root["engineers"])


def test_the_period_choices_are_the_periods_with_the_default_selected(sample_client: TestClient) -> None:
    page = sample_client.get("/").text
    options = [
        f'<option value="{p}"{" selected" if p == DEFAULT_PERIOD else ""}>{d} days</option>' for p, d in PERIODS.items()
    ]
    assert "".join(options) in page and "{{" not in page


def test_choices_show_names_as_the_dashboards_do_busiest_tree_first(
    api_client: Client, make_config: Callable[..., Config], store_path: Path
) -> None:
    rows = sample_rows()
    empty_named = "a0000000-0000-4000-8000-0000000000e3"
    rows["users"].append(user(empty_named, ACCOUNT_A, ""))
    rows["trees"].append(named("tree_id account_id name", UNNAMED_TREE, ACCOUNT_A, None))
    publish_store(store_path, rows, as_of=AS_OF)
    choices = api_client(make_config()).get("/page/choices", headers=bearer(encode_token(ADMIN_A))).json()
    # Unknown for a NULL or empty name, ordered by the shown name, then user id.
    assert [(u["name"], u["user_id"]) for u in choices["engineers"]] == [
        ("Ada", ADMIN_A),
        ("Bob", ENGINEER_A),
        ("Old", INACTIVE_A),
        ("Unknown", NAMELESS_A),
        ("Unknown", empty_named),
    ]
    # Sessions in the default period, most first; a tree without sessions there has 0; NULL name shows as ''.
    assert [(t["tree_id"], t["name"], t["sessions"]) for t in choices["trees"]] == [
        (TREE_A1, "Printer offline", 4),
        (TREE_A2, "VPN", 2),
        (UNNAMED_TREE, "", 0),
    ]
    nameless = api_client(make_config()).get("/page/choices", headers=bearer(encode_token(NAMELESS_A))).json()
    assert nameless["user"]["name"] == "Unknown"
