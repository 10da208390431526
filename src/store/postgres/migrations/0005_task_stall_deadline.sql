-- 0005: the stall watchdog (DESIGN §7 `stallTimeoutMs`). stall_deadline_ms: the epoch ms after
-- which a running task that reported nothing more is stalled (its last activity plus its stall
-- timeout); stall_attempt: the attempt it was written for, so a deadline left by an earlier
-- attempt never stalls a new one. NULL: no watchdog. Stored, not kept in memory, so it
-- survives a restart and any node's sweep reads it.

ALTER TABLE tasks ADD COLUMN stall_deadline_ms bigint;
ALTER TABLE tasks ADD COLUMN stall_attempt integer;
CREATE INDEX tasks_stall_deadline ON tasks (stall_deadline_ms) WHERE status = 'running' AND stall_deadline_ms IS NOT NULL;
