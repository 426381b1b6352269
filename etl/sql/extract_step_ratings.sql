-- Grain: one row per step rating that rows picks (the table is optional):
-- rows_created_in.sql ([start, end): the window reads from the lookback's start with no
-- end, the history from the beginning up to the lookback) or rows_changed.sql.
SELECT
    id::text AS step_rating_id,
    tree_id::text AS tree_id,
    node_id,
    helpful,
    created_at
FROM step_ratings
WHERE {rows}
