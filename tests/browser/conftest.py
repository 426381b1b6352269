"""Names the screenshots the browser tests saved, at the end of the run (they are test artifacts)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    saved = sorted(p for p in ARTIFACTS.glob("*.png") if p.stat().st_mtime >= _STARTED)
    if saved:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in saved:
            terminalreporter.write_line(f"{path} ({path.stat().st_size:,} bytes)")
