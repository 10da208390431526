/**
 * The event log. Readers follow it by sequence number (`eventsAfter(lastSeen)`: a live stream
 * resuming from Last-Event-ID, the webhook catch-up, other nodes' event feeds), which is only
 * safe if no event ever becomes visible after a reader has returned one with a higher number.
 *
 * PostgreSQL hands out identity numbers when rows are inserted, not when they commit: two
 * transactions may insert events 9 and 10 and commit 10 first. Writers do not wait for each
 * other to prevent that (an exclusive lock held to the commit would serialise every writer
 * of every node, and their commits' disk flushes with them). Instead readers never read past
 * a *safe bound*:
 *
 * - a writer takes the schema's events advisory lock in SHARED mode just before it inserts
 *   its events, and holds it to the end of its transaction (writers never wait for each
 *   other: shared locks do not conflict);
 * - a reader reads the events sequence's last value V, then, in a later statement, the
 *   transactions holding that shared lock (`pg_locks`). Any event numbered ≤ V was numbered
 *   before V was read, by a transaction that held the lock from before its numbering until
 *   its end: either it has ended (its events are visible to any later statement, or rolled
 *   back) or it is among the holders the reader saw. Once every one of those holders has
 *   gone, every event ≤ V that will ever exist is visible, and the reader returns events
 *   up to V (docs/postgres.md gives the full argument).
 *
 * The reader waits only for the writers in flight when it looked (each holds the lock for
 * the server-side time of its last pipeline: insert and commit), never for later ones.
 */
import type { BelayEvent, NewEvent } from "../../../core/model.ts";
import { named, pipeline, rows, statement } from "../db.ts";
import type { Pool, PoolClient, Row, Statement } from "../db.ts";
import { toBelayEvent } from "../../../core/events.ts";
import { rowToEvent } from "../rows.ts";
import { byKeyPlanSettings } from "./plan.ts";

/**
 * $1 lock key: the writers' shared hold of the events lock, to the end of the transaction.
 * The two-key form (pg_locks shows it as classid = key, objid = 0, objsubid = 2) never meets
 * the one-key locks of pools and migrations.
 */
const lockEventsSharedQuery = named("lock_events_shared", "SELECT pg_advisory_xact_lock_shared(hashtext($1), 0)");

/**
 * The same lock, and the insert after it planned by key (queries/plan.ts): the check that each
 * event's job exists is otherwise a hash join over a sequential scan of `jobs`, planned while
 * the table was small (a connection keeps the generic plan of a prepared statement until the
 * table is analyzed), a cost that grows with the table (PW4's fill of 100,000 sequential
 * submits: 10 ms per submit at 40,000 jobs, against 1 ms at the start; auto_explain).
 * test/store/postgres-store.postgres.test.ts checks the plan.
 */
const lockEventsSharedByKeyQuery = named("lock_events_shared_by_key", `SELECT pg_advisory_xact_lock_shared(hashtext($1), 0), ${byKeyPlanSettings}`);

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

/** `insertEventsQuery` for the events of jobs that exist only (those of a submit an idempotency key refused are dropped). */
const insertJobsEventsQuery = named(
  "insert_events_of_existing_jobs",
  `INSERT INTO events (job_id, task_key, type, time, data)
   SELECT e.job_id, e.task_key, e.type, e.time, e.data
   FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::json[]) WITH ORDINALITY AS e(job_id, task_key, type, time, data, n)
   WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id)
   ORDER BY e.n
   RETURNING seq`,
);

/**
 * The statements that number and store `events`, last in a transaction: their numbers are in
 * the second's answer. `onlyOfExistingJobs`: skip the events of jobs that do not exist.
 */
export function insertEventsStatements(lockKey: string, events: NewEvent[], onlyOfExistingJobs = false): Statement[] {
  return [
    statement(onlyOfExistingJobs ? lockEventsSharedByKeyQuery : lockEventsSharedQuery, [lockKey]),
    statement(onlyOfExistingJobs ? insertJobsEventsQuery : insertEventsQuery, [
      events.map((e) => e.jobId),
      events.map((e) => e.taskKey),
      events.map((e) => e.type),
      events.map((e) => e.time),
      events.map((e) => JSON.stringify(e.data)),
    ]),
  ];
}

/** `events` numbered by the answer of `insertEventsStatements`' insert. */
export function numberEvents(events: NewEvent[], inserted: Row[]): BelayEvent[] {
  const seqs = inserted.map((r) => Number(r["seq"])).sort((a, b) => a - b);
  return events.map((e, i) => toBelayEvent(seqs[i] ?? 0, e));
}

/** The events sequence's last value (0 before the first event). Read without a snapshot: what has been handed out so far. */
const lastNumberQuery = named("events_last_number", "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('events', 'seq')::regclass), 0) AS v");

/** $1 lock key → the transactions holding the events lock (shared) right now. */
const lockHoldersQuery = named(
  "events_lock_holders",
  `SELECT coalesce(array_agg(l.virtualtransaction), '{}') AS holders FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.classid = (hashtext($1)::bigint & 4294967295)::oid AND l.objid = 0 AND l.objsubid = 2 AND l.granted`,
);

/** $1 lock key, $2 transactions → those of them still holding the events lock. */
const stillHoldingQuery = named(
  "events_lock_still_held",
  `SELECT count(*) AS n FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.classid = (hashtext($1)::bigint & 4294967295)::oid AND l.objid = 0 AND l.objsubid = 2 AND l.virtualtransaction = ANY($2::text[])`,
);

/**
 * Run `read` with the safe bound (`map` keeps only what is at or below it): the
 * highest number below which every event that will ever exist is visible to a statement that
 * starts now. One round trip when no writer is in flight: the read is pipelined behind the
 * two statements that find the bound, so it starts after them, and it is kept only if no
 * writer held the lock; otherwise it is redone once those writers have ended.
 */
export async function withSafeBound<T>(pool: Pool, lockKey: string, read: (bound: number) => Statement, map: (rows: Row[], bound: number) => T): Promise<T> {
  // One connection: the statements must run in the order they are sent (the pool would spread them).
  const db = await pool.connect();
  try {
    return await boundedRead(db, lockKey, read, map);
  } finally {
    db.release();
  }
}

async function boundedRead<T>(db: PoolClient, lockKey: string, read: (bound: number) => Statement, map: (rows: Row[], bound: number) => T): Promise<T> {
  // The pipelined read uses the largest possible bound; it is filtered by the real one below.
  const [last, holders, optimistic] = await pipeline(db, [statement(lastNumberQuery), statement(lockHoldersQuery, [lockKey]), read(Number.MAX_SAFE_INTEGER)]);
  const bound = Number(last?.rows[0]?.["v"] ?? 0);
  const inFlight = (holders?.rows[0]?.["holders"] as string[] | undefined) ?? [];
  if (inFlight.length === 0) return map(optimistic?.rows ?? [], bound);
  // Some writer was between numbering its events and its commit's end: wait for those only.
  for (let waitedMs = 0; ; ) {
    const row = (await rows(db, stillHoldingQuery, [lockKey, inFlight]))[0];
    if (Number(row?.["n"] ?? 0) === 0) break;
    const pauseMs = waitedMs < 20 ? 1 : 5;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    waitedMs += pauseMs;
  }
  const [answer] = await pipeline(db, [read(bound)]);
  return map(answer?.rows ?? [], bound);
}

/** Rows read in seq order, kept up to the bound (a read pipelined before the bound was known may go past it). */
function upTo(found: Row[], bound: number): BelayEvent[] {
  return found.filter((r) => Number(r["seq"]) <= bound).map(rowToEvent);
}

/** $1 job id, $2 after seq, $3 limit, $4 bound. */
const jobEventsQuery = named(
  "job_events",
  "SELECT seq, job_id, task_key, type, time, data FROM events WHERE job_id = $1 AND seq > $2 AND seq <= $4 ORDER BY seq LIMIT $3",
);

export async function jobEvents(db: Pool, lockKey: string, jobId: string, afterSeq: number, limit: number): Promise<BelayEvent[]> {
  return withSafeBound(db, lockKey, (bound) => statement(jobEventsQuery, [jobId, afterSeq, limit, bound]), upTo);
}

/** $1 after seq, $2 limit, $3 bound. */
const eventsAfterQuery = named("events_after", "SELECT seq, job_id, task_key, type, time, data FROM events WHERE seq > $1 AND seq <= $3 ORDER BY seq LIMIT $2");

export async function eventsAfter(db: Pool, lockKey: string, afterSeq: number, limit: number): Promise<BelayEvent[]> {
  return withSafeBound(db, lockKey, (bound) => statement(eventsAfterQuery, [afterSeq, limit, bound]), upTo);
}

/** $1 bound. */
const maxSeqQuery = named("max_event_seq", "SELECT coalesce(max(seq), 0) AS seq FROM events WHERE seq <= $1");

/** The highest event number below the safe bound: a follower starting there misses nothing committed later. */
export async function maxEventSeq(db: Pool, lockKey: string): Promise<number> {
  return withSafeBound(db, lockKey, (bound) => statement(maxSeqQuery, [bound]), (found, bound) => Math.min(Number(found[0]?.["seq"] ?? 0), bound));
}
