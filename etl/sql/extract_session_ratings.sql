-- Grain: one row per session rating that rows picks (rows_created_since.sql: the lookback;
-- rows_created_before.sql: the older history; rows_changed.sql: new versions).
SELECT
    id::text       AS rating_id,
    session_id::text AS session_id,
    tree_id::text  AS tree_id,
    rating,
    comment,
    created_at
FROM session_ratings
WHERE {rows}
