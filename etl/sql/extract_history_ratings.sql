-- Grain: one row per session rating created before :end (nightly history of ratings).
SELECT
    tree_id::text AS tree_id,
    rating,
    created_at
FROM session_ratings
WHERE created_at < :end
