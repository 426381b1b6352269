-- Rows created in [start, end) (either bound may be open: -infinity, infinity).
created_at >= {start} AND created_at < {end}
