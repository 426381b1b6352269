"""A refresh says each stage once and then one summary, with the figures of its run record."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from etl.database import with_database
from etl.runs import read_runs
from jobs.cli import main
from tests.cli.conftest import SEED_ANCHOR

Capture = pytest.CaptureFixture[str]
STAGE = re.compile(r" INFO    refresh (\w+): (?:([\d,]+) rows, )?([\d.]+) s$")


@pytest.mark.parametrize("mode", ["hourly", "nightly"])
def test_one_line_per_stage_and_one_summary(mode: str, cli_env: dict[str, str], capsys: Capture) -> None:
    assert main(["refresh", "--mode", mode, "--as-of", SEED_ANCHOR.isoformat()], cli_env) == 0
    out, err = capsys.readouterr()
    record = read_runs(Path(cli_env["METRICS_DB"] + ".runs.jsonl"))[-1]

    stages = [m.groups() for line in err.splitlines() if (m := STAGE.search(line))]
    assert stages == [
        ("extract", f"{record.extract_rows:,}", f"{record.extract_seconds:.1f}"),
        ("transform", f"{record.transform_rows:,}", f"{record.transform_seconds:.1f}"),
        ("publish", f"{record.publish_rows:,}", f"{record.publish_seconds:.1f}"),
    ]
    # Nothing else repeats them: not the refresh's own "done" line, not the bar's own stage times.
    assert "done:" not in err and "rows extracted" not in err
    assert len([line for line in err.splitlines() if "refresh extract" in line]) == 1

    assert out.count("\n") == 1
    seconds = (record.extract_seconds or 0) + (record.transform_seconds or 0) + (record.publish_seconds or 0)
    assert out == (
        f"refresh {record.mode} ok: as_of {record.as_of.isoformat()}, {record.publish_rows:,} rows published "
        f"in {seconds:.1f} s (extract + transform + publish) -> {cli_env['METRICS_DB']}\n"
    )


def test_a_failed_refresh_says_it_once(cli_env: dict[str, str], pg_admin_url: str, capsys: Capture) -> None:
    # A database that does not exist: the refresh fails in connect, with no retry (not transient).
    env = {**cli_env, "DATABASE_URL": with_database(pg_admin_url, "fm_cli_no_such_database")}
    assert main(["refresh", "--as-of", SEED_ANCHOR.isoformat()], env) == 1
    out, err = capsys.readouterr()
    assert out == ""
    failed = [line for line in err.splitlines() if "failed in connect" in line]
    assert len(failed) == 1 and failed[0].startswith("error: refresh failed in connect: "), err

    assert main(["-q", "refresh", "--as-of", SEED_ANCHOR.isoformat()], env) == 1
    assert capsys.readouterr().err.count("\n") == 1
