-- Grain: one row per row of table with day_column in one of the ranges [start, start +
-- seconds) of starts (the minutes that lost rows, range_counts.sql): its id, to tell which
-- of the store's rows are gone.
SELECT t.id::text AS id
FROM unnest({starts}::timestamptz[]) AS r(start)
CROSS JOIN LATERAL (
    SELECT id FROM {table} t
    WHERE t.{day_column} >= r.start AND t.{day_column} < r.start + make_interval(secs => {seconds})
) AS t
