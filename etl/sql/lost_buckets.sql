-- Grain: one row per (UTC day of day_column, first width characters of the id) of table
-- holding fewer rows than expected: the buckets of the days that lost rows whose ids are
-- worth reading (ids_in_buckets.sql). Expected per bucket (the arrays days, buckets, rows):
-- the store's rows kept and the rows read again; compared here, so only lost buckets travel.
WITH expected AS (
    SELECT * FROM unnest({days}::date[], {buckets}::text[], {rows}::bigint[]) AS e(day, bucket, rows)
), actual AS (
    SELECT ({day_column} AT TIME ZONE 'UTC')::date AS day, left(id::text, {width}) AS bucket, count(*)::bigint AS rows
    FROM {table}
    WHERE {day_column} >= {start} AND {day_column} < {end}
      AND ({day_column} AT TIME ZONE 'UTC')::date = ANY({short}::date[])
    GROUP BY 1, 2
)
SELECT e.day, e.bucket FROM expected e LEFT JOIN actual a USING (day, bucket)
WHERE coalesce(a.rows, 0) < e.rows
