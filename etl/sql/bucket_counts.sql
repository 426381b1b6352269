-- Grain: one row per (UTC day of day_column, first width characters of the id) of table,
-- among the rows whose day and first parent characters are one of keys ('2026-11-03/a'):
-- how many. Narrows a day that lost rows down to the few ids worth reading (ids_in_buckets.sql).
SELECT ({day_column} AT TIME ZONE 'UTC')::date AS day, left(id::text, {width}) AS bucket, count(*)::bigint AS rows
FROM {table}
WHERE {day_column} >= {start} AND {day_column} < {end}
  AND ((({day_column} AT TIME ZONE 'UTC')::date)::text || '/' || left(id::text, {parent})) = ANY({keys}::text[])
GROUP BY 1, 2
