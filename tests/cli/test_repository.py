"""The checkout's own rules: .env stays out of git, `make lint` checks formatting, `make demo` takes PORT and HOST."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_dry_run(*args: str) -> list[str]:
    """The commands `make -n` would run (nothing is run)."""
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.splitlines()


def test_dotenv_is_ignored_by_git() -> None:
    done = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, timeout=60)
    assert done.returncode == 0, ".env (secrets: DATABASE_URL, METRICS_JWT_SECRET) must be in .gitignore"


def test_lint_checks_the_formatting() -> None:
    lines = make_dry_run("lint")
    assert any("ruff format --check etl metrics_api jobs synthetic tests bench tools" in line for line in lines)
    assert any("ruff check" in line for line in lines) and any("mypy" in line for line in lines)


def test_demo_takes_port_and_host() -> None:
    assert make_dry_run("demo", "PORT=8001")[-1].endswith("flowmetrics demo --host 127.0.0.1 --port 8001")
    assert make_dry_run("demo", "HOST=0.0.0.0", "PORT=9000")[-1].endswith("flowmetrics demo --host 0.0.0.0 --port 9000")
    assert make_dry_run("demo")[-1].endswith("flowmetrics demo --host 127.0.0.1 --port 8000")
