-- Queries on the published store that an incremental refresh starts from (etl/previous.py).
-- The store's fact tables hold every source row a refresh needs, as it was read, so any day
-- can be rebuilt without reading the source again. `excluded` is a registered table of ids
-- (`id`, text): the rows that changed or went away, which the refresh reads or drops.
-- Blocks are separated by "-- query: <name>" lines; ? are bound parameters.

-- query: sessions
-- The extract's rows (extract_sessions.sql) of sessions started in [?, ?), but the excluded;
-- with the third parameter false, only those started on the days of the registered `days`;
-- with the fourth false, only those in the registered `listed` (session ids).
SELECT
    f.session_id::VARCHAR AS session_id, f.tree_id, f.user_id, f.started_at, f.completed_at,
    f.duration_minutes, f.outcome, f.decisions_type,
    CASE WHEN f.decisions_type = 'array' THEN f.decision_count END AS decision_elements,
    f.node_ids, f.dropoff_node_id AS last_node_id
FROM fact_sessions f
ANTI JOIN excluded e ON f.session_id = e.id::UUID
WHERE f.started_at >= ? AND f.started_at < ? AND (? OR f.day IN (SELECT day FROM days))
  AND (? OR f.session_id IN (SELECT id::UUID FROM listed))

-- query: ratings
-- Every session rating as read (extract_session_ratings.sql), but the excluded.
SELECT f.rating_id, f.session_id, f.tree_id, f.rating, f.comment, f.created_at
FROM fact_ratings f
ANTI JOIN excluded e ON f.rating_id = e.id

-- query: step_ratings
-- Every step rating as read (extract_step_ratings.sql), but the excluded.
SELECT f.step_rating_id, f.tree_id, f.node_id, f.helpful, f.created_at
FROM fact_step_ratings f
ANTI JOIN excluded e ON f.step_rating_id = e.id

-- query: fact_sessions_per_day
SELECT f.day, count(*)::BIGINT AS rows FROM fact_sessions f ANTI JOIN excluded e ON f.session_id = e.id::UUID GROUP BY f.day

-- query: fact_ratings_per_day
SELECT f.day, count(*)::BIGINT AS rows FROM fact_ratings f ANTI JOIN excluded e ON f.rating_id = e.id GROUP BY f.day

-- query: fact_step_ratings_per_day
SELECT f.day, count(*)::BIGINT AS rows FROM fact_step_ratings f ANTI JOIN excluded e ON f.step_rating_id = e.id GROUP BY f.day

-- query: fact_sessions_ids_on_days
SELECT f.session_id::VARCHAR AS id, f.day, f.started_at AS at FROM fact_sessions f SEMI JOIN days d ON f.day = d.day

-- query: fact_ratings_ids_on_days
SELECT f.rating_id AS id, f.day, f.created_at AS at FROM fact_ratings f SEMI JOIN days d ON f.day = d.day

-- query: fact_step_ratings_ids_on_days
SELECT f.step_rating_id AS id, f.day, f.created_at AS at FROM fact_step_ratings f SEMI JOIN days d ON f.day = d.day

-- query: fact_sessions_days_of
-- The days (and ids) of the listed sessions, in the registered table `listed` (`id`).
SELECT DISTINCT f.day FROM fact_sessions f SEMI JOIN listed l ON f.session_id = l.id::UUID

-- query: fact_ratings_days_of
SELECT DISTINCT f.day FROM fact_ratings f SEMI JOIN listed l ON f.rating_id = l.id

-- query: fact_step_ratings_days_of
SELECT DISTINCT f.day FROM fact_step_ratings f SEMI JOIN listed l ON f.step_rating_id = l.id

-- query: rated_sessions_of
-- The sessions the listed ratings were given to.
SELECT DISTINCT f.session_id AS id FROM fact_ratings f SEMI JOIN listed l ON f.rating_id = l.id

-- query: days_of_trees
-- The days with sessions of the listed trees (`id`: tree ids).
SELECT DISTINCT f.day FROM fact_sessions f SEMI JOIN listed l ON f.tree_id = l.id

-- query: session_versions
-- The listed sessions as stored (`id`: session ids): what their per-day rows were built from.
SELECT f.session_id::VARCHAR AS id, f.tree_id, f.user_id, f.account_id, f.day
FROM fact_sessions f SEMI JOIN listed l ON f.session_id = l.id::UUID

-- query: rating_versions
SELECT f.rating_id AS id, f.tree_id, f.day FROM fact_ratings f SEMI JOIN listed l ON f.rating_id = l.id

-- query: step_rating_versions
SELECT f.step_rating_id AS id, f.tree_id, f.day FROM fact_step_ratings f SEMI JOIN listed l ON f.step_rating_id = l.id

-- query: sessions_of_trees
-- The sessions of the listed trees (`id`: tree ids).
SELECT f.session_id::VARCHAR AS id FROM fact_sessions f SEMI JOIN listed l ON f.tree_id = l.id

-- query: trees
SELECT tree_id, account_id FROM trees

-- The incremental refresh's reads of the rows it rebuilds keys from (jobs/incremental.py).
-- `excluded` holds the stale rows' ids: their stored versions are out of date.

-- query: session_ids_of_keys
-- The sessions on a key's day of its account, user or tree (`keys`: scope, scope_id, day),
-- all on the days from ? to ? (the keys' first and last: the scan skips the others).
SELECT f.session_id::VARCHAR AS id FROM fact_sessions f
WHERE f.day BETWEEN ? AND ? AND (
    (f.account_id, f.day) IN (SELECT scope_id, day FROM keys WHERE scope = 'account')
    OR (f.user_id, f.day) IN (SELECT scope_id, day FROM keys WHERE scope = 'user')
    OR (f.tree_id, f.day) IN (SELECT scope_id, day FROM keys WHERE scope = 'tree'))

-- query: window_sessions_of_scopes
-- The rollup columns of the sessions started at or after ? of the registered `scopes`
-- (scope: account, user or tree; id), but the excluded.
SELECT f.tree_id, f.user_id, f.account_id, f.started_at, f.duration_minutes, f.outcome
FROM fact_sessions f
ANTI JOIN excluded e ON f.session_id = e.id::UUID
WHERE f.started_at >= ? AND (
    f.account_id IN (SELECT id FROM scopes WHERE scope = 'account')
    OR f.user_id IN (SELECT id FROM scopes WHERE scope = 'user')
    OR f.tree_id IN (SELECT id FROM scopes WHERE scope = 'tree'))

-- query: sessions_started_between
-- Sessions started in [?, ?), but the excluded: those that crossed a window's start.
SELECT f.tree_id, f.user_id, f.account_id, f.started_at
FROM fact_sessions f ANTI JOIN excluded e ON f.session_id = e.id::UUID
WHERE f.started_at >= ? AND f.started_at < ?

-- query: ratings_created_between
SELECT f.tree_id, f.created_at FROM fact_ratings f ANTI JOIN excluded e ON f.rating_id = e.id
WHERE f.created_at >= ? AND f.created_at < ?

-- query: step_ratings_created_between
SELECT f.tree_id, f.created_at FROM fact_step_ratings f ANTI JOIN excluded e ON f.step_rating_id = e.id
WHERE f.created_at >= ? AND f.created_at < ?

-- query: ratings_of_trees
-- The session ratings as read of the listed trees (`listed`: tree ids) created at or after ?, but the excluded.
SELECT f.rating_id, f.session_id, f.tree_id, f.rating, f.comment, f.created_at
FROM fact_ratings f SEMI JOIN listed l ON f.tree_id = l.id ANTI JOIN excluded e ON f.rating_id = e.id
WHERE f.created_at >= ?

-- query: ratings_of_sessions
-- The session ratings as read given to the listed sessions (`listed`: session ids), but the excluded.
SELECT f.rating_id, f.session_id, f.tree_id, f.rating, f.comment, f.created_at
FROM fact_ratings f SEMI JOIN listed l ON f.session_id = l.id ANTI JOIN excluded e ON f.rating_id = e.id

-- query: ratings_of_keys
-- The session ratings as read of the registered `keys` (tree_id, day), but the excluded.
SELECT f.rating_id, f.session_id, f.tree_id, f.rating, f.comment, f.created_at
FROM fact_ratings f SEMI JOIN keys k ON f.tree_id = k.tree_id AND f.day = k.day ANTI JOIN excluded e ON f.rating_id = e.id

-- query: step_ratings_of_trees
-- The step ratings as read of the listed trees created at or after ?, but the excluded.
SELECT f.step_rating_id, f.tree_id, f.node_id, f.helpful, f.created_at
FROM fact_step_ratings f SEMI JOIN listed l ON f.tree_id = l.id ANTI JOIN excluded e ON f.step_rating_id = e.id
WHERE f.created_at >= ?

-- query: step_ratings_of_keys
SELECT f.step_rating_id, f.tree_id, f.node_id, f.helpful, f.created_at
FROM fact_step_ratings f SEMI JOIN keys k ON f.tree_id = k.tree_id AND f.day = k.day
ANTI JOIN excluded e ON f.step_rating_id = e.id

-- query: daily_step_feedback_of_trees
-- The per-day step rows of the listed trees on days after ?, but the registered `keys` (tree_id, day).
SELECT d.tree_id, d.node_id, d.day, d.visits, d.dropoffs
FROM daily_step_feedback d SEMI JOIN listed l ON d.tree_id = l.id ANTI JOIN keys k USING (tree_id, day)
WHERE d.day > ?

-- query: dimensions_stored
-- What the window rows were built with: each tree's account and name, each user's name.
SELECT 'tree' AS kind, tree_id AS id, account_id, name FROM trees
UNION ALL SELECT 'user', user_id, account_id, name FROM users

-- query: tree_nodes
SELECT tree_id, node_id, node_title FROM tree_nodes

-- query: data_quality
SELECT check_name, rows FROM data_quality

-- query: comments_since
SELECT f.comment FROM fact_ratings f ANTI JOIN excluded e ON f.rating_id = e.id WHERE f.created_at >= ?

-- query: comments_listed_since
SELECT f.comment FROM fact_ratings f SEMI JOIN listed l ON f.rating_id = l.id WHERE f.created_at >= ?

-- query: step_rating_nodes_listed_since
SELECT f.tree_id, f.node_id FROM fact_step_ratings f SEMI JOIN listed l ON f.step_rating_id = l.id
WHERE f.created_at >= ?

-- query: step_rating_nodes_since
SELECT f.tree_id, f.node_id FROM fact_step_ratings f ANTI JOIN excluded e ON f.step_rating_id = e.id WHERE f.created_at >= ?

-- query: sessions_after
-- How many sessions, but the excluded, started after ?.
SELECT count(*)::BIGINT AS sessions FROM fact_sessions f ANTI JOIN excluded e ON f.session_id = e.id::UUID
WHERE f.started_at > ?
