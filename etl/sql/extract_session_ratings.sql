-- Grain: one row per session rating created at or after :since.
SELECT
    id::text       AS rating_id,
    tree_id::text  AS tree_id,
    rating,
    comment,
    created_at
FROM session_ratings
WHERE created_at >= :since
