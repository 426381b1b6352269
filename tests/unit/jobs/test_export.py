"""jobs.export through `flowmetrics export --format parquet DIR`, on a store written by the real publish."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from etl import statements
from etl.publish import PublishResult
from jobs.cli import main
from tests.api.conftest import publish_store
from tests.api.sample import AS_OF, sample_rows

Capture = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> PublishResult:
    """The hand-written store of tests/api/sample.py, published once; the tests only read it."""
    return publish_store(tmp_path_factory.mktemp("sample") / "metrics.duckdb", sample_rows(), as_of=AS_OF)


def export(metrics_db: Path, folder: Path) -> int:
    environ = {"METRICS_DB": str(metrics_db), "METRICS_JWT_SECRET": "x"}
    return main(["-q", "export", "--format", "parquet", str(folder)], environ=environ)


def symlink_of(store: PublishResult) -> Path:
    return store.path.parent / store.path.name.split(".v")[0]


def ddl_comments() -> dict[str, tuple[str, dict[str, str]]]:
    con = duckdb.connect()
    try:
        con.execute(statements.read("store.sql"))
        tables = dict(con.sql("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        columns = con.sql("SELECT table_name, column_name, comment FROM duckdb_columns()").fetchall()
    finally:
        con.close()
    return {t: (c, {col: m for tab, col, m in columns if tab == t}) for t, c in tables.items()}


def test_every_table_as_parquet_with_the_dictionary(
    sample_store: PublishResult, tmp_path: Path, capsys: Capture
) -> None:
    folder = tmp_path / "out" / "parquet"
    assert export(symlink_of(sample_store), folder) == 0
    assert "exported" in capsys.readouterr().out
    schema = json.loads((folder / "schema.json").read_text())
    expected = ddl_comments()
    assert sorted(t["name"] for t in schema["tables"]) == sorted(expected)
    store = duckdb.connect(str(sample_store.path), read_only=True)
    try:
        for table in schema["tables"]:
            comment, columns = expected[table["name"]]
            assert table["comment"] == comment
            assert {c["name"]: c["comment"] for c in table["columns"]} == columns
            parquet = str(folder / table["file"])
            exported = duckdb.sql(f"SELECT * FROM read_parquet('{parquet}')")
            assert exported.columns == [c["name"] for c in table["columns"]]
            stored = store.sql(f'SELECT * FROM "{table["name"]}"').fetchall()
            assert sorted(map(repr, exported.fetchall())) == sorted(map(repr, stored)), table["name"]
        assert (
            schema["store_meta"]["schema_version"]
            == dict(store.sql("SELECT * FROM store_meta").fetchall())["schema_version"]
        )
    finally:
        store.close()


def test_writes_only_inside_dir_and_leaves_other_files(sample_store: PublishResult, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert export(symlink_of(sample_store), folder) == 0
    assert export(symlink_of(sample_store), folder) == 0  # a second export replaces its own files
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    names = sorted(p.name for p in folder.iterdir())
    tables = sorted(f"{t}.parquet" for t in ddl_comments())
    assert names == sorted(["notes.txt", "schema.json", *tables])
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_missing_store_is_one_clear_line(tmp_path: Path, capsys: Capture) -> None:
    assert export(tmp_path / "nowhere" / "metrics.duckdb", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no store at") and "refresh --mode nightly" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("kind", ["dir-is-a-file", "parent-is-a-file"])
def test_an_unwritable_folder_is_one_clear_line(
    sample_store: PublishResult, tmp_path: Path, capsys: Capture, kind: str
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    folder = blocker if kind == "dir-is-a-file" else blocker / "sub"
    assert export(symlink_of(sample_store), folder) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(folder) in err and err.count("\n") == 1
    assert blocker.read_text() == "a file, not a folder"
