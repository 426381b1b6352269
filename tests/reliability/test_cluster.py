"""A full rebuild's history on a Dask cluster: the same store as in one process, a lost
worker's partition run again, a partition that keeps failing fails the run (naming its
days) and publishes nothing, and a refresh without a cluster never imports Dask.

One seeded source (400 days: about 39 partitions of history) and one in-process store are
shared by the module; the clusters are real LocalClusters of worker processes.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from etl import database, statements
from etl.errors import ConfigError, RefreshFailed, SourceError
from etl.runs import read_runs
from etl.store import resolve_store
from jobs.cli import main
from jobs.cluster import ClusterSpec
from jobs.partition import Partition, PartitionFailed
from jobs.plan import history_chunks, lookback_start
from jobs.refresh import run_refresh
from tests.conftest import seeded_database
from tests.reliability.conftest import Child, make_config, make_env

distributed = pytest.importorskip(
    "distributed", reason="the cluster extra is not installed (pip install -e '.[cluster]')"
)

SEED_ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)
AS_OF = datetime(2026, 11, 19, 17, 45, 30, 250000, tzinfo=UTC)
COMPARED = sorted(set(statements.store_columns()) - {"refresh_runs", "store_meta"})
"""Every store table but the run's own rows."""
Tables = dict[str, pl.DataFrame]


def tables_of(store: Path) -> Tables:
    con = duckdb.connect(str(resolve_store(store)), read_only=True)
    try:
        return {name: con.sql(f"SELECT * FROM {name} ORDER BY ALL").pl() for name in COMPARED}
    finally:
        con.close()


def assert_same_tables(actual: Tables, expected: Tables) -> None:
    for name in COMPARED:
        try:
            assert_frame_equal(actual[name], expected[name])
        except AssertionError as exc:
            raise AssertionError(f"{name} differs: {exc}") from None
    assert expected["fact_sessions"].height > 2000 and expected["daily_ratings"].height > 0


@pytest.fixture(scope="module")
def source(pg_admin_url: str) -> Iterator[str]:
    with seeded_database(
        pg_admin_url, "fm_test", sessions=3_000, accounts=3, days=400, seed=29, now=SEED_ANCHOR
    ) as url:
        yield url


@pytest.fixture(scope="module")
def partitions(source: str) -> list[str]:
    """The history's partitions as a failure names them (first..last day), oldest first."""
    with database.connect(source) as conn:
        row = conn.execute("SELECT min(started_at) FROM sessions").fetchone()
    assert row is not None
    return [Partition(s, e).days for s, e in history_chunks(row[0], lookback_start(AS_OF))]


@dataclass(frozen=True)
class Reference:
    tables: Tables
    extract_rows: int | None


@pytest.fixture(scope="module")
def in_process(source: str, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The store a refresh builds in one process: what every cluster build must equal."""
    config = make_config(make_env(tmp_path_factory.mktemp("in-process") / "metrics.duckdb"))
    run = run_refresh(config, source, mode="nightly", full=True, as_of=AS_OF)
    return Reference(tables_of(config.metrics_db), run.extract_rows)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A running scheduler with two worker processes, as `dask scheduler` and `dask worker` give."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as running:
        yield running


@pytest.fixture
def plug(cluster: Any) -> Iterator[Callable[[Any], str]]:
    """Registers worker plugins on the cluster for the test; returns its address."""
    with distributed.Client(cluster, set_as_default=False) as client:
        names: list[str] = []

        def register(plugin: Any) -> str:
            client.register_plugin(plugin)
            names.append(plugin.name)
            return str(cluster.scheduler_address)

        yield register
        for name in names:
            client.unregister_worker_plugin(name)


class KillOnce(distributed.WorkerPlugin):  # type: ignore[misc]
    """SIGKILLs the worker process that starts the partition `days`, the first time only."""

    name = "test-kill-once"

    def __init__(self, days: str, marker: Path) -> None:
        self.days, self.marker = days, marker

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing" and f"history-{self.days}" in str(key) and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


class BreakReads(distributed.WorkerPlugin):  # type: ignore[misc]
    """While the partition `days` runs, its worker's new connections find no source tables."""

    name = "test-break-reads"

    def __init__(self, days: str, marker: Path) -> None:
        self.days, self.marker = days, marker

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if f"history-{self.days}" not in str(key):
            return
        if finish == "executing":  # libpq reads PGOPTIONS when the task connects
            os.environ["PGOPTIONS"] = "-c search_path=fm_no_such_schema"
            with self.marker.open("a") as attempts:
                attempts.write(f"{os.getpid()}\n")
        elif start == "executing":
            os.environ.pop("PGOPTIONS", None)


@pytest.mark.slow
def test_a_build_on_two_local_workers_equals_the_in_process_build(
    source: str, in_process: Reference, store_path: Path
) -> None:
    config = make_config(make_env(store_path))
    lines: list[str] = []
    run = run_refresh(
        config, source, mode="nightly", full=True, as_of=AS_OF, cluster=ClusterSpec(workers=2), progress=lines.append
    )
    assert run.status == "success"
    assert_same_tables(tables_of(store_path), in_process.tables)
    tasks = [line for line in lines if line.startswith("extract history[")]
    assert len(tasks) > 30, "one line per partition"
    assert len({line.rsplit(" on ", 1)[1] for line in tasks}) == 2, "both workers took partitions"
    assert any(line.startswith("history: ") and "critical path" in line for line in lines)
    # The partitions' reads count in the run's figures as the in-process lane's do.
    assert run.extract_rows == in_process.extract_rows


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(
    source: str,
    in_process: Reference,
    store_path: Path,
    plug: Callable[[Any], str],
    partitions: list[str],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "killed"
    address = plug(KillOnce(partitions[3], marker))
    config = make_config(make_env(store_path, METRICS_DASK_SCHEDULER=address))
    run = run_refresh(config, source, mode="nightly", full=True, as_of=AS_OF)
    assert marker.exists(), "a worker was killed running the partition"
    assert run.status == "success" and run.attempts == 1
    assert_same_tables(tables_of(store_path), in_process.tables)


@pytest.mark.slow
def test_a_partition_that_fails_every_attempt_fails_the_run_and_publishes_nothing(
    source: str, store_path: Path, plug: Callable[[Any], str], partitions: list[str], tmp_path: Path
) -> None:
    config = make_config(make_env(store_path))
    run_refresh(config, source, mode="nightly", full=True, as_of=AS_OF)
    published = resolve_store(store_path)
    attempts = tmp_path / "attempts"
    days = partitions[5]
    address = plug(BreakReads(days, attempts))

    with pytest.raises(RefreshFailed) as failure:
        run_refresh(
            config,
            source,
            mode="nightly",
            full=True,
            as_of=AS_OF,
            cluster=ClusterSpec(scheduler=address),
        )
    assert failure.value.step == "extract"
    assert f"history partition {days} failed" in str(failure.value)
    failed = failure.value.cause
    assert isinstance(failed, PartitionFailed) and failure.value.__cause__ is failed
    assert isinstance(failed.error, SourceError) and "sessions" in str(failed.error)
    assert len(attempts.read_text().split()) == 3, "the first attempt and two retries"

    last = read_runs(config.runs_log)[-1]
    assert (last.status, last.failed_step) == ("failed", "extract") and days in (last.error or "")
    assert resolve_store(store_path) == published
    assert sorted(store_path.parent.glob("*.building*")) == []


IN_PROCESS = """
import json, sys
from datetime import datetime
from pathlib import Path
from etl.config import Config
from jobs.refresh import run_refresh
config = Config.from_env({"METRICS_DB": sys.argv[2]}, dotenv=Path("/nonexistent"))
run = run_refresh(config, sys.argv[1], mode="nightly", full=True, as_of=datetime.fromisoformat(sys.argv[3]))
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("dask", "distributed"))
print(json.dumps({"status": run.status, "loaded": loaded}))
"""


@pytest.mark.slow
def test_a_refresh_without_a_cluster_never_imports_dask(
    source: str, store_path: Path, spawn: Callable[..., Child]
) -> None:
    child = spawn(IN_PROCESS, source, str(store_path), AS_OF.isoformat(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert child.wait(timeout=120) == 0, child.stderr()
    assert json.loads(child.stderr().splitlines()[-1]) == {"status": "success", "loaded": []}


@pytest.mark.parametrize(
    "argv",
    [
        ["refresh", "--workers", "2"],
        ["refresh", "--mode", "nightly", "--cluster", "tcp://dask-scheduler:8786"],
        ["refresh", "--mode", "hourly", "--full", "--workers", "2"],
    ],
    ids=["hourly", "nightly-not-full", "hourly-full"],
)
def test_a_cluster_is_refused_without_a_nightly_full_rebuild(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@/nowhere", "METRICS_DB": str(tmp_path / "data" / "metrics.duckdb")}
    with pytest.raises(SystemExit) as exited:
        main(argv, env)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    assert not (tmp_path / "data").exists()


def test_a_scheduler_address_is_checked() -> None:
    assert make_config({"METRICS_DASK_SCHEDULER": "tcp://10.0.0.5:8786"}).dask_scheduler == "tcp://10.0.0.5:8786"
    with pytest.raises(ConfigError, match="METRICS_DASK_SCHEDULER='dask-scheduler' is not a Dask scheduler address"):
        make_config({"METRICS_DASK_SCHEDULER": "dask-scheduler"})
