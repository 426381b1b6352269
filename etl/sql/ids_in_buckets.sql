-- Grain: one row per row of table whose UTC day of day_column and first width characters
-- of the id are one of keys: its id, to tell which of the store's rows are gone.
SELECT id::text AS id
FROM {table}
WHERE {day_column} >= {start} AND {day_column} < {end}
  AND ((({day_column} AT TIME ZONE 'UTC')::date)::text || '/' || left(id::text, {width})) = ANY({keys}::text[])
