"""The data-quality history: after each publish, one JSON line of the new store's counts.

The page draws each rule's trend from it (a store keeps only its own data_quality). A
failure to record is logged, never a failed refresh: the store is already published.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime

import duckdb

from etl.config import Config
from etl.errors import StoreUnavailable
from etl.store import current_store

log = logging.getLogger("flowmetrics.quality")


def record_quality(config: Config, run_id: str, as_of: datetime) -> None:
    """Append the current store's data_quality counts (rule -> rows) to the history (the
    overlay's after an incremental: it holds data_quality whole)."""
    try:
        con = duckdb.connect(str(current_store(config.metrics_db).served), read_only=True)
        try:
            counts = dict(con.sql("SELECT check_name, rows FROM data_quality ORDER BY check_name").fetchall())
            built = con.sql("SELECT value FROM store_meta WHERE key = 'built_at'").fetchall()
        finally:
            con.close()
        line = {
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "built_at": built[0][0] if built else None,
            "counts": counts,
        }
        path = config.quality_log
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line, sort_keys=True) + "\n").encode())
        finally:
            os.close(fd)
    except (OSError, duckdb.Error, StoreUnavailable) as exc:
        log.warning("could not record the data quality of run %s: %s", run_id, exc)
