-- Row versions written by transactions at or after xid, the oldest transaction still in
-- flight at the previous refresh's snapshot (its watermark): inserts and updates since
-- then, and a few rows seen before (harmless: their days are rebuilt the same way).
-- Compared through age(), relative to this snapshot, so it holds across xid wraparound
-- (frozen rows have the largest age); the caller refuses a watermark 2^31 transactions old.
age(xmin) <= age({xid}::xid)
