-- 0007: schedules and paused queues (DESIGN §7). A schedule makes a job from its spec at each
-- time of its cron expression (read in its time zone). next_run_ms is the epoch ms of the next
-- firing: a node claims a firing by moving it forward with a compare-and-set (UPDATE … WHERE
-- next_run_ms = the value it read), so one firing makes one job however many nodes see it due.
-- A job keeps the schedule that made it (jobs.schedule_id), which the overlap policy reads.
-- A queue named in paused_queues dispatches nothing: the claim query passes its tasks over.

CREATE TABLE schedules (
  id text PRIMARY KEY,
  name text NOT NULL,
  owner text NOT NULL,
  cron text NOT NULL,
  time_zone text NOT NULL,
  spec jsonb NOT NULL,
  queue text NOT NULL,
  labels jsonb NOT NULL,
  overlap text NOT NULL,
  catch_up text NOT NULL,
  paused boolean NOT NULL DEFAULT false,
  paused_by text,
  paused_at timestamptz,
  next_run_ms bigint,
  last_run_at timestamptz,
  last_job_id text,
  last_outcome text,
  last_error text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX schedules_owner_name ON schedules (owner, name);
CREATE INDEX schedules_due ON schedules (next_run_ms) WHERE NOT paused AND next_run_ms IS NOT NULL;

CREATE TABLE paused_queues (
  queue text PRIMARY KEY,
  paused_by text NOT NULL,
  paused_at timestamptz NOT NULL,
  reason text
);

ALTER TABLE jobs ADD COLUMN schedule_id text;
CREATE INDEX jobs_schedule ON jobs (schedule_id, seq) WHERE schedule_id IS NOT NULL;
