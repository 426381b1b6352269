-- Grain: one row per tree. tree_structure stays JSON text: node titles are walked in Polars.
SELECT
    id::text              AS tree_id,
    account_id::text      AS account_id,
    name,
    tree_structure::text  AS tree_structure   -- NULL, or any JSON value
FROM trees
