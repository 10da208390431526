-- 0001: jobs, tasks, events, cancellations, runners, task logs, pool leases.
-- The same tables as SQLite's 0001, in PostgreSQL types:
-- * times are timestamptz (read back as ISO-8601 UTC with milliseconds, as Belay writes them);
--   deadlines are epoch milliseconds (bigint) so the timeout sweep is an index range;
-- * documents Belay stores and returns as given (params, outputs, checkpoints, progress, event
--   data, cancellation records, task specs) are `json`: it keeps the exact text (key order, and
--   escapes such as \u0000 that `jsonb` refuses) and costs no parse on write; only `labels`,
--   which the job filter looks inside, is `jsonb`;
-- * sequence numbers are bigint identities with the default CACHE 1, so numbers are handed out
--   in call order (the store relies on it for the order of events: see queries/events.ts).
-- Statements are not schema-qualified: the store sets `search_path` to its schema on every
-- connection, and the migration runner sets it for the transaction.
-- No foreign keys, as in SQLite: a key check would take a share lock on the job row, which the
-- store's locking order (docs/postgres.md) does not account for.

CREATE TABLE jobs (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  name text NOT NULL,
  queue text NOT NULL,
  priority integer NOT NULL,
  owner text NOT NULL,
  status text NOT NULL,
  labels jsonb NOT NULL,
  params json NOT NULL,
  progress json NOT NULL,
  timeout_ms bigint,
  queue_timeout_ms bigint,
  grace_ms integer NOT NULL,
  fail_fast boolean NOT NULL,
  attempt integer NOT NULL,
  idempotency_key text,
  created_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  cancellation json,
  queue_deadline_ms bigint,
  run_deadline_ms bigint
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_status ON jobs (status, seq);
CREATE INDEX jobs_labels ON jobs USING gin (labels jsonb_path_ops);
CREATE INDEX jobs_queue_deadline ON jobs (queue_deadline_ms) WHERE status = 'queued' AND queue_deadline_ms IS NOT NULL;
CREATE INDEX jobs_run_deadline ON jobs (run_deadline_ms) WHERE status = 'running' AND run_deadline_ms IS NOT NULL;

CREATE TABLE tasks (
  job_id text NOT NULL,
  key text NOT NULL,
  idx integer NOT NULL,
  job_seq bigint NOT NULL,
  priority integer NOT NULL,
  queue text NOT NULL,
  status text NOT NULL,
  ready boolean NOT NULL,
  run_on text NOT NULL,
  spec json NOT NULL,
  attempt integer NOT NULL,
  retries_used integer NOT NULL,
  exit_code integer,
  error text,
  output json,
  progress json,
  checkpoint json,
  started_at timestamptz,
  finished_at timestamptz,
  node_id text,
  PRIMARY KEY (job_id, key)
);
-- The claim reads the head of this partial index: its cost does not grow with the queue.
CREATE INDEX tasks_claim ON tasks (priority DESC, job_seq, idx) WHERE status = 'pending' AND ready;
CREATE INDEX tasks_active ON tasks (job_id) WHERE status IN ('running', 'cancelling');

CREATE TABLE events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id text NOT NULL,
  task_key text,
  type text NOT NULL,
  time timestamptz NOT NULL,
  data json NOT NULL
);
CREATE INDEX events_job ON events (job_id, seq);

CREATE TABLE cancellations (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  job_id text,
  task_key text,
  scope text NOT NULL,
  parent_id text,
  status text NOT NULL,
  idempotency_key text UNIQUE,
  requested_at timestamptz NOT NULL,
  record json NOT NULL
);
CREATE INDEX cancellations_job ON cancellations (job_id, seq);
CREATE INDEX cancellations_parent ON cancellations (parent_id, seq) WHERE parent_id IS NOT NULL;
CREATE INDEX cancellations_open ON cancellations (seq) WHERE status = 'in_progress';
CREATE INDEX cancellations_status ON cancellations (status, seq);

CREATE TABLE runners (
  job_id text NOT NULL,
  task_key text NOT NULL,
  attempt integer NOT NULL,
  kind text NOT NULL,
  node_id text NOT NULL,
  pid integer,
  pid_start_time text,
  remote_id text,
  work_dir text,
  started_at timestamptz NOT NULL,
  ended_at timestamptz,
  exit_code integer,
  outcome text,
  PRIMARY KEY (job_id, task_key, attempt)
);
CREATE INDEX runners_live ON runners (node_id) WHERE ended_at IS NULL;

CREATE TABLE task_logs (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id text NOT NULL,
  task_key text NOT NULL,
  attempt integer NOT NULL,
  stream text NOT NULL,
  line text NOT NULL,
  time timestamptz NOT NULL
);
CREATE INDEX task_logs_job ON task_logs (job_id, task_key, seq);

CREATE TABLE pool_leases (
  pool text NOT NULL,
  job_id text NOT NULL,
  task_key text NOT NULL,
  PRIMARY KEY (pool, job_id, task_key)
);
CREATE INDEX pool_leases_task ON pool_leases (job_id, task_key);
