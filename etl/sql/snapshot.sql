-- Grain: one row, read first in the refresh's REPEATABLE READ transaction: it takes the
-- snapshot every read of the refresh shares (a second connection joins it by snapshot_id).
-- watermark: the oldest transaction still in flight (64-bit); a transaction that commits
-- after this snapshot has an xid at or above it, so the next refresh reads its rows.
-- identity: which database this is (a store built from another one vouches for nothing).
-- filenodes: a table rewritten since (VACUUM FULL, CLUSTER, TRUNCATE, a restore) has a new
-- one, and its rows all look new: the next refresh recomputes.
SELECT
    pg_export_snapshot() AS snapshot_id,
    pg_snapshot_xmin(pg_current_snapshot())::text AS watermark,
    clock_timestamp() AS taken_at,
    concat_ws(
        '/',
        CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
             THEN (SELECT system_identifier::text FROM pg_control_system()) END,
        (SELECT oid::text FROM pg_database WHERE datname = current_database()),
        current_database()
    ) AS identity,
    concat_ws(
        ',',
        'sessions:' || pg_relation_filenode('sessions'),
        'session_ratings:' || pg_relation_filenode('session_ratings'),
        'step_ratings:' || coalesce(pg_relation_filenode(to_regclass('step_ratings'))::text, 'absent')
    ) AS filenodes
