"""`flowmetrics sql` reads the published store and nothing else; a refusal or failure is one line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from jobs.cli import main

Capture = pytest.CaptureFixture[str]
REFUSED = "error: query refused: `flowmetrics sql` reads only the store"


def sql(query: str, env: dict[str, str], capsys: Capture) -> tuple[int, str, str]:
    code = main(["sql", query], env)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_query_on_the_store_works(cli_env: dict[str, str], capsys: Capture) -> None:
    code, out, err = sql("SELECT count(*) AS n FROM fact_sessions", cli_env, capsys)
    assert code == 0, err
    assert "400" in out


@pytest.mark.parametrize(
    "kind", ["copy-to", "copy-query-to", "attach", "install", "load", "read_csv", "from-a-file", "read_text"]
)
def test_nothing_outside_the_store(kind: str, cli_env: dict[str, str], tmp_path: Path, capsys: Capture) -> None:
    local = tmp_path / "local.csv"
    local.write_text("a,b\n1,2\n")
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    written = tmp_path / "written.csv"
    extension = tmp_path / "nothing.duckdb_extension"
    query = {
        "copy-to": f"COPY window_summary TO '{written}'",
        "copy-query-to": f"COPY (SELECT 1 AS a) TO '{written}' (FORMAT csv)",
        "attach": f"ATTACH '{other}' AS other",
        "install": f"INSTALL '{extension}'",
        "load": f"LOAD '{extension}'",
        "read_csv": f"SELECT * FROM read_csv('{local}')",
        "from-a-file": f"SELECT * FROM '{local}'",
        "read_text": "SELECT * FROM read_text('/etc/hostname')",
    }[kind]
    code, out, err = sql(query, cli_env, capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(REFUSED), err
    assert "Permission Error" in err
    assert out == ""
    assert not written.exists()


@pytest.mark.parametrize(
    "query",
    ["SET enable_external_access = true", "RESET enable_external_access", "SET lock_configuration = false"],
)
def test_settings_cannot_be_turned_back(query: str, cli_env: dict[str, str], capsys: Capture) -> None:
    code, _, err = sql(query, cli_env, capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: query refused: `flowmetrics sql` does not change settings")


def test_a_write_says_the_store_is_read_only(cli_env: dict[str, str], capsys: Capture) -> None:
    code, _, err = sql("CREATE TABLE mine (a INTEGER)", cli_env, capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: query refused: the store ") and " is read-only: " in err


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELEC 1", "Parser Error: syntax error"),
        ("SELECT * FROM no_such_table", "Catalog Error: Table with name no_such_table does not exist"),
        ("SELECT 'x'::INTEGER", "Conversion Error"),
    ],
    ids=["syntax", "unknown-table", "conversion"],
)
def test_a_failing_query_says_what_went_wrong(query: str, says: str, cli_env: dict[str, str], capsys: Capture) -> None:
    code, _, err = sql(query, cli_env, capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: query failed on metrics.duckdb.v"), err
    assert says in err
    assert "read-only" not in err
