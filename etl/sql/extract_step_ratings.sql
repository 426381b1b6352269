-- Grain: one row per step rating created at or after :since (the table is optional).
SELECT
    tree_id::text AS tree_id,
    node_id,
    helpful,
    created_at
FROM step_ratings
WHERE created_at >= :since
