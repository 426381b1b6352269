-- Grain: one row per session that rows picks: rows_started_in.sql (started in
-- [start, end), whole UTC days, read range by range: the lookback in 10-day ranges, older
-- history in 8-day chunks) or rows_changed.sql (new row versions since a watermark).
-- PostgreSQL emits a clean node list so Polars never parses dirty JSONB.
SELECT
    id::text AS session_id,
    tree_id::text AS tree_id,
    user_id::text AS user_id,
    started_at,
    completed_at,
    -- Minutes as the app computed them (numeric epoch / 60, then float8): bit-identical
    -- input for the interpolated median. NULL when not completed.
    (extract(epoch FROM completed_at - started_at) / 60)::float8 AS duration_minutes,
    outcome,
    jsonb_typeof(decisions) AS decisions_type,            -- NULL when decisions IS NULL
    CASE WHEN jsonb_typeof(decisions) = 'array'
         THEN jsonb_array_length(decisions) END AS decision_elements,
    -- Every element that is an object with a non-empty string node_id, in order. strict:
    -- lax mode would unwrap nested arrays (an object with node_id "a" in an inner array would count "a"). The CASE
    -- sits inside the call: a strict path raises on a non-array, and a guard in WHERE does
    -- not stop a parallel worker evaluating it first.
    jsonb_path_query_array(
        CASE WHEN jsonb_typeof(decisions) = 'array' THEN decisions ELSE '[]'::jsonb END,
        'strict $[*] ? (@.type() == "object" && @.node_id.type() == "string" && @.node_id != "").node_id'
    )::text AS node_ids,
    -- The drop-off node: the RAW last element of an incomplete session, when it is such
    -- an object (filtering elements above would change which one is last).
    CASE WHEN completed_at IS NULL
          AND jsonb_typeof(decisions) = 'array'
          AND jsonb_typeof(decisions -> -1) = 'object'
          AND jsonb_typeof(decisions -> -1 -> 'node_id') = 'string'
         THEN nullif(decisions -> -1 ->> 'node_id', '') END AS last_node_id
FROM sessions
WHERE {rows}
