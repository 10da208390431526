/** Runners: one row per task attempt, for orphan detection and the history of attempts. */
import type { Db } from "../db.ts";
import { named, query, rows } from "../db.ts";
import { rowToRunner } from "../rows.ts";
import type { RunnerRecord } from "../../store.ts";

const runnerColumns = "job_id, task_key, attempt, kind, node_id, pid, pid_start_time, remote_id, work_dir, started_at, ended_at, exit_code, outcome";

/** $1…$13: the runner's columns. A second start of the same attempt replaces the row (as SQLite's INSERT OR REPLACE). */
const insertRunnerQuery = named(
  "insert_runner",
  `INSERT INTO runners (${runnerColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
   ON CONFLICT (job_id, task_key, attempt) DO UPDATE SET kind = excluded.kind, node_id = excluded.node_id, pid = excluded.pid,
     pid_start_time = excluded.pid_start_time, remote_id = excluded.remote_id, work_dir = excluded.work_dir,
     started_at = excluded.started_at, ended_at = excluded.ended_at, exit_code = excluded.exit_code, outcome = excluded.outcome`,
);

export async function insertRunner(db: Db, r: RunnerRecord): Promise<void> {
  await query(db, insertRunnerQuery, [
    r.jobId, r.taskKey, r.attempt, r.kind, r.nodeId, r.pid, r.pidStartTime, r.remoteId, r.workDir, r.startedAt, r.endedAt, r.exitCode, r.outcome,
  ]);
}

/** $1 job id, $2 task key, $3 attempt, $4 ended_at, $5 exit_code, $6 outcome. */
const endRunnerQuery = named(
  "end_runner",
  "UPDATE runners SET ended_at = $4, exit_code = $5, outcome = $6 WHERE job_id = $1 AND task_key = $2 AND attempt = $3",
);

export async function endRunner(
  db: Db,
  jobId: string,
  taskKey: string,
  attempt: number,
  end: { endedAt: string; exitCode: number | null; outcome: string },
): Promise<void> {
  await query(db, endRunnerQuery, [jobId, taskKey, attempt, end.endedAt, end.exitCode, end.outcome]);
}

const liveRunnersQuery = named("live_runners", `SELECT ${runnerColumns} FROM runners WHERE ended_at IS NULL`);
/** $1 node id. */
const liveNodeRunnersQuery = named("live_node_runners", `SELECT ${runnerColumns} FROM runners WHERE ended_at IS NULL AND node_id = $1`);

export async function liveRunners(db: Db, nodeId?: string): Promise<RunnerRecord[]> {
  const found = nodeId === undefined ? await rows(db, liveRunnersQuery) : await rows(db, liveNodeRunnersQuery, [nodeId]);
  return found.map(rowToRunner);
}

/** $1 job id. */
const jobRunnersQuery = named("job_runners", `SELECT ${runnerColumns} FROM runners WHERE job_id = $1 ORDER BY started_at, task_key, attempt`);

export async function jobRunners(db: Db, jobId: string): Promise<RunnerRecord[]> {
  return (await rows(db, jobRunnersQuery, [jobId])).map(rowToRunner);
}
