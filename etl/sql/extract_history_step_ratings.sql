-- Grain: one row per step rating created before :end (nightly history of step feedback;
-- the table is optional).
SELECT
    tree_id::text AS tree_id,
    node_id,
    helpful,
    created_at
FROM step_ratings
WHERE created_at < :end
