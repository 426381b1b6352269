"""In a real browser (Debian's headless Chromium, driven by Playwright): /docs draws the API
with nothing from another host, and the page warns when the data trails the source.

The real app under a real uvicorn on a store written by the real publish. Every request the
browser makes to another host is refused and recorded, so a CDN link fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl.config import Config
from etl.runs import RunRecord, append_run
from tests.api.conftest import SECRET, publish_store
from tests.api.sample import AS_OF, sample_rows
from tests.api.serving import chromium, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

if not CHROMIUM.exists():
    if os.environ.get("FLOWMETRICS_BROWSER_TESTS") == "required":  # .ci/run sets it after installing Chromium
        raise RuntimeError(f"{CHROMIUM} is missing: `apt-get install -y chromium`")
    pytest.skip(
        f"{CHROMIUM} is missing: `apt-get install -y chromium` to run the browser tests", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, Route  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, CHROMIUM_ARGS) as browser:
        yield browser


def config_for(store: Path, **env: str) -> Config:
    return Config.from_env({"METRICS_DB": str(store), "METRICS_JWT_SECRET": SECRET, **env}, dotenv=Path("/nonexistent"))


def open_offline(
    browser: Browser,
    base: str,
    errors: list[str],
    elsewhere: list[str],
    path: str = "/",
    ready: str = "body[data-ready='1']",
) -> Page:
    """A tab on `base` + `path`, once `ready` is drawn, that may only reach `base`: whatever
    else it asks for is refused and noted in `elsewhere`, and console errors in `errors`."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(request: Route) -> None:
        if request.request.url.startswith(base + "/"):
            request.continue_()
        else:
            elsewhere.append(request.request.url)
            request.abort()

    page.route("**/*", route)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}{path}")
    page.wait_for_selector(ready, timeout=15000)
    return page


def test_docs_draw_the_api_offline_under_the_prefix(browser: Browser, tmp_path: Path) -> None:
    store = tmp_path / "metrics.duckdb"
    publish_store(store, sample_rows(), as_of=AS_OF)
    with serving(config_for(store, METRICS_API_PREFIX="/api/v1")) as base:
        errors: list[str] = []
        elsewhere: list[str] = []
        page = open_offline(browser, base, errors, elsewhere, path="/api/v1/docs", ready=".opblock")
        paths = page.locator(".opblock-summary-path").all_text_contents()
        assert {"/api/v1/analytics/team", "/api/v1/analytics/me", "/api/v1/health"} <= {p.strip() for p in paths}
        assert page.locator(".swagger-ui .info .title").text_content() is not None
        assert page.locator(".errors-wrapper").count() == 0  # Swagger UI found nothing wrong with the document
        assert elsewhere == []
        assert errors == []


def test_the_page_warns_when_the_data_trails_the_source(browser: Browser, tmp_path: Path) -> None:
    store = tmp_path / "metrics.duckdb"
    # Built just now (not stale by the schedule) over data as of long ago: a lag, not an age.
    publish_store(store, sample_rows(), as_of=AS_OF, built_at=datetime.now(UTC))
    config = config_for(store)
    finished = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)
    run = RunRecord(mode="incremental", trigger="schedule", as_of=finished, status="success", attempts=1)
    run.started_at, run.finished_at = finished - timedelta(seconds=1), finished
    append_run(config.runs_log, run)
    with serving(config) as base:
        errors: list[str] = []
        elsewhere: list[str] = []
        page = open_offline(browser, base, errors, elsewhere)
        warning = page.locator("#lag-warning")
        assert warning.is_visible()
        text = warning.text_content() or ""
        assert text.startswith("The data trails the source by ") and "more than 3 min" in text, text
        assert "three incremental refreshes (every 60 s)" in text
        assert page.is_hidden("#stale-warning")
        assert (page.text_content("[data-key='lag']") or "").endswith(" h")
        assert page.text_content("[data-key='last_incremental']") == "2026-12-03 12:00:05"
        assert elsewhere == [] and errors == []

    # Fresh data: no warning, the lag in seconds.
    publish_store(store, sample_rows(), as_of=datetime.now(UTC))
    with serving(config_for(store, METRICS_INCREMENTAL_SECONDS="0")) as base:
        errors = []
        page = open_offline(browser, base, errors, elsewhere)
        assert page.is_hidden("#lag-warning")
        assert (page.text_content("[data-key='lag']") or "").endswith(" s")
        assert elsewhere == [] and errors == []


def test_with_incremental_refreshes_off_the_page_allows_three_hours(browser: Browser, tmp_path: Path) -> None:
    store = tmp_path / "metrics.duckdb"
    publish_store(store, sample_rows(), as_of=datetime.now(UTC) - timedelta(hours=2), built_at=datetime.now(UTC))
    with serving(config_for(store, METRICS_INCREMENTAL_SECONDS="0")) as base:
        errors: list[str] = []
        elsewhere: list[str] = []
        page = open_offline(browser, base, errors, elsewhere)
        assert page.is_hidden("#lag-warning")  # 2 h behind: within 3 x an hour
        assert page.text_content("[data-key='last_incremental']") == "off"
    publish_store(store, sample_rows(), as_of=datetime.now(UTC) - timedelta(hours=4), built_at=datetime.now(UTC))
    with serving(config_for(store, METRICS_INCREMENTAL_SECONDS="0")) as base:
        page = open_offline(browser, base, errors, elsewhere)
        text = page.locator("#lag-warning").text_content() or ""
        assert page.is_visible("#lag-warning") and "more than 3 h 0 min" in text, text
        assert "incremental refreshes are off" in text
        assert elsewhere == [] and errors == []
