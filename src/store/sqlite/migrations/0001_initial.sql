-- 0001: jobs, tasks, events, cancellations, runners, task logs, pool leases.
-- Times are ISO-8601 text; deadlines are epoch milliseconds so the timeout sweep is an index range.

CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  queue TEXT NOT NULL,
  priority INTEGER NOT NULL,
  owner TEXT NOT NULL,
  status TEXT NOT NULL,
  labels TEXT NOT NULL,
  params TEXT NOT NULL,
  progress TEXT NOT NULL,
  timeout_ms INTEGER,
  queue_timeout_ms INTEGER,
  grace_ms INTEGER NOT NULL,
  fail_fast INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  idempotency_key TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  cancellation TEXT,
  queue_deadline_ms INTEGER,
  run_deadline_ms INTEGER
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_status ON jobs (status, seq);
CREATE INDEX jobs_queue_deadline ON jobs (queue_deadline_ms) WHERE status = 'queued' AND queue_deadline_ms IS NOT NULL;
CREATE INDEX jobs_run_deadline ON jobs (run_deadline_ms) WHERE status = 'running' AND run_deadline_ms IS NOT NULL;

CREATE TABLE tasks (
  job_id TEXT NOT NULL,
  key TEXT NOT NULL,
  idx INTEGER NOT NULL,
  job_seq INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  queue TEXT NOT NULL,
  status TEXT NOT NULL,
  ready INTEGER NOT NULL,
  run_on TEXT NOT NULL,
  spec TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  retries_used INTEGER NOT NULL,
  exit_code INTEGER,
  error TEXT,
  output TEXT,
  progress TEXT,
  checkpoint TEXT,
  started_at TEXT,
  finished_at TEXT,
  node_id TEXT,
  PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
-- The claim reads the head of this partial index: its cost does not grow with the queue.
CREATE INDEX tasks_claim ON tasks (priority DESC, job_seq, idx) WHERE status = 'pending' AND ready = 1;
CREATE INDEX tasks_active ON tasks (job_id) WHERE status IN ('running', 'cancelling');

CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  task_key TEXT,
  type TEXT NOT NULL,
  time TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX events_job ON events (job_id, seq);

CREATE TABLE cancellations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  job_id TEXT,
  task_key TEXT,
  scope TEXT NOT NULL,
  parent_id TEXT,
  status TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  requested_at TEXT NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX cancellations_job ON cancellations (job_id, seq);
CREATE INDEX cancellations_parent ON cancellations (parent_id, seq) WHERE parent_id IS NOT NULL;
CREATE INDEX cancellations_open ON cancellations (seq) WHERE status = 'in_progress';
CREATE INDEX cancellations_status ON cancellations (status, seq);

CREATE TABLE runners (
  job_id TEXT NOT NULL,
  task_key TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  kind TEXT NOT NULL,
  node_id TEXT NOT NULL,
  pid INTEGER,
  pid_start_time TEXT,
  remote_id TEXT,
  work_dir TEXT,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  exit_code INTEGER,
  outcome TEXT,
  PRIMARY KEY (job_id, task_key, attempt)
) WITHOUT ROWID;
CREATE INDEX runners_live ON runners (node_id) WHERE ended_at IS NULL;

CREATE TABLE task_logs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  task_key TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  stream TEXT NOT NULL,
  line TEXT NOT NULL,
  time TEXT NOT NULL
);
CREATE INDEX task_logs_job ON task_logs (job_id, task_key, seq);

CREATE TABLE pool_leases (
  pool TEXT NOT NULL,
  job_id TEXT NOT NULL,
  task_key TEXT NOT NULL,
  PRIMARY KEY (pool, job_id, task_key)
) WITHOUT ROWID;
CREATE INDEX pool_leases_task ON pool_leases (job_id, task_key);
