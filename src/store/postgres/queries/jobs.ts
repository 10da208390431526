/**
 * Queries of the `jobs` table. A job is read together with its tasks in one statement (a
 * `json_agg` sub-select), so a reader never sees a job and its tasks from two different
 * moments.
 */
import type { CancellationRecord, Job, Task } from "../../../core/model.ts";
import { terminalJobStatuses } from "../../../core/states.ts";
import type { JobFilter } from "../../store.ts";
import { firstRow, named, query, rows } from "../db.ts";
import type { Db, Row } from "../db.ts";
import { jobDeadlines } from "../../../core/lifecycle.ts";
import { rowToCancellation, rowToJobWithTasks, rowToTask } from "../rows.ts";

const jobColumns = [
  "seq", "id", "name", "queue", "priority", "owner", "status", "labels", "params", "progress", "timeout_ms", "queue_timeout_ms",
  "grace_ms", "fail_fast", "attempt", "idempotency_key", "created_at", "started_at", "finished_at", "cancellation",
].map((c) => `j.${c}`).join(", ");

/** The job's tasks in submission order, as one `json` column. */
const tasksColumn = "(SELECT coalesce(json_agg(t ORDER BY t.idx), '[]'::json) FROM tasks t WHERE t.job_id = j.id) AS tasks";

const terminalList = [...terminalJobStatuses];

/**
 * Insert a job row. $1…$21: the job's columns. Returns its `seq`, or null when the owner has
 * already used the idempotency key — also when a concurrent insert with the same key
 * commits first: the unique index makes this insert wait for it, then do nothing.
 */
const insertJobQuery = named(
  "insert_job",
  `INSERT INTO jobs (id, name, queue, priority, owner, status, labels, params, progress, timeout_ms, queue_timeout_ms,
     grace_ms, fail_fast, attempt, idempotency_key, created_at, started_at, finished_at, cancellation, queue_deadline_ms, run_deadline_ms)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
   ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
   RETURNING seq`,
);

export async function insertJobRow(db: Db, job: Job): Promise<number | null> {
  const { queueDeadlineMs, runDeadlineMs } = jobDeadlines(job);
  const row = await firstRow(db, insertJobQuery, [
    job.id,
    job.name,
    job.queue,
    job.priority,
    job.owner,
    job.status,
    JSON.stringify(job.labels),
    JSON.stringify(job.params),
    JSON.stringify(job.progress),
    job.timeoutMs,
    job.queueTimeoutMs,
    job.graceMs,
    job.failFast,
    job.attempt,
    job.idempotencyKey,
    job.createdAt,
    job.startedAt,
    job.finishedAt,
    job.cancellation === null ? null : JSON.stringify(job.cancellation),
    queueDeadlineMs,
    runDeadlineMs,
  ]);
  return row === undefined ? null : Number(row["seq"]);
}

/** $1 owner, $2 idempotency key → the job's id. */
const jobIdByIdempotencyKeyQuery = named("job_id_by_idempotency_key", "SELECT id FROM jobs WHERE owner = $1 AND idempotency_key = $2");

export async function jobIdByIdempotencyKey(db: Db, owner: string, key: string): Promise<string | null> {
  const row = await firstRow(db, jobIdByIdempotencyKeyQuery, [owner, key]);
  return row === undefined ? null : (row["id"] as string);
}

/** $1 job id → the job with its tasks. */
const selectJobQuery = named("select_job", `SELECT ${jobColumns}, ${tasksColumn} FROM jobs j WHERE j.id = $1`);

export async function selectJob(db: Db, id: string): Promise<Job | null> {
  const row = await firstRow(db, selectJobQuery, [id]);
  return row === undefined ? null : rowToJobWithTasks(row);
}

/**
 * $1 job id → the job row, locked until the transaction ends. Every write to a job, its tasks,
 * its cancellation records and its pool leases happens under this lock: it is what
 * serialises two mutations of one job, and the claim takes the same lock (SKIP LOCKED).
 */
const lockJobQuery = named("lock_job", `SELECT ${jobColumns} FROM jobs j WHERE j.id = $1 FOR UPDATE`);

export async function lockJob(db: Db, id: string): Promise<Row | undefined> {
  return firstRow(db, lockJobQuery, [id]);
}

/**
 * $1 job ids → lock every one of those rows, in id order. Two bulk mutations locking
 * overlapping sets in one order cannot deadlock; ORDER BY is applied before the row locks.
 */
const lockJobsQuery = named("lock_jobs", "SELECT j.id FROM jobs j WHERE j.id = ANY($1::text[]) ORDER BY j.id FOR UPDATE");

export async function lockJobs(db: Db, ids: string[]): Promise<void> {
  await query(db, lockJobsQuery, [ids]);
}

/**
 * $1 job id → its tasks (submission order) and its cancellation records (oldest first). Run
 * after `lockJob`, as a statement of its own: under READ COMMITTED it then sees everything
 * the previous holder of the lock committed. (Reading them in the locking statement would
 * not: its sub-selects use the snapshot taken before it waited for the lock.)
 */
const loadJobPartsQuery = named(
  "load_job_parts",
  `SELECT (SELECT coalesce(json_agg(t ORDER BY t.idx), '[]'::json) FROM tasks t WHERE t.job_id = $1) AS tasks,
          (SELECT coalesce(json_agg(c.record ORDER BY c.seq), '[]'::json) FROM cancellations c WHERE c.job_id = $1) AS records`,
);

export async function loadJobParts(db: Db, id: string): Promise<{ tasks: Task[]; cancellations: CancellationRecord[] }> {
  const row = (await firstRow(db, loadJobPartsQuery, [id])) ?? {};
  return {
    tasks: (row["tasks"] as Row[]).map(rowToTask),
    cancellations: (row["records"] as unknown[]).map((record) => rowToCancellation({ record })),
  };
}

/** $1 id, $2…$9 the columns a mutation may change. */
const updateJobQuery = named(
  "update_job",
  `UPDATE jobs SET status = $2, progress = $3, attempt = $4, started_at = $5, finished_at = $6, cancellation = $7,
     queue_deadline_ms = $8, run_deadline_ms = $9
   WHERE id = $1`,
);

export async function updateJob(db: Db, job: Job): Promise<void> {
  const { queueDeadlineMs, runDeadlineMs } = jobDeadlines(job);
  await query(db, updateJobQuery, [
    job.id,
    job.status,
    JSON.stringify(job.progress),
    job.attempt,
    job.startedAt,
    job.finishedAt,
    job.cancellation === null ? null : JSON.stringify(job.cancellation),
    queueDeadlineMs,
    runDeadlineMs,
  ]);
}

/** The WHERE clause of a job filter, its parameters appended to `params`. */
function jobWhere(filter: JobFilter, params: unknown[]): string[] {
  const where: string[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.ids !== undefined) where.push(`j.id = ANY(${param(filter.ids)}::text[])`);
  if (filter.status !== undefined && filter.status.length > 0) where.push(`j.status = ANY(${param(filter.status)}::text[])`);
  if (filter.queue !== undefined) where.push(`j.queue = ${param(filter.queue)}`);
  if (filter.owner !== undefined) where.push(`j.owner = ${param(filter.owner)}`);
  if (filter.createdBefore !== undefined) where.push(`j.created_at < ${param(filter.createdBefore)}::timestamptz`);
  if (filter.idPrefix !== undefined) where.push(`left(j.id, ${param(filter.idPrefix.length)}::int) = ${param(filter.idPrefix)}`);
  if (filter.createdAfter !== undefined) where.push(`j.created_at >= ${param(filter.createdAfter)}::timestamptz`);
  // strpos, not LIKE: % and _ in what a person types are plain characters.
  if (filter.nameContains !== undefined) where.push(`strpos(lower(j.name), lower(${param(filter.nameContains)})) > 0`);
  // Every label must match: one containment test, served by the GIN index.
  if (filter.labels !== undefined && Object.keys(filter.labels).length > 0) where.push(`j.labels @> ${param(JSON.stringify(filter.labels))}::jsonb`);
  return where;
}

/** Jobs matching `filter` with `seq` below `beforeSeq`, newest first, with their tasks. */
export async function listJobs(db: Db, filter: JobFilter, beforeSeq: number | null, limit: number): Promise<Array<{ seq: number; job: Job }>> {
  const params: unknown[] = [];
  const where = jobWhere(filter, params);
  if (beforeSeq !== null) {
    params.push(beforeSeq);
    where.push(`j.seq < $${params.length}`);
  }
  params.push(limit);
  const found = await rows(
    db,
    `SELECT ${jobColumns}, ${tasksColumn} FROM jobs j ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY j.seq DESC LIMIT $${params.length}`,
    params,
  );
  return found.map((row) => ({ seq: Number(row["seq"]), job: rowToJobWithTasks(row) }));
}

/** Ids of non-terminal jobs matching `filter`, oldest first, and how many match: one statement, one snapshot. */
export async function findJobIds(db: Db, filter: JobFilter, limit: number): Promise<{ ids: string[]; total: number }> {
  const params: unknown[] = [terminalList];
  const where = ["j.status <> ALL($1::text[])", ...jobWhere(filter, params)].join(" AND ");
  params.push(limit);
  const row = await firstRow(
    db,
    `SELECT (SELECT count(*) FROM jobs j WHERE ${where}) AS total,
            ARRAY(SELECT j.id FROM jobs j WHERE ${where} ORDER BY j.seq LIMIT $${params.length}) AS ids`,
    params,
  );
  return { ids: (row?.["ids"] as string[] | undefined) ?? [], total: Number(row?.["total"] ?? 0) };
}
