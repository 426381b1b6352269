-- Grain: one row per user. The users dimension (the API authorises callers from it).
SELECT
    id::text          AS user_id,        -- UUID as text (ADBC would give Binary(16))
    account_id::text  AS account_id,
    name,                                -- NULL or empty allowed; shown as Unknown
    is_active,
    is_team_admin,
    is_super_admin
FROM users
