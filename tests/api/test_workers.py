"""`flowmetrics serve --workers 2`: a real uvicorn with two processes, one store, summed metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import SECRET, encode_token, publish_store
from tests.api.sample import ADMIN_A, AS_OF, AS_OF_TEXT, sample_rows

REQUESTS = 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    # A new connection each time, so the kernel may hand it to either worker.
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until_serving(url: str, process: subprocess.Popen[bytes], output: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, output.read_text()
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"nothing served {url} within {timeout} s")


@pytest.fixture
def served(store_path: Path, tmp_path: Path) -> Iterator[str]:
    publish_store(store_path, sample_rows(), as_of=AS_OF, built_at=AS_OF + timedelta(minutes=2))
    port = free_port()
    env = {**os.environ, "METRICS_DB": str(store_path), "METRICS_JWT_SECRET": SECRET}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "jobs.cli", "-q", "serve", "--workers", "2", "--port", str(port)]
    output = tmp_path / "serve.log"
    with (
        output.open("wb") as sink,
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=sink, stderr=sink) as process,
    ):
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(f"{base}/_ping", process, output)
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                assert process.wait(timeout=30) == 0, output.read_text()
            except subprocess.TimeoutExpired:
                process.kill()
                raise


def team_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "flowmetrics_http_requests_total" and sample.labels.get("route") == "/analytics/team":
                return sample.value
    return 0.0


def test_two_workers_answer_from_one_store_and_sum_their_metrics(served: str) -> None:
    token = encode_token(ADMIN_A)
    as_of = set()
    for _ in range(REQUESTS):
        status, body = get(f"{served}/analytics/team?period=7d", token)
        assert status == 200
        as_of.add(json.loads(body)["as_of"])
    assert as_of == {AS_OF_TEXT}
    assert get(f"{served}/")[0] == 200
    # Every scrape, whichever worker answers it, counts the requests of both.
    for _ in range(6):
        status, body = get(f"{served}/metrics")
        assert status == 200
        assert team_count(body.decode()) == REQUESTS
