/**
 * The event log. Readers follow it by sequence number (`eventsAfter(lastSeen)`: a live stream
 * resuming from Last-Event-ID, the webhook catch-up), which is only safe if no event ever
 * becomes visible after one with a higher number.
 *
 * PostgreSQL hands out identity numbers when rows are inserted, not when they commit: two
 * transactions could insert events 9 and 10 and commit 10 first, and a reader that saw 10
 * would never read 9. So a transaction takes the `events` advisory lock just before it
 * inserts its events and holds it to its end: numbers are then handed out in commit order,
 * and a transaction's events are visible before the next one's are numbered. The lock is held
 * only for the insert and the commit — events are the last write of every transaction (see
 * `Transaction.deferEvents`) — and its holder never waits for another lock, so it cannot take
 * part in a deadlock.
 */
import type { BelayEvent, NewEvent } from "../../../core/model.ts";
import { named, query, rows } from "../db.ts";
import type { Db } from "../db.ts";
import { toBelayEvent } from "../../../core/events.ts";
import { rowToEvent } from "../rows.ts";

/** $1 lock key. */
const lockEventsQuery = named("lock_events", "SELECT pg_advisory_xact_lock(hashtext($1))");

/**
 * $1 job_id[], $2 task_key[], $3 type[], $4 time[], $5 data[]: one element per event, in
 * order. Rows are inserted in array order, so the numbers returned, sorted, are the events'.
 */
const insertEventsQuery = named(
  "insert_events",
  `INSERT INTO events (job_id, task_key, type, time, data)
   SELECT e.job_id, e.task_key, e.type, e.time, e.data
   FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::json[]) WITH ORDINALITY AS e(job_id, task_key, type, time, data, n)
   ORDER BY e.n
   RETURNING seq`,
);

/** Number and store `events` (in a transaction that will commit right after); returns them numbered. */
export async function insertEvents(db: Db, lockKey: string, events: NewEvent[]): Promise<BelayEvent[]> {
  if (events.length === 0) return [];
  await query(db, lockEventsQuery, [lockKey]);
  const result = await query(db, insertEventsQuery, [
    events.map((e) => e.jobId),
    events.map((e) => e.taskKey),
    events.map((e) => e.type),
    events.map((e) => e.time),
    events.map((e) => JSON.stringify(e.data)),
  ]);
  const seqs = result.rows.map((r) => Number(r["seq"])).sort((a, b) => a - b);
  return events.map((e, i) => toBelayEvent(seqs[i] ?? 0, e));
}

/** $1 job id, $2 after seq, $3 limit. */
const jobEventsQuery = named("job_events", "SELECT seq, job_id, task_key, type, time, data FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");

export async function jobEvents(db: Db, jobId: string, afterSeq: number, limit: number): Promise<BelayEvent[]> {
  return (await rows(db, jobEventsQuery, [jobId, afterSeq, limit])).map(rowToEvent);
}

/** $1 after seq, $2 limit. */
const eventsAfterQuery = named("events_after", "SELECT seq, job_id, task_key, type, time, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");

export async function eventsAfter(db: Db, afterSeq: number, limit: number): Promise<BelayEvent[]> {
  return (await rows(db, eventsAfterQuery, [afterSeq, limit])).map(rowToEvent);
}

const maxSeqQuery = named("max_event_seq", "SELECT coalesce(max(seq), 0) AS seq FROM events");

export async function maxEventSeq(db: Db): Promise<number> {
  return Number((await rows(db, maxSeqQuery))[0]?.["seq"] ?? 0);
}
