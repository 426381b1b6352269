-- Grain: one row per rating with a non-empty comment that is among its tree's 10 newest
-- (ties: id desc), of any age. Only these can appear in recent_comments; the transform
-- ranks them. The author is never read.
SELECT rating_id, tree_id, rating, comment, created_at
FROM (
    SELECT
        id::text AS rating_id,
        tree_id::text AS tree_id,
        rating,
        comment,
        created_at,
        row_number() OVER (PARTITION BY tree_id ORDER BY created_at DESC, id DESC) AS newest
    FROM session_ratings
    WHERE comment IS NOT NULL AND comment <> ''
) ranked
WHERE newest <= 10
