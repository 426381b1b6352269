-- The published store: one DuckDB file. This file is the data dictionary's single source:
-- every table states its grain and every column is commented. Values are raw (rates
-- unrounded, medians as float); the read API rounds.
-- Scopes: 'account' (sessions whose tree belongs to the account), 'account_engineer'
-- (the same, narrowed to one user: scope_id = account id, engineer_id = user id),
-- 'user' (sessions of one user, whatever their tree), 'tree' (sessions of one tree).

CREATE TABLE store_meta (key VARCHAR NOT NULL, value VARCHAR NOT NULL);
COMMENT ON TABLE store_meta IS 'Grain: one row per property of this store file (schema_version, storage_version, mode, as_of, built_at).';
COMMENT ON COLUMN store_meta.key IS 'Property name.';
COMMENT ON COLUMN store_meta.value IS 'Property value as text (timestamps in ISO-8601 UTC).';

CREATE TABLE users (
    user_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, name VARCHAR,
    is_active BOOLEAN NOT NULL, is_team_admin BOOLEAN NOT NULL, is_super_admin BOOLEAN NOT NULL
);
COMMENT ON TABLE users IS 'Grain: one row per user of the app (dimension; the read API authorises callers from it).';
COMMENT ON COLUMN users.user_id IS 'User id (UUID as text).';
COMMENT ON COLUMN users.account_id IS 'Account (tenant) the user belongs to (UUID as text).';
COMMENT ON COLUMN users.name IS 'Display name as the app stores it; NULL or empty is shown as Unknown.';
COMMENT ON COLUMN users.is_active IS 'False for deactivated users; they cannot call the API.';
COMMENT ON COLUMN users.is_team_admin IS 'May read the team dashboard of their account.';
COMMENT ON COLUMN users.is_super_admin IS 'May read the team dashboard and any account''s flows.';

CREATE TABLE trees (tree_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, name VARCHAR);
COMMENT ON TABLE trees IS 'Grain: one row per decision tree (flow) of the app (dimension).';
COMMENT ON COLUMN trees.tree_id IS 'Tree id (UUID as text).';
COMMENT ON COLUMN trees.account_id IS 'Account that owns the tree (UUID as text).';
COMMENT ON COLUMN trees.name IS 'Tree name as shown on the dashboards.';

CREATE TABLE tree_nodes (tree_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, node_title VARCHAR NOT NULL);
COMMENT ON TABLE tree_nodes IS 'Grain: one row per (tree, node id) found walking tree_structure depth-first; a repeated id keeps the last node walked.';
COMMENT ON COLUMN tree_nodes.tree_id IS 'Tree id (UUID as text).';
COMMENT ON COLUMN tree_nodes.node_id IS 'Node id as written in tree_structure (string ids only).';
COMMENT ON COLUMN tree_nodes.node_title IS 'The node''s title, else its question, else Unnamed (empty counts as missing).';

CREATE TABLE fact_sessions (
    session_id UUID NOT NULL, tree_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, account_id VARCHAR,
    started_at TIMESTAMPTZ NOT NULL, day DATE NOT NULL, completed_at TIMESTAMPTZ, duration_minutes DOUBLE,
    outcome VARCHAR, decision_count INTEGER NOT NULL, visit_count INTEGER NOT NULL, dropoff_node_id VARCHAR,
    rating INTEGER, rated_at TIMESTAMPTZ, decisions_type VARCHAR, node_ids VARCHAR[]
);
COMMENT ON TABLE fact_sessions IS 'Grain: one row per session of the app, for all time (the fact table: any range, exact medians and distinct counts). Ids only, no names or comments. Sessions started before the last 90 days are rebuilt nightly, newer ones hourly. Stored in started_at order.';
COMMENT ON COLUMN fact_sessions.session_id IS 'Session id, typed UUID (16 bytes rather than 36 characters of text); compare it with text (session_id = ''…'') or cast it ::VARCHAR.';
COMMENT ON COLUMN fact_sessions.tree_id IS 'Tree (flow) id; the tree may no longer exist.';
COMMENT ON COLUMN fact_sessions.user_id IS 'User id; the user may no longer exist.';
COMMENT ON COLUMN fact_sessions.account_id IS 'Account of the session''s tree; NULL when the tree is gone (team figures leave such sessions out).';
COMMENT ON COLUMN fact_sessions.started_at IS 'When the session started (UTC).';
COMMENT ON COLUMN fact_sessions.day IS 'UTC calendar day of started_at (group by this, not by a cast in your client''s time zone).';
COMMENT ON COLUMN fact_sessions.completed_at IS 'When the session was completed (UTC); NULL while incomplete.';
COMMENT ON COLUMN fact_sessions.duration_minutes IS 'completed_at - started_at in minutes, as the dashboards'' medians use it (PostgreSQL extract(epoch)/60 as float8); negative when completed_at precedes started_at; NULL when incomplete.';
COMMENT ON COLUMN fact_sessions.outcome IS 'Outcome as stored: resolved, escalated, workaround, unresolved, NULL or any other text (counted in no outcome).';
COMMENT ON COLUMN fact_sessions.decision_count IS 'Elements of the decisions array; 0 when decisions is NULL or not an array.';
COMMENT ON COLUMN fact_sessions.visit_count IS 'Decision elements that are objects with a non-empty string node_id (node visits; repeats count).';
COMMENT ON COLUMN fact_sessions.dropoff_node_id IS 'For an incomplete session, the node of its raw last decision element when that element is such an object; NULL otherwise.';
COMMENT ON COLUMN fact_sessions.rating IS 'The session''s rating 1..5 (its newest when rated twice); NULL when not rated.';
COMMENT ON COLUMN fact_sessions.rated_at IS 'When that rating was created (UTC); NULL when not rated.';
COMMENT ON COLUMN fact_sessions.decisions_type IS 'jsonb_typeof(decisions): array, object, string, ...; NULL when decisions is NULL.';
COMMENT ON COLUMN fact_sessions.node_ids IS 'The node ids of the visits, in decision order (the elements counted in visit_count); with the other columns it lets a refresh rebuild any day without reading the source again.';

CREATE TABLE fact_ratings (
    rating_id VARCHAR NOT NULL, session_id VARCHAR NOT NULL, tree_id VARCHAR NOT NULL, rating INTEGER NOT NULL,
    comment VARCHAR, created_at TIMESTAMPTZ NOT NULL, day DATE NOT NULL
);
COMMENT ON TABLE fact_ratings IS 'Grain: one row per session rating (CSAT), of any age. The author is not kept.';
COMMENT ON COLUMN fact_ratings.rating_id IS 'Rating id (UUID as text).';
COMMENT ON COLUMN fact_ratings.session_id IS 'The rated session (it may no longer exist).';
COMMENT ON COLUMN fact_ratings.tree_id IS 'The rating''s own tree id (CSAT is per this tree, not the session''s).';
COMMENT ON COLUMN fact_ratings.rating IS 'Rating 1..5.';
COMMENT ON COLUMN fact_ratings.comment IS 'Free-text comment as written; NULL or empty when none. May name people: handle as personal data.';
COMMENT ON COLUMN fact_ratings.created_at IS 'When the rating was created (UTC): CSAT windows filter on this.';
COMMENT ON COLUMN fact_ratings.day IS 'UTC calendar day of created_at.';

CREATE TABLE fact_step_ratings (
    step_rating_id VARCHAR NOT NULL, tree_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, helpful BOOLEAN,
    created_at TIMESTAMPTZ NOT NULL, day DATE NOT NULL
);
COMMENT ON TABLE fact_step_ratings IS 'Grain: one row per step rating ("was this step helpful?"), of any age; empty when the app has no step_ratings table. The author is not kept.';
COMMENT ON COLUMN fact_step_ratings.step_rating_id IS 'Step rating id (UUID as text).';
COMMENT ON COLUMN fact_step_ratings.tree_id IS 'Tree id of the rating.';
COMMENT ON COLUMN fact_step_ratings.node_id IS 'Node id as the app stored it.';
COMMENT ON COLUMN fact_step_ratings.helpful IS 'True: helpful; false: not helpful; NULL counts as neither.';
COMMENT ON COLUMN fact_step_ratings.created_at IS 'When the step rating was created (UTC): helpful counts filter on this.';
COMMENT ON COLUMN fact_step_ratings.day IS 'UTC calendar day of created_at.';

CREATE TABLE window_summary (
    period VARCHAR NOT NULL, scope VARCHAR NOT NULL, scope_id VARCHAR NOT NULL, engineer_id VARCHAR NOT NULL,
    total_sessions BIGINT NOT NULL, completed_sessions BIGINT NOT NULL, completion_rate DOUBLE NOT NULL,
    median_duration_minutes DOUBLE, active_engineers BIGINT NOT NULL,
    resolved BIGINT NOT NULL, escalated BIGINT NOT NULL, workaround BIGINT NOT NULL, unresolved BIGINT NOT NULL
);
COMMENT ON TABLE window_summary IS 'Grain: one row per (period, scope, scope_id, engineer_id) with at least one session in the window (started_at >= as_of - period). Refreshed hourly.';
COMMENT ON COLUMN window_summary.period IS 'Window: 7d, 30d or 90d before as_of.';
COMMENT ON COLUMN window_summary.scope IS 'account, account_engineer, user or tree.';
COMMENT ON COLUMN window_summary.scope_id IS 'Account id, user id or tree id, by scope.';
COMMENT ON COLUMN window_summary.engineer_id IS 'User id for scope account_engineer; empty string otherwise.';
COMMENT ON COLUMN window_summary.total_sessions IS 'Sessions started in the window.';
COMMENT ON COLUMN window_summary.completed_sessions IS 'Of those, sessions with completed_at set.';
COMMENT ON COLUMN window_summary.completion_rate IS 'completed_sessions / total_sessions, 0..1, unrounded.';
COMMENT ON COLUMN window_summary.median_duration_minutes IS 'Interpolated median (percentile_cont 0.5) of completed_at - started_at in minutes over completed sessions; NULL when none.';
COMMENT ON COLUMN window_summary.active_engineers IS 'Distinct user ids among the sessions.';
COMMENT ON COLUMN window_summary.resolved IS 'Completed sessions with outcome resolved.';
COMMENT ON COLUMN window_summary.escalated IS 'Completed sessions with outcome escalated.';
COMMENT ON COLUMN window_summary.workaround IS 'Completed sessions with outcome workaround.';
COMMENT ON COLUMN window_summary.unresolved IS 'Completed sessions with outcome unresolved.';

CREATE TABLE window_time_series (
    period VARCHAR NOT NULL, scope VARCHAR NOT NULL, scope_id VARCHAR NOT NULL, engineer_id VARCHAR NOT NULL,
    day DATE NOT NULL, sessions BIGINT NOT NULL,
    resolved BIGINT NOT NULL, escalated BIGINT NOT NULL, workaround BIGINT NOT NULL, unresolved BIGINT NOT NULL
);
COMMENT ON TABLE window_time_series IS 'Grain: one row per (period, scope, scope_id, engineer_id, UTC day of started_at) with sessions in the window; the first day may be partial. Refreshed hourly.';
COMMENT ON COLUMN window_time_series.period IS 'Window: 7d, 30d or 90d before as_of.';
COMMENT ON COLUMN window_time_series.scope IS 'account, account_engineer, user or tree.';
COMMENT ON COLUMN window_time_series.scope_id IS 'Account id, user id or tree id, by scope.';
COMMENT ON COLUMN window_time_series.engineer_id IS 'User id for scope account_engineer; empty string otherwise.';
COMMENT ON COLUMN window_time_series.day IS 'UTC calendar day of started_at.';
COMMENT ON COLUMN window_time_series.sessions IS 'Sessions started that day (within the window).';
COMMENT ON COLUMN window_time_series.resolved IS 'Of those, outcome resolved (completed or not).';
COMMENT ON COLUMN window_time_series.escalated IS 'Of those, outcome escalated (completed or not).';
COMMENT ON COLUMN window_time_series.workaround IS 'Of those, outcome workaround (completed or not).';
COMMENT ON COLUMN window_time_series.unresolved IS 'Of those, outcome unresolved (completed or not).';

CREATE TABLE window_top_flows (
    period VARCHAR NOT NULL, scope VARCHAR NOT NULL, scope_id VARCHAR NOT NULL, rank INTEGER NOT NULL,
    tree_id VARCHAR NOT NULL, tree_name VARCHAR NOT NULL, sessions BIGINT NOT NULL, completed_sessions BIGINT NOT NULL,
    completion_rate DOUBLE NOT NULL, median_duration_minutes DOUBLE
);
COMMENT ON TABLE window_top_flows IS 'Grain: one row per (period, scope, scope_id, rank), rank 1..10; scopes account and user; only sessions whose tree exists. Order: sessions desc, tree_name, tree_id.';
COMMENT ON COLUMN window_top_flows.period IS 'Window: 7d, 30d or 90d before as_of.';
COMMENT ON COLUMN window_top_flows.scope IS 'account or user.';
COMMENT ON COLUMN window_top_flows.scope_id IS 'Account id or user id.';
COMMENT ON COLUMN window_top_flows.rank IS 'Position 1..10.';
COMMENT ON COLUMN window_top_flows.tree_id IS 'Tree id.';
COMMENT ON COLUMN window_top_flows.tree_name IS 'Tree name (the API''s top_flows[].name).';
COMMENT ON COLUMN window_top_flows.sessions IS 'Sessions of this tree in the scope and window.';
COMMENT ON COLUMN window_top_flows.completed_sessions IS 'Of those, completed.';
COMMENT ON COLUMN window_top_flows.completion_rate IS 'completed_sessions / sessions, 0..1, unrounded.';
COMMENT ON COLUMN window_top_flows.median_duration_minutes IS 'Interpolated median duration in minutes of the completed ones; NULL when none.';

CREATE TABLE window_top_engineers (
    period VARCHAR NOT NULL, scope VARCHAR NOT NULL, scope_id VARCHAR NOT NULL, rank INTEGER NOT NULL,
    user_id VARCHAR NOT NULL, name VARCHAR NOT NULL, sessions BIGINT NOT NULL, completed_sessions BIGINT NOT NULL,
    completion_rate DOUBLE NOT NULL, median_duration_minutes DOUBLE
);
COMMENT ON TABLE window_top_engineers IS 'Grain: one row per (period, account, rank), rank 1..10; only sessions whose user exists. Order: sessions desc, name, user_id.';
COMMENT ON COLUMN window_top_engineers.period IS 'Window: 7d, 30d or 90d before as_of.';
COMMENT ON COLUMN window_top_engineers.scope IS 'account.';
COMMENT ON COLUMN window_top_engineers.scope_id IS 'Account id.';
COMMENT ON COLUMN window_top_engineers.rank IS 'Position 1..10.';
COMMENT ON COLUMN window_top_engineers.user_id IS 'User id.';
COMMENT ON COLUMN window_top_engineers.name IS 'User name as shown: Unknown when NULL or empty.';
COMMENT ON COLUMN window_top_engineers.sessions IS 'Sessions of this user on the account''s trees in the window.';
COMMENT ON COLUMN window_top_engineers.completed_sessions IS 'Of those, completed.';
COMMENT ON COLUMN window_top_engineers.completion_rate IS 'completed_sessions / sessions, 0..1, unrounded.';
COMMENT ON COLUMN window_top_engineers.median_duration_minutes IS 'Interpolated median duration in minutes of the completed ones; NULL when none.';

CREATE TABLE window_step_feedback (
    period VARCHAR NOT NULL, tree_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, node_title VARCHAR NOT NULL,
    visits BIGINT NOT NULL, dropoffs BIGINT NOT NULL, dropoff_rate DOUBLE NOT NULL,
    helpful_yes BIGINT NOT NULL, helpful_no BIGINT NOT NULL, helpful_rate DOUBLE NOT NULL
);
COMMENT ON TABLE window_step_feedback IS 'Grain: one row per (period, tree, node visited in the window). The API orders a tree''s rows by the rounded dropoff_rate desc, then node_id.';
COMMENT ON COLUMN window_step_feedback.period IS 'Window: 7d, 30d or 90d before as_of.';
COMMENT ON COLUMN window_step_feedback.tree_id IS 'Tree id.';
COMMENT ON COLUMN window_step_feedback.node_id IS 'Node id named by decisions (a non-empty string).';
COMMENT ON COLUMN window_step_feedback.node_title IS 'Title from tree_structure; Unknown Step when the node is not in the tree.';
COMMENT ON COLUMN window_step_feedback.visits IS 'Decision elements naming this node in the window''s sessions (repeats count); the API''s visit_count.';
COMMENT ON COLUMN window_step_feedback.dropoffs IS 'Incomplete sessions whose last decision element names this node; the API''s dropoff_count.';
COMMENT ON COLUMN window_step_feedback.dropoff_rate IS 'dropoffs / visits, 0..1, unrounded.';
COMMENT ON COLUMN window_step_feedback.helpful_yes IS 'Step ratings of this node marked helpful, created in the window.';
COMMENT ON COLUMN window_step_feedback.helpful_no IS 'Step ratings of this node marked not helpful, created in the window.';
COMMENT ON COLUMN window_step_feedback.helpful_rate IS 'helpful_yes / (helpful_yes + helpful_no), 0 when none, unrounded.';

CREATE TABLE window_ratings (period VARCHAR NOT NULL, tree_id VARCHAR NOT NULL, avg_csat DOUBLE, total_ratings BIGINT NOT NULL);
COMMENT ON TABLE window_ratings IS 'Grain: one row per (period, tree) with ratings created in the window.';
COMMENT ON COLUMN window_ratings.period IS 'Window: 7d, 30d or 90d before as_of.';
COMMENT ON COLUMN window_ratings.tree_id IS 'Tree id.';
COMMENT ON COLUMN window_ratings.avg_csat IS 'Mean session rating (1..5), unrounded.';
COMMENT ON COLUMN window_ratings.total_ratings IS 'Number of session ratings.';

CREATE TABLE recent_comments (
    tree_id VARCHAR NOT NULL, rank INTEGER NOT NULL, rating_id VARCHAR NOT NULL, rating INTEGER NOT NULL,
    comment VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE recent_comments IS 'Grain: one row per (tree, rank), rank 1..10: the tree''s newest ratings with a non-empty comment, any age (ties: rating id desc). The author is never stored.';
COMMENT ON COLUMN recent_comments.tree_id IS 'Tree id.';
COMMENT ON COLUMN recent_comments.rank IS 'Position 1..10, newest first.';
COMMENT ON COLUMN recent_comments.rating_id IS 'Session rating id (as text).';
COMMENT ON COLUMN recent_comments.rating IS 'Rating 1..5.';
COMMENT ON COLUMN recent_comments.comment IS 'Comment text as written.';
COMMENT ON COLUMN recent_comments.created_at IS 'When the rating was created (UTC).';

CREATE TABLE daily_sessions (
    scope VARCHAR NOT NULL, scope_id VARCHAR NOT NULL, day DATE NOT NULL,
    sessions BIGINT NOT NULL, completed_sessions BIGINT NOT NULL, active_engineers BIGINT NOT NULL,
    median_duration_minutes DOUBLE,
    resolved BIGINT NOT NULL, escalated BIGINT NOT NULL, workaround BIGINT NOT NULL, unresolved BIGINT NOT NULL
);
COMMENT ON TABLE daily_sessions IS 'Grain: one row per (scope, scope_id, UTC day of started_at) with sessions, for all time; scopes account, user, tree. Days older than 90 days are rebuilt nightly, newer ones hourly.';
COMMENT ON COLUMN daily_sessions.scope IS 'account, user or tree.';
COMMENT ON COLUMN daily_sessions.scope_id IS 'Account id, user id or tree id, by scope.';
COMMENT ON COLUMN daily_sessions.day IS 'UTC calendar day of started_at.';
COMMENT ON COLUMN daily_sessions.sessions IS 'Sessions started that day.';
COMMENT ON COLUMN daily_sessions.completed_sessions IS 'Of those, completed (completed_at set).';
COMMENT ON COLUMN daily_sessions.active_engineers IS 'Distinct users among those sessions.';
COMMENT ON COLUMN daily_sessions.median_duration_minutes IS 'Interpolated median duration in minutes of the completed ones; NULL when none.';
COMMENT ON COLUMN daily_sessions.resolved IS 'Sessions with outcome resolved (completed or not).';
COMMENT ON COLUMN daily_sessions.escalated IS 'Sessions with outcome escalated (completed or not).';
COMMENT ON COLUMN daily_sessions.workaround IS 'Sessions with outcome workaround (completed or not).';
COMMENT ON COLUMN daily_sessions.unresolved IS 'Sessions with outcome unresolved (completed or not).';

CREATE TABLE daily_ratings (tree_id VARCHAR NOT NULL, day DATE NOT NULL, ratings BIGINT NOT NULL, rating_sum BIGINT NOT NULL);
COMMENT ON TABLE daily_ratings IS 'Grain: one row per (tree, UTC day of created_at) with session ratings, for all time (rebuilt nightly).';
COMMENT ON COLUMN daily_ratings.tree_id IS 'Tree id.';
COMMENT ON COLUMN daily_ratings.day IS 'UTC calendar day of created_at.';
COMMENT ON COLUMN daily_ratings.ratings IS 'Number of ratings.';
COMMENT ON COLUMN daily_ratings.rating_sum IS 'Sum of ratings (divide by ratings for the mean).';

CREATE TABLE daily_step_feedback (
    tree_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, day DATE NOT NULL,
    visits BIGINT NOT NULL, dropoffs BIGINT NOT NULL, helpful_yes BIGINT NOT NULL, helpful_no BIGINT NOT NULL
);
COMMENT ON TABLE daily_step_feedback IS 'Grain: one row per (tree, node, UTC day) with visits, drop-offs or step ratings that day, for all time: every column adds up over any range of days. Days older than 90 days are rebuilt nightly, newer ones hourly.';
COMMENT ON COLUMN daily_step_feedback.tree_id IS 'Tree id.';
COMMENT ON COLUMN daily_step_feedback.node_id IS 'Node id named by decisions or by step ratings.';
COMMENT ON COLUMN daily_step_feedback.day IS 'UTC calendar day: of started_at for visits and dropoffs, of the step rating''s created_at for helpful_yes and helpful_no.';
COMMENT ON COLUMN daily_step_feedback.visits IS 'Decision elements naming this node in sessions started that day (repeats count).';
COMMENT ON COLUMN daily_step_feedback.dropoffs IS 'Incomplete sessions started that day whose last decision element names this node.';
COMMENT ON COLUMN daily_step_feedback.helpful_yes IS 'Step ratings of this node marked helpful, created that day.';
COMMENT ON COLUMN daily_step_feedback.helpful_no IS 'Step ratings of this node marked not helpful, created that day.';

CREATE TABLE refresh_runs (
    run_id VARCHAR NOT NULL, mode VARCHAR NOT NULL, trigger VARCHAR NOT NULL, as_of TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, status VARCHAR NOT NULL, failed_step VARCHAR, error VARCHAR,
    extract_rows BIGINT, extract_seconds DOUBLE, transform_rows BIGINT, transform_seconds DOUBLE,
    publish_rows BIGINT, publish_seconds DOUBLE, attempts INTEGER, lock_wait_seconds DOUBLE,
    scheduled_for TIMESTAMPTZ, fallback VARCHAR, drift_rows VARCHAR, backfill BOOLEAN
);
COMMENT ON TABLE refresh_runs IS 'Grain: one row per refresh run, successful or not, up to and including the run that built this file.';
COMMENT ON COLUMN refresh_runs.run_id IS 'Unique run id.';
COMMENT ON COLUMN refresh_runs.mode IS 'incremental, hourly or nightly (the mode asked for; fallback says when it recomputed).';
COMMENT ON COLUMN refresh_runs.trigger IS 'manual (CLI) or schedule.';
COMMENT ON COLUMN refresh_runs.as_of IS 'Reference time of the run (windows end here): when its source snapshot was taken, or the --as-of of a backfill.';
COMMENT ON COLUMN refresh_runs.started_at IS 'Wall-clock start (UTC), once the refresh lock was held: waiting for it is not run time.';
COMMENT ON COLUMN refresh_runs.finished_at IS 'Wall-clock end (UTC).';
COMMENT ON COLUMN refresh_runs.status IS 'success, failed or skipped.';
COMMENT ON COLUMN refresh_runs.failed_step IS 'Step that failed (lock, connect, extract, transform, audit, publish).';
COMMENT ON COLUMN refresh_runs.error IS 'Error message of a failed run.';
COMMENT ON COLUMN refresh_runs.extract_rows IS 'Rows read from PostgreSQL.';
COMMENT ON COLUMN refresh_runs.extract_seconds IS 'Seconds spent extracting.';
COMMENT ON COLUMN refresh_runs.transform_rows IS 'Rows produced by the transforms.';
COMMENT ON COLUMN refresh_runs.transform_seconds IS 'Seconds spent transforming.';
COMMENT ON COLUMN refresh_runs.publish_rows IS 'Rows written to the store.';
COMMENT ON COLUMN refresh_runs.publish_seconds IS 'Seconds spent writing, auditing and publishing.';
COMMENT ON COLUMN refresh_runs.attempts IS 'Attempts made (retries after transient errors + 1).';
COMMENT ON COLUMN refresh_runs.lock_wait_seconds IS 'Seconds spent waiting for the refresh lock (--wait) before started_at; NULL in runs recorded before it was kept.';
COMMENT ON COLUMN refresh_runs.scheduled_for IS 'The schedule''s slot the run was started for (it names the run; as_of is when its reads began); NULL for a manual run.';
COMMENT ON COLUMN refresh_runs.fallback IS 'Why an incremental, hourly or nightly run recomputed from the source instead of reading only what changed (no store, another schema, a damaged file, an unknown watermark, a rewritten table); NULL when it did not.';
COMMENT ON COLUMN refresh_runs.backfill IS 'True for an explicit --as-of before the published store''s: the served as_of went back on purpose.';
COMMENT ON COLUMN refresh_runs.drift_rows IS 'Hourly runs: JSON object of rows per table that differ between the source and what the incremental refreshes hold (0 everywhere when they agree); NULL for other runs.';

CREATE TABLE data_quality (check_name VARCHAR NOT NULL, rows BIGINT NOT NULL, rule VARCHAR NOT NULL);
COMMENT ON TABLE data_quality IS 'Grain: one row per dirty-input rule, counted over the rows this refresh read.';
COMMENT ON COLUMN data_quality.check_name IS 'Short name of the rule.';
COMMENT ON COLUMN data_quality.rows IS 'Source rows the rule applied to.';
COMMENT ON COLUMN data_quality.rule IS 'What was seen and what the ETL did with it.';
