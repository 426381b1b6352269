"""A refresh imports what it reads and writes with, nothing of the API, the scheduler or a cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NOT_FOR_A_REFRESH = ("fastapi", "uvicorn", "starlette", "prometheus_client", "apscheduler", "dask", "distributed")


def test_the_refresh_path_imports_no_server_scheduler_or_cluster_package() -> None:
    probe = (
        "import json, sys\n"
        "import jobs.cli, jobs.refresh, jobs.runner\n"
        "from etl.config import Config\n"
        "from pathlib import Path\n"
        "Config.from_env({}, dotenv=Path('/nonexistent/.env'))\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert {"polars", "duckdb", "adbc_driver_postgresql"} <= loaded  # the probe did import the refresh
    assert loaded.isdisjoint(NOT_FOR_A_REFRESH), sorted(loaded & set(NOT_FOR_A_REFRESH))
