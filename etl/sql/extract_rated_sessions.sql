-- Grain: one row per rated session started in [start, end): its newest rating (ties:
-- rating id desc). A session rated twice (dirty data) shows its newest rating in the
-- sessions fact; CSAT figures count every rating (daily_ratings).
SELECT DISTINCT ON (r.session_id)
    r.session_id::text AS session_id,
    r.rating,
    r.created_at AS rated_at
FROM session_ratings r
JOIN sessions s ON s.id = r.session_id
WHERE s.started_at >= {start}
  AND (s.started_at < {end} OR {end} = 'infinity')
ORDER BY r.session_id, r.created_at DESC, r.id DESC
