-- 0020: the shared counters move off MEMORY (docs/scale-out.md "Database"). Galera replicates
-- InnoDB only: a MEMORY table is one node's, so a per-key limit counted on it was per node and
-- lost with the node. As InnoDB the windows are one set of rows for every API host, written by
-- one autocommit INSERT ... ON DUPLICATE KEY UPDATE per request (fcgi/dispatch.c), and survive a
-- node loss. The index on window_start lets housekeeping delete old windows in small batches
-- (workers/housekeeping.c) instead of scanning the whole table under one statement's locks.
-- Existing rows are kept (the current windows stay exact through the change).
ALTER TABLE rate_windows ENGINE=InnoDB, ADD KEY ix_rate_windows_start (window_start);
ALTER TABLE auth_failures ENGINE=InnoDB, ADD KEY ix_auth_failures_start (window_start);
