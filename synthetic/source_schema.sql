-- The app's source tables (the columns flowmetrics reads) with the app's indexes.
-- `flowmetrics seed` and the tests create these in a database they own; against the
-- app's own database flowmetrics only reads.
CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    name text NULL,
    email text NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    is_team_admin boolean NOT NULL DEFAULT false,
    is_super_admin boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS trees (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    name text NOT NULL,
    tree_structure jsonb NULL
);
-- No foreign keys: the app deletes trees and users while their sessions remain.
CREATE TABLE IF NOT EXISTS sessions (
    id uuid PRIMARY KEY,
    tree_id uuid NOT NULL,
    user_id uuid NOT NULL,
    started_at timestamptz NOT NULL,
    completed_at timestamptz NULL,
    outcome text NULL,
    decisions jsonb NULL
);
CREATE TABLE IF NOT EXISTS session_ratings (
    id uuid PRIMARY KEY,
    session_id uuid NOT NULL,
    tree_id uuid NOT NULL,
    user_id uuid NOT NULL,
    rating integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment text NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS step_ratings (
    id uuid PRIMARY KEY,
    session_id uuid NOT NULL,
    tree_id uuid NOT NULL,
    node_id text NOT NULL,
    helpful boolean NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_sessions_started_at ON sessions (started_at);
CREATE INDEX IF NOT EXISTS ix_sessions_tree_started ON sessions (tree_id, started_at);
CREATE INDEX IF NOT EXISTS ix_sessions_user_started ON sessions (user_id, started_at);
CREATE INDEX IF NOT EXISTS ix_session_ratings_tree_created ON session_ratings (tree_id, created_at);
