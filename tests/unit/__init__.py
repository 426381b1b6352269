"""Unit tests, one folder per package (tests/unit/etl/transform/ for etl/transform/, ...): no PostgreSQL."""
