-- Rows created before end (the history before the lookback).
created_at < {end}
