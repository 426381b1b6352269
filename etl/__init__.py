"""flowmetrics ETL: extract from the app's PostgreSQL, transform in pure Polars, publish one DuckDB store."""
