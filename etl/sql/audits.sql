-- Audits: each query must return zero rows, or the new store is not published.
-- Blocks are separated by "-- audit: <name>" lines. A block marked "-- needs: all history"
-- is left out when an overlay is audited: it holds only the days it changed (etl/store.py).

-- audit: users_unique
SELECT user_id FROM users GROUP BY user_id HAVING count(*) > 1;

-- audit: trees_unique
SELECT tree_id FROM trees GROUP BY tree_id HAVING count(*) > 1;

-- audit: summary_unique
SELECT period, scope, scope_id, engineer_id FROM window_summary
GROUP BY ALL HAVING count(*) > 1;

-- audit: summary_counts_consistent
SELECT * FROM window_summary
WHERE completed_sessions > total_sessions
   OR completion_rate < 0 OR completion_rate > 1
   OR resolved + escalated + workaround + unresolved > completed_sessions
   OR active_engineers > total_sessions OR total_sessions <= 0;

-- audit: time_series_adds_up_to_summary
SELECT s.period, s.scope, s.scope_id, s.engineer_id
FROM window_summary s
LEFT JOIN (
    SELECT period, scope, scope_id, engineer_id, sum(sessions) AS sessions
    FROM window_time_series GROUP BY ALL
) t USING (period, scope, scope_id, engineer_id)
WHERE t.sessions IS DISTINCT FROM s.total_sessions;

-- audit: periods_named_in_days
-- A period's name is its length: N days is 'Nd' (the keys of etl.config.PERIODS).
SELECT DISTINCT period FROM window_summary WHERE NOT regexp_full_match(period, '[1-9][0-9]*d');

-- audit: windows_nest
-- Every window ends at as_of: a shorter one never has more sessions than a longer one.
WITH sized AS (
    SELECT *, TRY_CAST(regexp_extract(period, '^([0-9]+)d$', 1) AS INTEGER) AS days FROM window_summary
)
SELECT a.scope, a.scope_id, a.engineer_id
FROM sized a JOIN sized b USING (scope, scope_id, engineer_id)
WHERE a.days < b.days AND a.total_sessions > b.total_sessions;

-- audit: top_lists_ranked
SELECT list, period, scope, scope_id FROM (
    SELECT 'flows' AS list, period, scope, scope_id, rank FROM window_top_flows
    UNION ALL SELECT 'engineers', period, scope, scope_id, rank FROM window_top_engineers
) GROUP BY ALL HAVING count(*) > 10 OR max(rank) <> count(*) OR min(rank) <> 1;

-- audit: step_feedback_consistent
SELECT * FROM window_step_feedback
WHERE dropoffs > visits OR visits <= 0 OR dropoff_rate < 0 OR dropoff_rate > 1
   OR helpful_rate < 0 OR helpful_rate > 1;

-- audit: recent_comments_at_most_ten
SELECT tree_id FROM recent_comments GROUP BY tree_id HAVING count(*) > 10;

-- audit: history_covers_window
-- Every window lies within the lookback (the longest window), whatever the periods are.
-- needs: all history (an overlay holds only the days it changed)
SELECT w.scope, w.scope_id FROM window_summary w
LEFT JOIN (
    -- Only the lookback's days: the cost of this audit follows the window, not all history.
    SELECT scope, scope_id, sum(sessions) AS sessions FROM daily_sessions
    WHERE day >= coalesce(
        (SELECT CAST(value AS TIMESTAMPTZ)::DATE FROM store_meta WHERE key = 'lookback_start'), DATE '0001-01-01'
    )
    GROUP BY ALL
) d
  USING (scope, scope_id)
WHERE w.scope IN ('account', 'user', 'tree')
  AND coalesce(d.sessions, 0) < w.total_sessions;

-- audit: fact_sessions_unique
SELECT session_id FROM fact_sessions GROUP BY session_id HAVING count(*) > 1;

-- audit: fact_sessions_consistent
SELECT session_id FROM fact_sessions
WHERE (completed_at IS NULL) <> (duration_minutes IS NULL)
   OR (dropoff_node_id IS NOT NULL AND completed_at IS NOT NULL)
   OR visit_count > decision_count OR visit_count < 0
   OR (rating IS NULL) <> (rated_at IS NULL);

-- audit: daily_step_feedback_consistent
SELECT tree_id, node_id, day FROM daily_step_feedback
GROUP BY ALL
HAVING count(*) > 1 OR bool_or(dropoffs > visits);
