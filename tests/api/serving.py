"""For the browser tests: the real app under a real uvicorn, and headless Chromium under Playwright."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from etl.config import Config
from metrics_api.app import create_app
from tests.api.test_workers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@contextmanager
def serving(config: Config) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port, in a thread of this process."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def chromium(executable: Path, args: Sequence[str]) -> Iterator[Browser]:
    """A headless Chromium (`executable`, run with `args`) driven by Playwright, closed on exit."""
    from playwright.sync_api import sync_playwright  # only once the caller knows Chromium is there

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=list(args), headless=True)
        yield browser
        browser.close()
