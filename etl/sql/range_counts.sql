-- Grain: one row per element n (1-based) of starts: how many rows of table have day_column
-- in [start, start + seconds). Each count is an index-only range scan (day_index.sql): the
-- days that lost rows are narrowed to hours, then minutes, reading no heap page.
SELECT r.n, (
    SELECT count(*) FROM {table} t
    WHERE t.{day_column} >= r.start AND t.{day_column} < r.start + make_interval(secs => {seconds})
)::bigint AS rows
FROM unnest({starts}::timestamptz[]) WITH ORDINALITY AS r(start, n)
