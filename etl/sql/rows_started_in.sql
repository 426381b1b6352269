-- Sessions started in [start, end). The lookback's last range has no upper bound, as
-- windows have none: its end is 'infinity', and PostgreSQL folds the OR away before
-- planning (an index range scan either way).
started_at >= {start} AND (started_at < {end} OR {end} = 'infinity')
