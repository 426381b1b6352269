-- Grain: one row per row of :table whose UTC day of :day_column is one of :days (the days
-- whose counts dropped): its id, to tell which of the store's rows are gone.
SELECT id::text AS id
FROM :table
WHERE (:day_column AT TIME ZONE 'UTC')::date = ANY(:days)
