/** Whole-table reads of the periodic sweeps, the recovery and the metrics. */
import { jobStatuses } from "../../../core/states.ts";
import type { JobStatus } from "../../../core/states.ts";
import type { ExpiredJob } from "../../store.ts";
import { named, rows } from "../db.ts";
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

const activeJobsQuery = named("jobs_with_active_tasks", "SELECT DISTINCT job_id FROM tasks WHERE status IN ('running', 'cancelling')");

export async function jobsWithActiveTasks(db: Db): Promise<string[]> {
  return (await rows(db, activeJobsQuery)).map((r) => r["job_id"] as string);
}

const countJobsQuery = named("count_jobs", "SELECT status, count(*) AS n FROM jobs GROUP BY status");

export async function countJobs(db: Db): Promise<Record<JobStatus, number>> {
  const counts = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
  for (const row of await rows(db, countJobsQuery)) counts[row["status"] as JobStatus] = Number(row["n"]);
  return counts;
}
