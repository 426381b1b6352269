"""The one error hierarchy. Messages say what happened, the value involved, and the fix.

Driver errors are translated into these at the boundary (extract, publish, lock); nothing
above that boundary sees a psycopg, ADBC or DuckDB exception.
"""

from __future__ import annotations


class FlowmetricsError(Exception):
    """Root of every error flowmetrics raises on purpose."""

    step: str | None = None
    """The refresh step this kind of error belongs to wherever it is raised (None: where it is raised)."""


class ConfigError(FlowmetricsError):
    """A setting is missing or malformed."""


class SourceError(FlowmetricsError):
    """The application's PostgreSQL could not be read."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        # Transient errors (connection refused, server restarting) are worth a retry.
        self.transient = transient


class AuditError(FlowmetricsError):
    """A freshly built store failed an audit; it is not published."""

    step = "audit"


class PublishError(FlowmetricsError):
    """The new store could not be written or moved into place."""


class StoreUnavailable(FlowmetricsError):
    """No published store exists yet, or it cannot be opened."""


class RefreshLocked(FlowmetricsError):
    """Another refresh holds the lock."""


class RefreshFailed(FlowmetricsError):
    """A refresh failed in a named step; the last good store is still published."""

    step: str

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"refresh failed in {step}: {cause}")
        self.step = step
        self.cause = cause
