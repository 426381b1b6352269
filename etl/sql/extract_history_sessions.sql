-- Grain: one row per session started in [:start, :end) (nightly history, read in chunks).
SELECT
    tree_id::text AS tree_id,
    user_id::text AS user_id,
    started_at,
    (extract(epoch FROM completed_at - started_at) / 60)::float8 AS duration_minutes,
    outcome
FROM sessions
WHERE started_at >= :start AND started_at < :end
