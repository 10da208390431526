/**
 * Schedules and paused queues (DESIGN §7). A firing is claimed with one compare-and-set
 * statement on `next_run_ms` (`claimFiring`): of several nodes that see a schedule due, the
 * UPDATE of exactly one matches the value they read; the others' match no row. So one firing
 * makes one job across the cluster, and it survives a restart because the next firing is stored.
 */
import { BelayError } from "../../../core/errors.ts";
import type { Json } from "../../../core/model.ts";
import type { Schedule } from "../../../core/schedules.ts";
import type { QueuePause, ScheduleRun, StoredSchedule } from "../../store.ts";
import { firstRow, named, query, rows } from "../db.ts";
import type { Db, Row } from "../db.ts";
import { iso, isoOrNull } from "../rows.ts";

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function rowToSchedule(row: Row): StoredSchedule {
  const nextRunMs = row["next_run_ms"] === null ? null : Number(row["next_run_ms"]);
  return {
    id: String(row["id"]),
    name: String(row["name"]),
    owner: String(row["owner"]),
    cron: String(row["cron"]),
    timeZone: String(row["time_zone"]),
    job: row["spec"] as Json,
    queue: String(row["queue"]),
    labels: row["labels"] as Record<string, string>,
    overlap: String(row["overlap"]) as Schedule["overlap"],
    catchUp: String(row["catch_up"]) as Schedule["catchUp"],
    paused: row["paused"] === true,
    pausedBy: text(row["paused_by"]),
    pausedAt: isoOrNull(row["paused_at"]),
    nextRunMs,
    nextRunAt: nextRunMs === null ? null : new Date(nextRunMs).toISOString(),
    lastRunAt: isoOrNull(row["last_run_at"]),
    lastJobId: text(row["last_job_id"]),
    lastOutcome: text(row["last_outcome"]) as Schedule["lastOutcome"],
    lastError: text(row["last_error"]),
    createdAt: iso(row["created_at"]),
    updatedAt: iso(row["updated_at"]),
  };
}

const insertQuery = named(
  "insert_schedule",
  `INSERT INTO schedules (id, name, owner, cron, time_zone, spec, queue, labels, overlap, catch_up, paused, paused_by, paused_at,
     next_run_ms, last_run_at, last_job_id, last_outcome, last_error, created_at, updated_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
   ON CONFLICT (owner, name) DO NOTHING`,
);

export async function insertSchedule(db: Db, s: StoredSchedule): Promise<void> {
  const result = await query(db, insertQuery, [
    s.id, s.name, s.owner, s.cron, s.timeZone, JSON.stringify(s.job), s.queue, JSON.stringify(s.labels), s.overlap, s.catchUp,
    s.paused, s.pausedBy, s.pausedAt, s.nextRunMs, s.lastRunAt, s.lastJobId, s.lastOutcome, s.lastError, s.createdAt, s.updatedAt,
  ]);
  if ((result.rowCount ?? 0) === 0) {
    const taken = await getSchedule(db, s.name, s.owner);
    throw new BelayError("SCHEDULE_NAME_TAKEN", `${s.owner} already has a schedule named "${s.name}"${taken === null ? "" : ` (${taken.id})`}`, {
      details: { field: "name", scheduleId: taken?.id ?? null },
    });
  }
}

const byIdQuery = named("schedule_by_id", "SELECT * FROM schedules WHERE id = $1");
const byNameQuery = named("schedule_by_name", "SELECT * FROM schedules WHERE owner = $1 AND name = $2");

export async function getSchedule(db: Db, idOrName: string, owner?: string): Promise<StoredSchedule | null> {
  const row = (await firstRow(db, byIdQuery, [idOrName])) ?? (owner === undefined ? undefined : await firstRow(db, byNameQuery, [owner, idOrName]));
  return row === undefined ? null : rowToSchedule(row);
}

const listQuery = named("list_schedules", "SELECT * FROM schedules ORDER BY name, id");

export async function listSchedules(db: Db): Promise<StoredSchedule[]> {
  return (await rows(db, listQuery)).map(rowToSchedule);
}

const setPausedQuery = named("set_schedule_paused", "UPDATE schedules SET paused = $2, paused_by = $3, paused_at = $4, next_run_ms = $5, updated_at = $6 WHERE id = $1");

export async function setSchedulePaused(db: Db, id: string, paused: { by: string; at: string } | null, nextRunMs: number | null, now: string): Promise<boolean> {
  return ((await query(db, setPausedQuery, [id, paused !== null, paused?.by ?? null, paused?.at ?? null, nextRunMs, now])).rowCount ?? 0) > 0;
}

const deleteQuery = named("delete_schedule", "DELETE FROM schedules WHERE id = $1");

export async function deleteSchedule(db: Db, id: string): Promise<boolean> {
  return ((await query(db, deleteQuery, [id])).rowCount ?? 0) > 0;
}

const dueQuery = named("due_schedules", "SELECT * FROM schedules WHERE NOT paused AND next_run_ms IS NOT NULL AND next_run_ms <= $1 ORDER BY next_run_ms LIMIT $2");

export async function dueSchedules(db: Db, nowMs: number, limit: number): Promise<StoredSchedule[]> {
  return (await rows(db, dueQuery, [nowMs, limit])).map(rowToSchedule);
}

/** $1 id, $2 the next firing the caller read, $3 the new one, $4 now: the compare-and-set of a firing. */
const claimFiringQuery = named("claim_schedule_firing", "UPDATE schedules SET next_run_ms = $3, updated_at = $4 WHERE id = $1 AND next_run_ms = $2 AND NOT paused");

export async function claimFiring(db: Db, id: string, expectedMs: number, nextRunMs: number | null, now: string): Promise<boolean> {
  return ((await query(db, claimFiringQuery, [id, expectedMs, nextRunMs, now])).rowCount ?? 0) === 1;
}

const recordRunQuery = named(
  "record_schedule_run",
  "UPDATE schedules SET last_run_at = $2, last_job_id = coalesce($3, last_job_id), last_outcome = $4, last_error = $5 WHERE id = $1",
);

export async function recordRun(db: Db, id: string, run: ScheduleRun): Promise<void> {
  await query(db, recordRunQuery, [id, run.lastRunAt, run.lastJobId, run.lastOutcome, run.lastError]);
}

const pauseQueueQuery = named("pause_queue", "INSERT INTO paused_queues (queue, paused_by, paused_at, reason) VALUES ($1, $2, $3, $4) ON CONFLICT (queue) DO NOTHING");

export async function pauseQueue(db: Db, p: QueuePause): Promise<boolean> {
  return ((await query(db, pauseQueueQuery, [p.queue, p.pausedBy, p.pausedAt, p.reason])).rowCount ?? 0) === 1;
}

const resumeQueueQuery = named("resume_queue", "DELETE FROM paused_queues WHERE queue = $1");

export async function resumeQueue(db: Db, queue: string): Promise<boolean> {
  return ((await query(db, resumeQueueQuery, [queue])).rowCount ?? 0) === 1;
}

const queuePausesQuery = named("queue_pauses", "SELECT * FROM paused_queues ORDER BY queue");

export async function queuePauses(db: Db): Promise<QueuePause[]> {
  return (await rows(db, queuePausesQuery)).map((row) => ({
    queue: String(row["queue"]),
    pausedBy: String(row["paused_by"]),
    pausedAt: iso(row["paused_at"]),
    reason: text(row["reason"]),
  }));
}

const queueCountsQuery = named(
  "queue_counts",
  `SELECT queue, count(*) FILTER (WHERE status = 'pending') AS pending, count(*) FILTER (WHERE status IN ('running', 'cancelling')) AS running
   FROM tasks WHERE status IN ('pending', 'running', 'cancelling') GROUP BY queue`,
);

export async function queueCounts(db: Db): Promise<Record<string, { pending: number; running: number }>> {
  const counts: Record<string, { pending: number; running: number }> = {};
  for (const row of await rows(db, queueCountsQuery)) counts[String(row["queue"])] = { pending: Number(row["pending"]), running: Number(row["running"]) };
  return counts;
}
