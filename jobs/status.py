"""`flowmetrics status`: the latest refresh runs and the published store's age, as a table."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from etl.config import Config
from etl.errors import StoreUnavailable
from etl.runs import RunRecord, read_runs
from etl.store import current_store, open_store


def duration_text(seconds: float) -> str:
    """A duration as people read it: "45 s", "12 min", "1.5 h", "3.0 days"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def store_summary(config: Config) -> str:
    try:
        path, con = open_store(config.metrics_db)
    except StoreUnavailable as exc:
        return f"store: none ({exc})"
    try:
        meta = dict(con.sql("SELECT key, value FROM store_meta").fetchall())
    finally:
        con.close()
    summary = f"store: {config.metrics_db} -> {path.name}\n  {_built(meta, path)}"
    current = current_store(config.metrics_db)
    if current.overlay is None:
        return summary
    keys = current.overlay_meta.get("replaced_keys", "?")
    overlay, built = current.overlay.name, _built(current.overlay_meta, current.overlay)
    return f"{summary}\noverlay (the API serves it): {overlay}, {keys} keys changed since the base\n  {built}"


def _built(meta: dict[str, str], path: Path) -> str:
    built = datetime.fromisoformat(meta["built_at"])
    age = (datetime.now(timezone.utc) - built).total_seconds()
    return (
        f"mode {meta.get('mode')}, as_of {meta.get('as_of')}, built {meta['built_at']} ({duration_text(age)} ago), "
        f"{path.stat().st_size / 1e6:.1f} MB"
    )


def _row(run: RunRecord) -> list[str]:
    def num(value: float | int | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    seconds = [run.extract_seconds, run.transform_seconds, run.publish_seconds]
    total = sum(s for s in seconds if s is not None) if any(s is not None for s in seconds) else None
    status = run.status.upper() if run.status != "success" else run.status
    return [
        run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
        run.mode,
        run.trigger,
        status,
        run.as_of.strftime("%Y-%m-%d %H:%M"),
        num(run.extract_rows, ","),
        num(total, ".1f"),
        num(run.lock_wait_seconds, ".1f"),
        str(run.attempts),
    ]


def render_status(config: Config, *, limit: int = 10) -> str:
    runs = read_runs(config.runs_log)[-limit:][::-1]
    lines = [store_summary(config), ""]
    if not runs:
        lines.append(f"no refresh runs recorded yet ({config.runs_log})")
        return "\n".join(lines)
    header = ["started (UTC)", "mode", "trigger", "status", "as_of", "rows", "seconds", "lock wait", "tries"]
    table = [header, *(_row(r) for r in runs)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    failures = [r for r in runs if r.status != "success"]
    for run in failures:
        where = f" in {run.failed_step}" if run.failed_step else ""
        lines.append(f"!! {run.started_at:%Y-%m-%d %H:%M:%S} {run.mode} {run.status}{where}: {run.error}")
    return "\n".join(lines)
