/**
 * Writes of the `tasks` table: a transaction's changed tasks, of any number of jobs, are updated
 * in one statement (arrays unnested). (Tasks are inserted with their job: `insertJobs`.)
 */
import type { Task } from "../../../core/model.ts";
import { named, statement } from "../db.ts";
import type { Statement } from "../db.ts";
import { jsonParam } from "../rows.ts";

/** Columns a mutation may change besides status and readiness, as arrays: attempt, retries_used, …, node_id. */
export function taskStateColumns(tasks: Task[]): unknown[][] {
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
 * One element per changed task in $1 job_id[], $2 key[], $3 status[], $4 ready[], $5 attempt[],
 * $6 retries_used[], $7 exit_code[], $8 error[], $9 output[], $10 progress[], $11 checkpoint[],
 * $12 started_at[], $13 finished_at[], $14 node_id[]: the changed tasks of every job a
 * transaction changes, in one statement.
 */
const updateTasksQuery = named(
  "update_tasks_of_jobs",
  `UPDATE tasks AS t SET status = u.status, ready = u.ready, attempt = u.attempt, retries_used = u.retries_used,
     exit_code = u.exit_code, error = u.error, output = u.output, progress = u.progress, checkpoint = u.checkpoint,
     started_at = u.started_at, finished_at = u.finished_at, node_id = u.node_id
   FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::int[], $6::int[], $7::int[], $8::text[], $9::json[], $10::json[],
     $11::json[], $12::timestamptz[], $13::timestamptz[], $14::text[])
     AS u(job_id, key, status, ready, attempt, retries_used, exit_code, error, output, progress, checkpoint, started_at, finished_at, node_id)
   WHERE t.job_id = u.job_id AND t.key = u.key`,
);

/** The (job, task) pairs must be distinct (an UPDATE changes a row once). */
export function updateTasksStatement(changed: Array<{ jobId: string; task: Task }>): Statement {
  const tasks = changed.map((c) => c.task);
  return statement(updateTasksQuery, [
    changed.map((c) => c.jobId),
    tasks.map((t) => t.key),
    tasks.map((t) => t.status),
    tasks.map((t) => t.ready),
    ...taskStateColumns(tasks),
  ]);
}
