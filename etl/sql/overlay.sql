-- An overlay's own table, beside the store tables (etl/sql/store.sql) it holds a part of.
-- The API and refreshes read an overlay with its base (etl/store.py, open_current).

CREATE TABLE overlay_replaced (table_name VARCHAR NOT NULL, id VARCHAR NOT NULL);
COMMENT ON TABLE overlay_replaced IS 'Grain: one row per fact row of the base store that this overlay replaces or removes: the base row is not part of the current store; the overlay''s own row with that id, if any, is.';
COMMENT ON COLUMN overlay_replaced.table_name IS 'fact_sessions, fact_ratings or fact_step_ratings.';
COMMENT ON COLUMN overlay_replaced.id IS 'The row''s key as text (session_id, rating_id or step_rating_id).';
