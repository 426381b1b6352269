-- Grain: one row per UTC day of day_column in table with rows: how many. Compared with
-- the store's own counts, it shows the days that lost rows (deletes, rows moved away).
-- On sessions it is an index-only scan of ix_sessions_started_at.
SELECT ({day_column} AT TIME ZONE 'UTC')::date AS day, count(*)::bigint AS rows
FROM {table}
GROUP BY 1
