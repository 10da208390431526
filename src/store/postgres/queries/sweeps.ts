/** Whole-table reads of the periodic sweeps, the recovery and the metrics. */
import { jobStatuses } from "../../../core/states.ts";
import type { JobStatus } from "../../../core/states.ts";
import type { ActiveTask, ExpiredJob, StalledTask } from "../../store.ts";
import { rowToActiveTask } from "../rows.ts";
import { named, query, rows } from "../db.ts";
import type { Db } from "../db.ts";

/** $1 now in epoch ms, $2 limit (per kind): queued jobs past their queue deadline, then running jobs past their run deadline. */
const expiredJobsQuery = named(
  "expired_jobs",
  `(SELECT id, 'queue_timeout' AS kind FROM jobs
     WHERE status = 'queued' AND queue_deadline_ms IS NOT NULL AND queue_deadline_ms <= $1 LIMIT $2)
   UNION ALL
   (SELECT id, 'timeout' AS kind FROM jobs
     WHERE status = 'running' AND run_deadline_ms IS NOT NULL AND run_deadline_ms <= $1 LIMIT $2)`,
);

export async function expiredJobs(db: Db, nowMs: number, limit: number): Promise<ExpiredJob[]> {
  return (await rows(db, expiredJobsQuery, [nowMs, limit])).map((r) => ({ jobId: r["id"] as string, kind: r["kind"] as ExpiredJob["kind"] }));
}

/** $1 job id, $2 task key, $3 attempt, $4 deadline in epoch ms. */
const setStallDeadlineQuery = named(
  "set_stall_deadline",
  `UPDATE tasks SET
     stall_deadline_ms = CASE WHEN stall_attempt = $3 THEN GREATEST(stall_deadline_ms, $4) ELSE $4 END,
     stall_attempt = $3
   WHERE job_id = $1 AND key = $2 AND attempt = $3 AND status = 'running'`,
);

export async function setStallDeadline(db: Db, jobId: string, taskKey: string, attempt: number, deadlineMs: number): Promise<void> {
  await query(db, setStallDeadlineQuery, [jobId, taskKey, attempt, deadlineMs]);
}

/** $1 now in epoch ms, $2 limit. */
const stalledTasksQuery = named(
  "stalled_tasks",
  `SELECT job_id, key FROM tasks
   WHERE status = 'running' AND stall_deadline_ms IS NOT NULL AND stall_deadline_ms <= $1 AND stall_attempt = attempt
   LIMIT $2`,
);

export async function stalledTasks(db: Db, nowMs: number, limit: number): Promise<StalledTask[]> {
  return (await rows(db, stalledTasksQuery, [nowMs, limit])).map((r) => ({ jobId: r["job_id"] as string, taskKey: r["key"] as string }));
}

const activeTasksQuery = named("active_tasks", "SELECT job_id, key, attempt, status, node_id FROM tasks WHERE status IN ('running', 'cancelling')");
/** $1 node id. */
const nodeActiveTasksQuery = named(
  "node_active_tasks",
  "SELECT job_id, key, attempt, status, node_id FROM tasks WHERE node_id = $1 AND status IN ('running', 'cancelling')",
);

export async function activeTasks(db: Db, nodeId?: string): Promise<ActiveTask[]> {
  const found = nodeId === undefined ? await rows(db, activeTasksQuery) : await rows(db, nodeActiveTasksQuery, [nodeId]);
  return found.map(rowToActiveTask);
}

const countJobsQuery = named("count_jobs", "SELECT status, count(*) AS n FROM jobs GROUP BY status");

export async function countJobs(db: Db): Promise<Record<JobStatus, number>> {
  const counts = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
  for (const row of await rows(db, countJobsQuery)) counts[row["status"] as JobStatus] = Number(row["n"]);
  return counts;
}
