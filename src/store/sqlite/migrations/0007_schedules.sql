-- 0007: schedules and paused queues (DESIGN §7). A schedule makes a job from its spec at each
-- time of its cron expression (read in its time zone). next_run_ms is the epoch ms of the next
-- firing: a node claims a firing by moving it forward with a compare-and-set (UPDATE … WHERE
-- next_run_ms = the value it read), so one firing makes one job however many nodes see it due.
-- A job keeps the schedule that made it (jobs.schedule_id), which the overlap policy reads.
-- A queue named in paused_queues dispatches nothing: the claim query passes its tasks over.

CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  cron TEXT NOT NULL,
  time_zone TEXT NOT NULL,
  spec TEXT NOT NULL,
  queue TEXT NOT NULL,
  labels TEXT NOT NULL,
  overlap TEXT NOT NULL,
  catch_up TEXT NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  paused_by TEXT,
  paused_at TEXT,
  next_run_ms INTEGER,
  last_run_at TEXT,
  last_job_id TEXT,
  last_outcome TEXT,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX schedules_owner_name ON schedules (owner, name);
CREATE INDEX schedules_due ON schedules (next_run_ms) WHERE paused = 0 AND next_run_ms IS NOT NULL;

CREATE TABLE paused_queues (
  queue TEXT PRIMARY KEY,
  paused_by TEXT NOT NULL,
  paused_at TEXT NOT NULL,
  reason TEXT
);

ALTER TABLE jobs ADD COLUMN schedule_id TEXT;
CREATE INDEX jobs_schedule ON jobs (schedule_id, seq) WHERE schedule_id IS NOT NULL;
