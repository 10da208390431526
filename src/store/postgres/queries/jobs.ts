/**
 * Queries of the `jobs` table. A job is read together with its tasks in one statement (a
 * `json_agg` sub-select), so a reader never sees a job and its tasks from two different
 * moments.
 */
import type { JobSnapshot } from "../../../core/draft.ts";
import type { Job } from "../../../core/model.ts";
import { terminalJobStatuses } from "../../../core/states.ts";
import type { JobFilter } from "../../store.ts";
import { firstRow, named, rows, statement } from "../db.ts";
import type { Db, Row, Statement } from "../db.ts";
import { jobDeadlines } from "../../../core/lifecycle.ts";
import { rowToAncestor, rowToCancellation, rowToChildRef, rowToJobWithTasks } from "../rows.ts";
import type { AncestorRow } from "../../../core/children.ts";
import { claimedJobIds } from "./claims.ts";
import { taskStateColumns } from "./tasks.ts";

const jobColumns = [
  "seq", "id", "name", "queue", "priority", "owner", "status", "labels", "params", "progress", "timeout_ms", "queue_timeout_ms",
  "grace_ms", "fail_fast", "attempt", "idempotency_key", "created_at", "started_at", "finished_at", "cancellation",
  "parent_job_id", "parent_task_key", "on_parent_cancel", "depth", "submitter_role", "schedule_id",
].map((c) => `j.${c}`).join(", ");

/** The job's tasks in submission order, as one `json` column. */
const tasksColumn = "(SELECT coalesce(json_agg(t ORDER BY t.idx), '[]'::json) FROM tasks t WHERE t.job_id = j.id) AS tasks";

const terminalList = [...terminalJobStatuses];

/**
 * Insert jobs with their tasks, in one statement whatever their number (arrays unnested, one
 * element per job, then one per task). $1…$21: the jobs' columns, as arrays; $22…$41: the
 * tasks' (job id, then the columns of `insertTasks` in order). A job whose owner has already
 * used its idempotency key — before, in a concurrent transaction that commits first (the
 * unique index makes the insert wait for it), or earlier in the same arrays — is not
 * inserted, nor are its tasks. Answers the ids of the jobs inserted.
 */
const insertJobsQuery = named(
  "insert_jobs",
  `WITH input AS (
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::jsonb[], $8::json[], $9::json[],
       $10::bigint[], $11::bigint[], $12::int[], $13::boolean[], $14::int[], $15::text[], $16::timestamptz[], $17::timestamptz[],
       $18::timestamptz[], $19::json[], $20::bigint[], $21::bigint[], $39::text[], $40::text[], $41::text[], $42::int[], $43::text[], $44::text[]) WITH ORDINALITY
       AS u(id, name, queue, priority, owner, status, labels, params, progress, timeout_ms, queue_timeout_ms, grace_ms, fail_fast,
         attempt, idempotency_key, created_at, started_at, finished_at, cancellation, queue_deadline_ms, run_deadline_ms,
         parent_job_id, parent_task_key, on_parent_cancel, depth, submitter_role, schedule_id, n)
   ), inserted AS (
     INSERT INTO jobs (id, name, queue, priority, owner, status, labels, params, progress, timeout_ms, queue_timeout_ms,
       grace_ms, fail_fast, attempt, idempotency_key, created_at, started_at, finished_at, cancellation, queue_deadline_ms, run_deadline_ms,
       parent_job_id, parent_task_key, on_parent_cancel, depth, submitter_role, schedule_id)
     SELECT id, name, queue, priority, owner, status, labels, params, progress, timeout_ms, queue_timeout_ms,
       grace_ms, fail_fast, attempt, idempotency_key, created_at, started_at, finished_at, cancellation, queue_deadline_ms, run_deadline_ms,
       parent_job_id, parent_task_key, on_parent_cancel, depth, submitter_role, schedule_id
     FROM input ORDER BY n
     ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id, seq, priority, queue
   ), inserted_tasks AS (
     INSERT INTO tasks (job_id, job_seq, priority, queue, key, idx, status, ready, run_on, spec, attempt, retries_used,
       exit_code, error, output, progress, checkpoint, started_at, finished_at, node_id)
     SELECT t.job_id, i.seq, i.priority, i.queue, t.key, t.idx, t.status, t.ready, t.run_on, t.spec, t.attempt, t.retries_used,
       t.exit_code, t.error, t.output, t.progress, t.checkpoint, t.started_at, t.finished_at, t.node_id
     FROM unnest($22::text[], $23::text[], $24::int[], $25::text[], $26::boolean[], $27::text[], $28::json[], $29::int[],
       $30::int[], $31::int[], $32::text[], $33::json[], $34::json[], $35::json[], $36::timestamptz[], $37::timestamptz[], $38::text[])
       AS t(job_id, key, idx, status, ready, run_on, spec, attempt, retries_used, exit_code, error, output, progress, checkpoint,
         started_at, finished_at, node_id)
     JOIN inserted i ON i.id = t.job_id
   )
   SELECT id FROM inserted`,
);

/** The statement inserting `jobs` (see `insertJobsQuery`); its answer's rows are the ids inserted. */
export function insertJobsStatement(jobs: Job[]): Statement {
  const deadlines = jobs.map(jobDeadlines);
  const tasks = jobs.flatMap((job) => job.tasks.map((task, idx) => ({ jobId: job.id, task, idx })));
  return statement(insertJobsQuery, [
    jobs.map((j) => j.id),
    jobs.map((j) => j.name),
    jobs.map((j) => j.queue),
    jobs.map((j) => j.priority),
    jobs.map((j) => j.owner),
    jobs.map((j) => j.status),
    jobs.map((j) => JSON.stringify(j.labels)),
    jobs.map((j) => JSON.stringify(j.params)),
    jobs.map((j) => JSON.stringify(j.progress)),
    jobs.map((j) => j.timeoutMs),
    jobs.map((j) => j.queueTimeoutMs),
    jobs.map((j) => j.graceMs),
    jobs.map((j) => j.failFast),
    jobs.map((j) => j.attempt),
    jobs.map((j) => j.idempotencyKey),
    jobs.map((j) => j.createdAt),
    jobs.map((j) => j.startedAt),
    jobs.map((j) => j.finishedAt),
    jobs.map((j) => (j.cancellation === null ? null : JSON.stringify(j.cancellation))),
    deadlines.map((d) => d.queueDeadlineMs),
    deadlines.map((d) => d.runDeadlineMs),
    tasks.map((t) => t.jobId),
    tasks.map((t) => t.task.key),
    tasks.map((t) => t.idx),
    tasks.map((t) => t.task.status),
    tasks.map((t) => t.task.ready),
    tasks.map((t) => t.task.runOn),
    tasks.map((t) => JSON.stringify(t.task.spec)),
    ...taskStateColumns(tasks.map((t) => t.task)),
    jobs.map((j) => j.parentJobId),
    jobs.map((j) => j.parentTaskKey),
    jobs.map((j) => j.onParentCancel),
    jobs.map((j) => j.depth),
    jobs.map((j) => j.submitterRole),
    // $44: the schedule that made each job.
    jobs.map((j) => j.scheduleId ?? null),
  ]);
}

/** $1 job id → its id and its ancestors' ids (parent links never change, so no lock is needed to follow them). */
const ancestorIdsQuery = named(
  "ancestor_ids",
  `WITH RECURSIVE chain AS (
     SELECT id, parent_job_id, 0 AS n FROM jobs WHERE id = $1
     UNION ALL
     SELECT j.id, j.parent_job_id, c.n + 1 FROM jobs j JOIN chain c ON j.id = c.parent_job_id WHERE c.n < 64
   )
   SELECT id FROM chain ORDER BY n`,
);

/**
 * $1 job ids → their rows, locked FOR SHARE in id order (the order every job lock is taken
 * in): a cancel holds its row FOR UPDATE, so this waits for a cancel in flight and then
 * reads the status it committed; a cancel after it waits for the child's insert to commit.
 */
const lockAncestorsQuery = named(
  "lock_ancestors",
  "SELECT j.id, j.status, j.on_parent_cancel, j.parent_job_id, j.depth FROM jobs j WHERE j.id = ANY($1::text[]) ORDER BY j.id FOR SHARE",
);

/** The job and its ancestors, nearest first, each row locked FOR SHARE for the rest of the transaction. */
export async function lockAncestors(db: Db, jobId: string): Promise<AncestorRow[]> {
  const ids = (await rows(db, ancestorIdsQuery, [jobId])).map((r) => r["id"] as string);
  if (ids.length === 0) return [];
  const locked = new Map((await rows(db, lockAncestorsQuery, [ids])).map((r) => [r["id"] as string, rowToAncestor(r)]));
  return ids.flatMap((id) => {
    const row = locked.get(id);
    return row === undefined ? [] : [row];
  });
}

/** $1 owners, $2 idempotency keys → the jobs (with their tasks) those pairs name. */
const jobsByIdempotencyKeysQuery = named(
  "jobs_by_idempotency_keys",
  `SELECT ${jobColumns}, ${tasksColumn} FROM jobs j JOIN unnest($1::text[], $2::text[]) AS k(owner, key)
     ON j.owner = k.owner AND j.idempotency_key = k.key`,
);

/** The jobs found by (owner, idempotency key), keyed by `owner` + NUL + key. */
export async function jobsByIdempotencyKeys(db: Db, pairs: Array<{ owner: string; key: string }>): Promise<Map<string, Job>> {
  const found = new Map<string, Job>();
  if (pairs.length === 0) return found;
  for (const row of await rows(db, jobsByIdempotencyKeysQuery, [pairs.map((p) => p.owner), pairs.map((p) => p.key)])) {
    const job = rowToJobWithTasks(row);
    found.set(`${job.owner}\u0000${job.idempotencyKey ?? ""}`, job);
  }
  return found;
}

/** $1 job id → the job with its tasks. */
const selectJobQuery = named("select_job", `SELECT ${jobColumns}, ${tasksColumn} FROM jobs j WHERE j.id = $1`);

export async function selectJob(db: Db, id: string): Promise<Job | null> {
  const row = await firstRow(db, selectJobQuery, [id]);
  return row === undefined ? null : rowToJobWithTasks(row);
}

/**
 * $1 job ids → lock every one of those rows, in id order, until the transaction ends. Every
 * write to a job, its tasks, its cancellation records and its pool leases happens under this
 * lock: it is what serialises two mutations of one job, and the claim takes the same lock
 * (SKIP LOCKED). Two bulk mutations locking overlapping sets in one order cannot deadlock;
 * ORDER BY is applied before the row locks.
 */
const lockJobsQuery = named("lock_jobs", "SELECT j.id FROM jobs j WHERE j.id = ANY($1::text[]) ORDER BY j.id FOR UPDATE");

export function lockJobsStatement(ids: string[]): Statement {
  return statement(lockJobsQuery, [ids]);
}

/**
 * $1 job ids → each job with its tasks (submission order) and its cancellation records
 * (oldest first), one row per job. Sent after `lockJobs`, as a statement of its own (the two
 * travel in one pipeline): under READ COMMITTED it then sees everything the previous holder
 * of each lock committed. (Reading them in the locking statement would not: its sub-selects
 * use the snapshot taken before it waited for the lock.)
 */
const loadJobsQuery = named(
  "load_jobs",
  `SELECT ${jobColumns}, ${tasksColumn},
     (SELECT coalesce(json_agg(c.record ORDER BY c.seq), '[]'::json) FROM cancellations c WHERE c.job_id = j.id) AS records,
     (SELECT coalesce(json_agg(json_build_object('id', k.id, 'status', k.status, 'on_parent_cancel', k.on_parent_cancel,
        'parent_task_key', k.parent_task_key) ORDER BY k.seq), '[]'::json) FROM jobs k WHERE k.parent_job_id = j.id) AS children
   FROM jobs j WHERE j.id = ANY($1::text[])`,
);

export function loadJobsStatement(ids: string[]): Statement {
  return statement(loadJobsQuery, [ids]);
}

/** `loadJobs` of the jobs a claim's candidates statement locked (their ids are in a transaction-local setting: claims.ts). */
const loadClaimedJobsQuery = named(
  "load_claimed_jobs",
  `SELECT ${jobColumns}, ${tasksColumn},
     (SELECT coalesce(json_agg(c.record ORDER BY c.seq), '[]'::json) FROM cancellations c WHERE c.job_id = j.id) AS records
   FROM jobs j WHERE j.id = ANY(${claimedJobIds()})`,
);

export function loadClaimedJobsStatement(): Statement {
  return statement(loadClaimedJobsQuery);
}

/** The snapshots in a `loadJobs` answer, by job id. */
export function snapshotsOf(found: Row[]): Map<string, JobSnapshot> {
  const out = new Map<string, JobSnapshot>();
  for (const row of found) {
    const job = rowToJobWithTasks(row);
    out.set(job.id, {
      job,
      cancellations: (row["records"] as unknown[]).map((record) => rowToCancellation({ record })),
      children: ((row["children"] as Row[] | undefined) ?? []).map(rowToChildRef),
    });
  }
  return out;
}

/**
 * One element per job in $1 id[], then $2…$9 the columns a mutation may change (status,
 * progress, attempt, started_at, finished_at, cancellation, queue_deadline_ms,
 * run_deadline_ms), as arrays: every changed job of a transaction in one statement.
 */
const updateJobsQuery = named(
  "update_jobs",
  `UPDATE jobs AS j SET status = u.status, progress = u.progress, attempt = u.attempt, started_at = u.started_at,
     finished_at = u.finished_at, cancellation = u.cancellation, queue_deadline_ms = u.queue_deadline_ms, run_deadline_ms = u.run_deadline_ms
   FROM unnest($1::text[], $2::text[], $3::json[], $4::int[], $5::timestamptz[], $6::timestamptz[], $7::json[], $8::bigint[], $9::bigint[])
     AS u(id, status, progress, attempt, started_at, finished_at, cancellation, queue_deadline_ms, run_deadline_ms)
   WHERE j.id = u.id`,
);

/** The jobs must be distinct (an UPDATE changes a row once, whichever input row it picks). */
export function updateJobsStatement(changed: Job[]): Statement {
  const deadlines = changed.map(jobDeadlines);
  return statement(updateJobsQuery, [
    changed.map((j) => j.id),
    changed.map((j) => j.status),
    changed.map((j) => JSON.stringify(j.progress)),
    changed.map((j) => j.attempt),
    changed.map((j) => j.startedAt),
    changed.map((j) => j.finishedAt),
    changed.map((j) => (j.cancellation === null ? null : JSON.stringify(j.cancellation))),
    deadlines.map((d) => d.queueDeadlineMs),
    deadlines.map((d) => d.runDeadlineMs),
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
  if (filter.scheduleId !== undefined) where.push(`j.schedule_id = ${param(filter.scheduleId)}`);
  if (filter.parentJobId !== undefined) where.push(`j.parent_job_id = ${param(filter.parentJobId)}`);
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
