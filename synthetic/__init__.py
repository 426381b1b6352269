"""Synthetic source data in a private PostgreSQL: the generator (`flowmetrics seed`) and the
embedded server it runs on. Used by the CLI (seed, demo), the tests and the bench; never by
`etl` or `metrics_api`."""

from __future__ import annotations

from pathlib import Path

SOURCE_SCHEMA = Path(__file__).with_name("source_schema.sql")
"""The app's source tables (the columns flowmetrics reads) with the app's indexes."""

SEED_STAGES = ("users", "trees", "sessions", "ratings", "indexes")
"""What `flowmetrics seed` reports progress on, in order."""
