"""The page in a real browser (Debian's headless Chromium, driven by Playwright) on a real store.

A seeded embedded PostgreSQL, two real refreshes and a failed one, the real app under a
real uvicorn: the test checks what a person sees against what the API answers, and saves
a screenshot under tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from etl.config import Config
from etl.errors import RefreshFailed
from etl.runs import read_runs
from jobs.demo import demo_admin
from jobs.refresh import run_refresh
from synthetic import embedded
from synthetic.seed import seed
from tests.api.conftest import SECRET, encode_token, publish_store
from tests.api.sample import AS_OF, sample_rows
from tests.api.serving import chromium, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

if not CHROMIUM.exists():
    if os.environ.get("FLOWMETRICS_BROWSER_TESTS") == "required":  # .ci/run sets it after installing Chromium
        raise RuntimeError(f"{CHROMIUM} is missing: `apt-get install -y chromium`")
    pytest.skip(
        f"{CHROMIUM} is missing: `apt-get install -y chromium` to run the browser tests", allow_module_level=True
    )

from playwright.sync_api import Browser, ConsoleMessage, Page  # noqa: E402


@dataclass
class Served:
    base: str
    config: Config
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str) -> Iterator[Served]:

    source = embedded.create_database(pg_admin_url, prefix="fm_browser")
    store = tmp_path_factory.mktemp("browser") / "metrics.duckdb"
    env = {"METRICS_DB": str(store), "METRICS_JWT_SECRET": SECRET, "METRICS_REFRESH_RETRIES": "0"}
    config = Config.from_env(env, dotenv=Path("/nonexistent"))
    seed(source, sessions=3000, accounts=3, days=120, seed=7)
    run_refresh(config, source, mode="nightly")
    with pytest.raises(RefreshFailed):  # a failure in the history: the page must show its step
        run_refresh(config, "postgresql://nobody@127.0.0.1:1/nowhere", mode="hourly")
    run_refresh(config, source, mode="hourly")
    try:
        with serving(config) as base:
            yield Served(base, config, encode_token(demo_admin(config)))
    finally:
        embedded.drop_database(pg_admin_url, source)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, CHROMIUM_ARGS) as browser:
        yield browser


def api(served: Served, path: str) -> Any:
    request = urllib.request.Request(served.base + path, headers={"Authorization": f"Bearer {served.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    return page


def ints(text: str) -> int:
    return int(text.replace(",", ""))


def test_an_operator_sees_freshness_runs_quality_and_the_team_dashboard(browser: Browser, served: Served) -> None:
    errors: list[str] = []
    started = time.perf_counter()
    page = open_page(browser, f"{served.base}/#token={served.token}", errors)
    loaded = time.perf_counter() - started
    assert "token" not in page.url  # the fragment is taken off the address at once

    health = api(served, "/health")
    assert page.text_content("[data-key='status']") == health["status"] == "ok"
    assert page.is_hidden("#stale-warning")

    runs = list(reversed(read_runs(served.config.runs_log)))
    rows = page.locator("#run-table tr.run-row")
    assert rows.count() == len(runs) == 3
    assert [rows.nth(i).locator("td").nth(1).text_content() for i in range(3)] == [r.status for r in runs]
    assert page.locator("#run-chart g.run").count() == 3
    failure = rows.nth(1).locator("td").last.text_content() or ""
    # Every token shows the failing step; the message (hosts, paths) only a super admin's.
    operator = api(served, "/page/choices")["user"]["super_admin"]
    assert failure.startswith("connect: cannot reach PostgreSQL" if operator else "connect: (message shown with")
    quality = page.locator("#quality-table tr.quality-row")
    assert quality.count() >= 1
    # Two successful refreshes, so two points in each rule's trend.
    points = quality.first.locator("polyline").get_attribute("points") or ""
    assert len(points.split()) == 2

    team = api(served, "/analytics/team?period=30d")
    summary = team["summary"]
    shown = {
        "total_sessions": f"{summary['total_sessions']:,}",
        "completed_sessions": f"{summary['completed_sessions']:,}",
        "completion_rate": f"{summary['completion_rate'] * 100:.1f}%",
        "median_duration_minutes": f"{summary['median_duration_minutes']:.1f} min",
        "active_engineers": f"{summary['active_engineers']:,}",
        **{f"outcome_{k}": f"{v:,}" for k, v in summary["outcome_breakdown"].items()},
    }
    for key, text in shown.items():
        tile = page.locator(f"#tiles .tile[data-key='{key}']")
        assert tile.locator(".value").text_content() == text, key
        raw = summary["outcome_breakdown"][key[8:]] if key.startswith("outcome_") else summary[key]
        assert float(tile.get_attribute("data-value") or "nan") == raw, key
    assert summary["total_sessions"] > 0 and len(team["time_series"]) > 5
    bars = page.locator("#outcome-chart g.day")
    assert bars.count() == len(team["time_series"])
    assert [bars.nth(i).get_attribute("data-label") for i in (0, -1)] == [
        team["time_series"][0]["date"],
        team["time_series"][-1]["date"],
    ]
    flows = page.locator("#top-flows tbody tr")
    assert flows.count() == len(team["top_flows"]) > 0
    first = team["top_flows"][0]
    assert flows.first.locator("td").first.text_content() == first.get("name", first.get("tree_name"))
    assert ints(flows.first.locator("td").nth(1).text_content() or "") == first["sessions"]
    assert page.locator("#top-engineers tbody tr").count() == len(team["top_engineers"])

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "page-team.png"
    page.screenshot(path=str(screenshot), full_page=True)
    timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
    navigation = json.loads(timing)
    print(
        f"\nscreenshot: {screenshot}\npage load: {navigation['loadEventEnd']:.0f} ms to load, "
        f"{loaded:.2f} s until every panel was drawn; transferred {_page_bytes(page)} bytes"
    )
    assert errors == []


def test_the_flow_view_draws_drop_off_and_comments(browser: Browser, served: Served) -> None:
    errors: list[str] = []
    page = open_page(browser, f"{served.base}/#token={served.token}", errors)
    page.select_option("#view", "flow")
    page.wait_for_selector("#step-feedback")
    tree_id = page.input_value("#tree")
    flow = api(served, f"/analytics/flows/{tree_id}?period=30d")
    assert (
        page.text_content("#tiles .tile[data-key='total_sessions'] .value") == f"{flow['summary']['total_sessions']:,}"
    )
    assert page.locator("#outcome-chart g.day").count() == len(flow["time_series"])
    steps = page.locator("#step-feedback .step")
    assert steps.count() == min(15, len(flow["step_feedback"])) > 0
    assert steps.first.get_attribute("data-node") == flow["step_feedback"][0]["node_id"]
    assert page.locator("#recent-comments li").count() == len(flow["recent_comments"])
    page.screenshot(path=str(ARTIFACTS / "page-flow.png"), full_page=True)
    assert errors == []


def test_without_a_token_no_tenant_data_and_no_error_text(browser: Browser, served: Served) -> None:
    errors: list[str] = []
    page = open_page(browser, f"{served.base}/", errors)
    assert page.is_hidden("#preview-controls")
    assert page.locator("#tiles").count() == 0
    failure = page.locator("#run-table tr.run-row").nth(1).locator("td").last.text_content() or ""
    assert failure.startswith("connect: (message shown with an operator's token)")
    assert "127.0.0.1:1" not in page.content()
    assert errors == []


def test_a_stale_store_is_flagged(browser: Browser, tmp_path: Path) -> None:
    store = tmp_path / "metrics.duckdb"
    publish_store(store, sample_rows(), as_of=AS_OF, built_at=datetime.now(UTC) - timedelta(hours=3))
    config = Config.from_env({"METRICS_DB": str(store), "METRICS_JWT_SECRET": SECRET}, dotenv=Path("/nonexistent"))
    with serving(config) as base:
        errors: list[str] = []
        page = open_page(browser, f"{base}/", errors)
        warning = page.locator("#stale-warning")
        assert warning.is_visible()
        assert (warning.text_content() or "").startswith("The store is 3 h 0 min old: the schedule allows 2 h 0 min.")
        assert page.text_content("#status-badge") == "ok, stale"
        assert errors == []


def _page_bytes(page: Page) -> int:
    sizes = page.evaluate(
        "performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
        ".filter(e => !e.name.includes('/analytics/') && !e.name.includes('/page/ops') "
        "&& !e.name.includes('/page/choices') && !e.name.includes('/health')).map(e => e.decodedBodySize)"
    )
    return int(sum(sizes))
