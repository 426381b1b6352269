-- Grain: one row: whether a valid btree index of the table named relation leads with the
-- column named column, so that counting a time range's rows is an index range scan that
-- costs that range's rows (day_counts_by_index.sql, range_counts.sql), not the table's.
SELECT EXISTS (
    SELECT 1
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = to_regclass({relation}) AND a.attname = {column}
      AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL
) AS indexed
