"""`flowmetrics demo` as a user runs it: it serves the page, and a signal ends all it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.api.test_workers import free_port

STARTUP_SECONDS = 240


def processes_under(folder: Path) -> list[psutil.Process]:
    """Every process whose command line names the folder (the demo's PostgreSQL names its data folder)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(folder) in cmdline and process.pid != os.getpid():
            found.append(process)
    return found


def wait_for(predicate: object, what: str, output: Path, demo: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert demo.poll() is None, f"the demo exited early:\n{output.read_text()}"
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.25)
    pytest.fail(f"{what} did not happen within {STARTUP_SECONDS} s:\n{output.read_text()}")


def serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "when"),
    [(signal.SIGINT, "serving"), (signal.SIGTERM, "refreshing")],
    ids=["ctrl-c-while-serving", "sigterm-while-refreshing"],
)
def test_demo_leaves_no_process_behind(tmp_path: Path, signum: int, when: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env["METRICS_DB"] = str(tmp_path / "data" / "metrics.duckdb")
    output = tmp_path / "demo.log"
    command = [sys.executable, "-m", "jobs.cli", "demo", "--sessions", "2000", "--port", str(port)]
    with output.open("wb") as sink, subprocess.Popen(command, env=env, cwd=tmp_path, stdout=sink, stderr=sink) as demo:
        try:
            if when == "serving":
                wait_for(lambda: serving(f"http://127.0.0.1:{port}/health"), "serving", output, demo)
                text = output.read_text()
                match = re.search(rf"http://127\.0\.0\.1:{port}/#token=([\w.-]+)", text)
                assert match, text  # the page's address, the token in its fragment
                assert serving(f"http://127.0.0.1:{port}/")
            else:
                wait_for(lambda: "seed indexes" in output.read_text(), "the refresh", output, demo)
            assert processes_under(tmp_path), "the demo PostgreSQL should be running by now"
            demo.send_signal(signum)
            code = demo.wait(timeout=60)
        finally:
            if demo.poll() is None:
                demo.kill()
    assert code in (0, 130), output.read_text()
    assert "stopped the demo PostgreSQL" in output.read_text()
    left = processes_under(tmp_path)
    assert left == [], [p.info["cmdline"] for p in left]
    assert not serving(f"http://127.0.0.1:{port}/health")
