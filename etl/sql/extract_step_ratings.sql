-- Grain: one row per step rating created in [:start, :end) (the table is optional). The
-- window reads from the lookback's start with no end; the nightly history reads from the
-- beginning (no start) up to the lookback.
SELECT
    tree_id::text AS tree_id,
    node_id,
    helpful,
    created_at
FROM step_ratings
WHERE created_at >= :start
  AND created_at < :end
