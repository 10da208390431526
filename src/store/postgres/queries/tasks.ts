/**
 * Writes of the `tasks` table: a job's tasks are inserted, and a mutation's changed tasks
 * updated, in one statement each (arrays unnested), whatever their number.
 */
import type { Job, Task } from "../../../core/model.ts";
import { named, query } from "../db.ts";
import type { Db } from "../db.ts";
import { jsonParam } from "../rows.ts";

/**
 * $1 job id, $2 job seq, $3 priority, $4 queue, then one array per column, one element per
 * task: $5 key, $6 idx, $7 status, $8 ready, $9 run_on, $10 spec, $11 attempt, $12 retries_used,
 * $13 exit_code, $14 error, $15 output, $16 progress, $17 checkpoint, $18 started_at,
 * $19 finished_at, $20 node_id.
 */
const insertTasksQuery = named(
  "insert_tasks",
  `INSERT INTO tasks (job_id, job_seq, priority, queue, key, idx, status, ready, run_on, spec, attempt, retries_used,
     exit_code, error, output, progress, checkpoint, started_at, finished_at, node_id)
   SELECT $1, $2, $3, $4, u.* FROM unnest($5::text[], $6::int[], $7::text[], $8::boolean[], $9::text[], $10::json[], $11::int[],
     $12::int[], $13::int[], $14::text[], $15::json[], $16::json[], $17::json[], $18::timestamptz[], $19::timestamptz[], $20::text[]) AS u`,
);

export async function insertTasks(db: Db, job: Job, jobSeq: number): Promise<void> {
  const tasks = job.tasks;
  await query(db, insertTasksQuery, [
    job.id,
    jobSeq,
    job.priority,
    job.queue,
    tasks.map((t) => t.key),
    tasks.map((_, idx) => idx),
    tasks.map((t) => t.status),
    tasks.map((t) => t.ready),
    tasks.map((t) => t.runOn),
    tasks.map((t) => JSON.stringify(t.spec)),
    ...taskStateColumns(tasks),
  ]);
}

/** Columns a mutation may change besides status and readiness, as arrays: attempt, retries_used, …, node_id. */
function taskStateColumns(tasks: Task[]): unknown[][] {
  return [
    tasks.map((t) => t.attempt),
    tasks.map((t) => t.retriesUsed),
    tasks.map((t) => t.exitCode),
    tasks.map((t) => t.error),
    tasks.map((t) => jsonParam(t.output)),
    tasks.map((t) => (t.progress === null ? null : JSON.stringify(t.progress))),
    tasks.map((t) => jsonParam(t.checkpoint)),
    tasks.map((t) => t.startedAt),
    tasks.map((t) => t.finishedAt),
    tasks.map((t) => t.nodeId),
  ];
}

/**
 * $1 job id, then one element per changed task in $2 key[], $3 status[], $4 ready[],
 * $5 attempt[], $6 retries_used[], $7 exit_code[], $8 error[], $9 output[], $10 progress[],
 * $11 checkpoint[], $12 started_at[], $13 finished_at[], $14 node_id[].
 */
const updateTasksQuery = named(
  "update_tasks",
  `UPDATE tasks AS t SET status = u.status, ready = u.ready, attempt = u.attempt, retries_used = u.retries_used,
     exit_code = u.exit_code, error = u.error, output = u.output, progress = u.progress, checkpoint = u.checkpoint,
     started_at = u.started_at, finished_at = u.finished_at, node_id = u.node_id
   FROM unnest($2::text[], $3::text[], $4::boolean[], $5::int[], $6::int[], $7::int[], $8::text[], $9::json[], $10::json[],
     $11::json[], $12::timestamptz[], $13::timestamptz[], $14::text[])
     AS u(key, status, ready, attempt, retries_used, exit_code, error, output, progress, checkpoint, started_at, finished_at, node_id)
   WHERE t.job_id = $1 AND t.key = u.key`,
);

export async function updateTasks(db: Db, jobId: string, tasks: Task[]): Promise<void> {
  if (tasks.length === 0) return;
  await query(db, updateTasksQuery, [
    jobId,
    tasks.map((t) => t.key),
    tasks.map((t) => t.status),
    tasks.map((t) => t.ready),
    ...taskStateColumns(tasks),
  ]);
}
