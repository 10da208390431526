/** Task log lines. */
import type { LogLine } from "../../../core/model.ts";
import type { NewLogLine } from "../../store.ts";
import { named, query, rows } from "../db.ts";
import type { Db } from "../db.ts";
import { rowToLog } from "../rows.ts";

/** $1 job_id[], $2 task_key[], $3 attempt[], $4 stream[], $5 line[], $6 time[]: one element per line, stored in order. */
const appendLogsQuery = named(
  "append_logs",
  `INSERT INTO task_logs (job_id, task_key, attempt, stream, line, time)
   SELECT l.job_id, l.task_key, l.attempt, l.stream, l.line, l.time
   FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::timestamptz[]) WITH ORDINALITY AS l(job_id, task_key, attempt, stream, line, time, n)
   ORDER BY l.n`,
);

/** One statement, so the lines are stored all or none. */
export async function appendLogs(db: Db, lines: NewLogLine[]): Promise<void> {
  if (lines.length === 0) return;
  await query(db, appendLogsQuery, [
    lines.map((l) => l.jobId),
    lines.map((l) => l.taskKey),
    lines.map((l) => l.attempt),
    lines.map((l) => l.stream),
    lines.map((l) => l.line),
    lines.map((l) => l.time),
  ]);
}

/** Lines of a job (optionally one task) after `afterSeq`: the first `limit`, or with `tail` the last `tail`, in order. */
export async function getLogs(
  db: Db,
  jobId: string,
  options: { taskKey?: string; afterSeq?: number; limit?: number; tail?: number },
): Promise<LogLine[]> {
  const params: unknown[] = [jobId];
  const where = ["job_id = $1"];
  if (options.taskKey !== undefined) {
    params.push(options.taskKey);
    where.push(`task_key = $${params.length}`);
  }
  if (options.afterSeq !== undefined) {
    params.push(options.afterSeq);
    where.push(`seq > $${params.length}`);
  }
  const columns = "seq, job_id, task_key, attempt, stream, line, time";
  const clause = where.join(" AND ");
  if (options.tail !== undefined) {
    params.push(options.tail);
    const found = await rows(db, `SELECT ${columns} FROM task_logs WHERE ${clause} ORDER BY seq DESC LIMIT $${params.length}`, params);
    return found.reverse().map(rowToLog);
  }
  params.push(options.limit ?? 10_000);
  return (await rows(db, `SELECT ${columns} FROM task_logs WHERE ${clause} ORDER BY seq LIMIT $${params.length}`, params)).map(rowToLog);
}
