"""Tests of jobs.runner's parts: `stage` names the failing step, `Reads` hands out a lane's
reads in plan order only, `Writer` writes into a real StoreBuild on its own thread and
surfaces a write's error in the publish step."""

from __future__ import annotations

import threading
from operator import methodcaller
from pathlib import Path

import duckdb
import polars as pl
import pytest

from etl.errors import AuditError, PublishError, RefreshFailed, SourceError
from etl.publish import StoreBuild
from etl.publish import build as build_module
from etl.store import resolve_store
from jobs.plan import Read
from jobs.runner import Reads, Writer, stage
from tests.api.conftest import publish_store, store_tables
from tests.api.sample import AS_OF, sample_rows

META = {"as_of": AS_OF.isoformat(), "built_at": AS_OF.isoformat(), "mode": "nightly"}

# --- stage: which step a failure is reported in.


def test_an_error_in_a_stage_is_a_failure_of_that_step_with_its_cause() -> None:
    cause = ValueError("no such column")
    with pytest.raises(RefreshFailed) as failed, stage("transform"):
        raise cause
    assert failed.value.step == "transform"
    assert failed.value.cause is cause and failed.value.__cause__ is cause
    assert str(failed.value) == "refresh failed in transform: no such column"


def test_the_innermost_stage_names_the_failure() -> None:
    with pytest.raises(RefreshFailed) as failed, stage("publish"), stage("extract"):
        raise SourceError("connection reset")
    assert failed.value.step == "extract"
    assert isinstance(failed.value.cause, SourceError)


def test_an_error_of_a_step_of_its_own_keeps_it_in_any_stage() -> None:
    with pytest.raises(RefreshFailed) as failed, stage("publish"):
        raise AuditError("window_summary and window_time_series disagree")
    assert failed.value.step == "audit"


def test_a_named_failure_passes_through_outer_stages_unchanged() -> None:
    named = RefreshFailed("connect", OSError("refused"))
    with pytest.raises(RefreshFailed) as failed, stage("publish"), stage("transform"):
        raise named
    assert failed.value is named


def test_an_interrupt_is_not_a_step_failure() -> None:
    with pytest.raises(KeyboardInterrupt), stage("extract"):
        raise KeyboardInterrupt


# --- Reads: one lane's reads on a worker thread, taken in plan order.


class Reader:
    """A lane's reader: answers each read with its name, remembering the thread it ran on."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def read(self, name: str) -> str:
        self.threads.add(threading.get_ident())
        return f"rows of {name}"


def plan_reads(*names: str) -> list[Read[str]]:
    return [Read(name, methodcaller("read", name)) for name in names]


def test_reads_are_taken_in_plan_order_from_a_worker_thread() -> None:
    reader = Reader()
    rated, steps, sessions = plan_reads("rated", "step_ratings", "sessions")
    with Reads(reader, [rated, steps, sessions], ahead=2, name="read-window") as reads:
        assert [reads.take(rated), reads.take(steps), reads.take(sessions)] == [
            "rows of rated",
            "rows of step_ratings",
            "rows of sessions",
        ]
    assert reader.threads and threading.get_ident() not in reader.threads
    assert reads.waited >= 0.0


def test_a_read_out_of_plan_order_is_refused() -> None:
    rated, steps, sessions = plan_reads("rated", "step_ratings", "sessions")
    with Reads(Reader(), [rated, steps, sessions], ahead=1, name="read-window") as reads:
        assert reads.take(rated) == "rows of rated"
        with pytest.raises(RuntimeError, match="the plan reads step_ratings next, not sessions"):
            reads.take(sessions)
        # The refused take consumed nothing: the plan's next read still comes next.
        assert reads.take(steps) == "rows of step_ratings"


def test_a_read_equal_to_the_next_but_not_it_is_refused() -> None:
    # Reads are matched by identity: the plan's own Read object, not one that looks like it.
    [planned] = plan_reads("rated")
    lookalike = Read(planned.name, planned.run)
    with Reads(Reader(), [planned], ahead=1, name="read-window") as reads, pytest.raises(RuntimeError):
        reads.take(lookalike)


def test_a_failed_read_is_a_failure_of_its_step() -> None:
    def fail(_reader: object) -> str:
        raise SourceError("canceling statement due to statement timeout")

    rated = Read("rated", fail)
    changes = Read("changes", fail, step="transform")
    with Reads(Reader(), [rated], ahead=1, name="read") as reads, pytest.raises(RefreshFailed) as failed:
        reads.take(rated)
    assert failed.value.step == "extract" and "statement timeout" in str(failed.value)
    with Reads(Reader(), [changes], ahead=1, name="read") as reads, pytest.raises(RefreshFailed) as failed:
        reads.take(changes)
    assert failed.value.step == "transform"


# --- Writer: a real StoreBuild written on the writer's thread.


def stored_count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        [(count,)] = con.sql(f"SELECT count(*) FROM {table}").fetchall()
    return int(count)


def test_tables_given_to_the_writer_are_published(store_path: Path) -> None:
    tables = store_tables(sample_rows())
    with StoreBuild(store_path) as build:
        with Writer(build) as writer:
            for name, frame in tables.items():
                writer.write(name, frame)
        result = build.publish(META)
    assert resolve_store(store_path) == result.path
    for name in ("users", "window_summary", "daily_sessions"):
        assert stored_count(result.path, name) == tables[name].height


@pytest.mark.parametrize("batch_rows", [1, build_module.BATCH_ROWS], ids=["appended-by-the-writer", "batched"])
def test_a_write_error_surfaces_in_the_publish_step_and_the_last_store_stays(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    previous = publish_store(store_path, sample_rows(), as_of=AS_OF).path
    monkeypatch.setattr(build_module, "BATCH_ROWS", batch_rows)
    tables = store_tables(sample_rows())
    bad = tables["window_summary"].with_columns(pl.lit("many").alias("total_sessions"))
    with pytest.raises(RefreshFailed) as failed, StoreBuild(store_path) as build:
        with Writer(build) as writer:
            for name, frame in {**tables, "window_summary": bad}.items():
                writer.write(name, frame)
        with stage("publish"):
            build.publish(META)
    assert failed.value.step == "publish"
    assert isinstance(failed.value.cause, PublishError)
    assert "writing window_summary into the new store failed" in str(failed.value)
    assert resolve_store(store_path) == previous
    assert [p.name for p in store_path.parent.iterdir() if ".building" in p.name] == []


def test_a_write_of_no_store_table_fails_the_publish_step_when_the_writer_is_left(store_path: Path) -> None:
    with StoreBuild(store_path) as build:
        writer = Writer(build)
        with pytest.raises(RefreshFailed) as failed, writer:
            writer.write("sessions", pl.DataFrame({"x": [1]}))  # returns at once: the error waits
            writer.write("users", store_tables(sample_rows())["users"])
        assert failed.value.step == "publish"
        assert "sessions is not a store table" in str(failed.value)


def test_a_block_left_by_an_error_raises_that_error_not_the_writes(store_path: Path) -> None:
    with pytest.raises(ValueError, match="transform broke"), StoreBuild(store_path) as build, Writer(build) as writer:
        writer.write("sessions", pl.DataFrame({"x": [1]}))
        raise ValueError("transform broke")
    assert not store_path.exists()
