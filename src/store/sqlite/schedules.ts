/**
 * SQLite: the schedules and paused queues of DESIGN §7 (the Store methods of that section).
 * One engine uses a SQLite store, but the firing is still claimed with a compare-and-set on
 * `next_run_ms`, as on PostgreSQL, so the rule is the same in both dialects.
 */
import type { SQLInputValue, SQLOutputValue, StatementResultingChanges } from "node:sqlite";
import { BelayError } from "../../core/errors.ts";
import type { Json } from "../../core/model.ts";
import type { Schedule } from "../../core/schedules.ts";
import type { QueuePause, ScheduleRun, StoredSchedule } from "../store.ts";

type Row = Record<string, SQLOutputValue>;

export interface SqlRunner {
  run(...params: SQLInputValue[]): StatementResultingChanges;
  get(...params: SQLInputValue[]): Row | undefined;
  all(...params: SQLInputValue[]): Row[];
}

const nullableText = (value: SQLOutputValue | undefined): string | null => (value === null || value === undefined ? null : String(value));

function rowToSchedule(row: Row): StoredSchedule {
  const nextRunMs = row["next_run_ms"] === null ? null : Number(row["next_run_ms"]);
  return {
    id: String(row["id"]),
    name: String(row["name"]),
    owner: String(row["owner"]),
    cron: String(row["cron"]),
    timeZone: String(row["time_zone"]),
    job: JSON.parse(String(row["spec"])) as Json,
    queue: String(row["queue"]),
    labels: JSON.parse(String(row["labels"])) as Record<string, string>,
    overlap: String(row["overlap"]) as Schedule["overlap"],
    catchUp: String(row["catch_up"]) as Schedule["catchUp"],
    paused: Number(row["paused"]) === 1,
    pausedBy: nullableText(row["paused_by"]),
    pausedAt: nullableText(row["paused_at"]),
    nextRunMs,
    nextRunAt: nextRunMs === null ? null : new Date(nextRunMs).toISOString(),
    lastRunAt: nullableText(row["last_run_at"]),
    lastJobId: nullableText(row["last_job_id"]),
    lastOutcome: nullableText(row["last_outcome"]) as Schedule["lastOutcome"],
    lastError: nullableText(row["last_error"]),
    createdAt: String(row["created_at"]),
    updatedAt: String(row["updated_at"]),
  };
}

export class SqliteSchedules {
  private readonly sql: (text: string) => SqlRunner;

  constructor(sql: (text: string) => SqlRunner) {
    this.sql = sql;
  }

  insert(s: StoredSchedule): void {
    const taken = this.sql("SELECT id FROM schedules WHERE owner = ? AND name = ?").get(s.owner, s.name);
    if (taken !== undefined) {
      throw new BelayError("SCHEDULE_NAME_TAKEN", `${s.owner} already has a schedule named "${s.name}" (${String(taken["id"])})`, {
        details: { field: "name", scheduleId: String(taken["id"]) },
      });
    }
    this.sql(
      `INSERT INTO schedules (id, name, owner, cron, time_zone, spec, queue, labels, overlap, catch_up, paused, paused_by, paused_at,
        next_run_ms, last_run_at, last_job_id, last_outcome, last_error, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      s.id, s.name, s.owner, s.cron, s.timeZone, JSON.stringify(s.job), s.queue, JSON.stringify(s.labels), s.overlap, s.catchUp,
      s.paused ? 1 : 0, s.pausedBy, s.pausedAt, s.nextRunMs, s.lastRunAt, s.lastJobId, s.lastOutcome, s.lastError, s.createdAt, s.updatedAt,
    );
  }

  get(idOrName: string, owner?: string): StoredSchedule | null {
    const row = this.sql("SELECT * FROM schedules WHERE id = ?").get(idOrName) ??
      (owner === undefined ? undefined : this.sql("SELECT * FROM schedules WHERE owner = ? AND name = ?").get(owner, idOrName));
    return row === undefined ? null : rowToSchedule(row);
  }

  list(): StoredSchedule[] {
    return this.sql("SELECT * FROM schedules ORDER BY name, id").all().map(rowToSchedule);
  }

  setPaused(id: string, paused: { by: string; at: string } | null, nextRunMs: number | null, now: string): boolean {
    const result = this.sql("UPDATE schedules SET paused = ?, paused_by = ?, paused_at = ?, next_run_ms = ?, updated_at = ? WHERE id = ?").run(
      paused === null ? 0 : 1, paused?.by ?? null, paused?.at ?? null, nextRunMs, now, id,
    );
    return Number(result.changes) > 0;
  }

  delete(id: string): boolean {
    return Number(this.sql("DELETE FROM schedules WHERE id = ?").run(id).changes) > 0;
  }

  due(nowMs: number, limit: number): StoredSchedule[] {
    return this.sql("SELECT * FROM schedules WHERE paused = 0 AND next_run_ms IS NOT NULL AND next_run_ms <= ? ORDER BY next_run_ms LIMIT ?")
      .all(nowMs, limit)
      .map(rowToSchedule);
  }

  claimFiring(id: string, expectedMs: number, nextRunMs: number | null, now: string): boolean {
    const result = this.sql("UPDATE schedules SET next_run_ms = ?, updated_at = ? WHERE id = ? AND next_run_ms = ? AND paused = 0").run(nextRunMs, now, id, expectedMs);
    return Number(result.changes) === 1;
  }

  recordRun(id: string, run: ScheduleRun): void {
    this.sql("UPDATE schedules SET last_run_at = ?, last_job_id = coalesce(?, last_job_id), last_outcome = ?, last_error = ? WHERE id = ?").run(
      run.lastRunAt, run.lastJobId, run.lastOutcome, run.lastError, id,
    );
  }

  pauseQueue(p: QueuePause): boolean {
    const result = this.sql("INSERT INTO paused_queues (queue, paused_by, paused_at, reason) VALUES (?, ?, ?, ?) ON CONFLICT (queue) DO NOTHING").run(
      p.queue, p.pausedBy, p.pausedAt, p.reason,
    );
    return Number(result.changes) === 1;
  }

  resumeQueue(queue: string): boolean {
    return Number(this.sql("DELETE FROM paused_queues WHERE queue = ?").run(queue).changes) === 1;
  }

  queuePauses(): QueuePause[] {
    return this.sql("SELECT * FROM paused_queues ORDER BY queue").all().map((row) => ({
      queue: String(row["queue"]),
      pausedBy: String(row["paused_by"]),
      pausedAt: String(row["paused_at"]),
      reason: nullableText(row["reason"]),
    }));
  }

  queueCounts(): Record<string, { pending: number; running: number }> {
    const counts: Record<string, { pending: number; running: number }> = {};
    const rows = this.sql(
      `SELECT queue, sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, sum(CASE WHEN status IN ('running', 'cancelling') THEN 1 ELSE 0 END) AS running
       FROM tasks WHERE status IN ('pending', 'running', 'cancelling') GROUP BY queue`,
    ).all();
    for (const row of rows) counts[String(row["queue"])] = { pending: Number(row["pending"]), running: Number(row["running"]) };
    return counts;
  }
}
