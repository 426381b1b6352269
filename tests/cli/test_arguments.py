"""Bad arguments are refused before anything is read or written: one `error:` line, exit 2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl.runs import read_runs
from jobs.cli import main
from tests.cli.conftest import SEED_ANCHOR

Capture = pytest.CaptureFixture[str]


def refused(argv: list[str], env: dict[str, str], capsys: Capture) -> str:
    """The one line a refused command line prints (it exits 2, as argparse does)."""
    with pytest.raises(SystemExit) as exited:
        main(argv, env)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.rstrip("\n")


@pytest.fixture
def untouched(tmp_path: Path) -> dict[str, str]:
    """An environment whose source cannot be reached and whose store folder does not exist:
    a command that read or wrote anything would fail differently, or leave files."""
    return {
        "DATABASE_URL": f"postgresql://nobody@/nowhere?host={tmp_path / 'no-socket'}",
        "METRICS_DB": str(tmp_path / "data" / "metrics.duckdb"),
        "METRICS_REFRESH_RETRIES": "0",
    }


def in_future(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["refresh", "--as-of", in_future(timedelta(minutes=30))], "argument --as-of: "),
        (["refresh", "--mode", "nightly", "--as-of", in_future(timedelta(days=400))], " in the future"),
        (["refresh", "--as-of", "yesterday"], "is not an ISO-8601 time"),
        (["refresh", "--wait", "-1"], "argument --wait: -1 is not a time to wait"),
        (["refresh", "--wait", "nan"], "argument --wait: "),
        (["refresh", "--mode", "hourly", "--full"], "--full goes with --mode nightly only"),
        (["status", "--limit", "0"], "argument --limit: 0 is too small"),
        (["status", "--limit", "-3"], "argument --limit: -3 is too small"),
        (["refresh", "--mode", "weekly"], "argument --mode: invalid choice: 'weekly'"),
        (["status", "--limit", "ten"], "argument --limit: 'ten' is not a whole number"),
        (["refresh", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        ([], "the following arguments are required: command"),
    ],
    ids=[
        "as-of-30-min-ahead",
        "as-of-next-year",
        "as-of-not-a-time",
        "negative-wait",
        "nan-wait",
        "full-without-nightly",
        "limit-zero",
        "limit-negative",
        "unknown-mode",
        "limit-not-a-number",
        "unknown-flag",
        "no-command",
    ],
)
def test_refused_before_anything_is_read(
    argv: list[str], says: str, untouched: dict[str, str], tmp_path: Path, capsys: Capture
) -> None:
    line = refused(argv, untouched, capsys)
    assert says in line
    assert line.endswith("--help`)")  # where the usage is
    assert not (tmp_path / "data").exists(), "nothing may be read or written for a refused command"


def test_as_of_a_little_ahead_is_clock_skew_not_an_error(untouched: dict[str, str], capsys: Capture) -> None:
    # Two minutes ahead passes the check; the refresh then fails only at the unreachable source.
    assert main(["-q", "refresh", "--as-of", in_future(timedelta(minutes=2))], untouched) == 1
    assert "failed in connect" in capsys.readouterr().err


def test_a_past_as_of_backfills(cli_env: dict[str, str], capsys: Capture) -> None:
    past = SEED_ANCHOR - timedelta(days=3)
    assert main(["-q", "refresh", "--mode", "nightly", "--as-of", past.isoformat()], cli_env) == 0
    assert f"as_of {past.isoformat()}" in capsys.readouterr().out
    runs = read_runs(Path(cli_env["METRICS_DB"] + ".runs.jsonl"))
    assert runs[-1].status == "success" and runs[-1].as_of == past


def test_status_limit_shows_that_many_runs(cli_env: dict[str, str], capsys: Capture) -> None:
    assert main(["-q", "refresh", "--as-of", SEED_ANCHOR.isoformat()], cli_env) == 0
    capsys.readouterr()
    assert main(["status", "--limit", "1"], cli_env) == 0
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if " success " in line]) == 1
