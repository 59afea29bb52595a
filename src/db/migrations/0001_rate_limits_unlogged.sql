-- Rate-limit counters change on every API request and are worthless after a minute: keep them out of the WAL
-- (no flush per request). A crash empties an unlogged table, which only forgets the current window's counts.
ALTER TABLE "rate_limits" SET UNLOGGED;
