/**
 * Writes of the `tasks` table: a mutation's changed tasks are updated in one statement (arrays
 * unnested), whatever their number. (Tasks are inserted with their job: `insertJobs`.)
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

export function updateTasksStatement(jobId: string, tasks: Task[]): Statement {
  return statement(updateTasksQuery, [
    jobId,
    tasks.map((t) => t.key),
    tasks.map((t) => t.status),
    tasks.map((t) => t.ready),
    ...taskStateColumns(tasks),
  ]);
}
