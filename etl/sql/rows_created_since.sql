-- Rows created at or after since (the lookback).
created_at >= {since}
