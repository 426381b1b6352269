"""flowmetrics jobs: refresh orchestration, schedule, run lock, run history, CLI."""
