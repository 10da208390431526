/**
 * The queries of a claim: the candidate tasks, and the resource pools' slots.
 *
 * Locking (see docs/postgres.md for the whole order): a claim locks the *job* rows of its
 * candidates with SKIP LOCKED — the lock every mutation of a job takes — and never the task
 * rows. Every write to a task happens under its job's lock, so holding the job row is what
 * makes the claim and a concurrent cancel of that job serialise (whichever commits first
 * wins), and what keeps two nodes from claiming one task. SKIP LOCKED means a claim never
 * waits for a job row: a job being mutated right now is passed over until the next round.
 * (Locking task rows instead would deadlock: a mutation holding the job row waits to update a
 * task row the claim holds, while the claim waits for the job row.)
 */
import { named, rows, statement } from "../db.ts";
import type { Db, Row, Statement } from "../db.ts";

export interface ClaimCandidate {
  jobId: string;
  taskKey: string;
  uses: string[];
}

/**
 * $1 queues (null: all), $2 limit → ready tasks by job priority then age, each one's job row
 * locked (jobs locked elsewhere are skipped). The LIMIT counts only rows that were locked.
 */
const claimCandidatesQuery =
  // Not a named (prepared) statement: after a few runs PostgreSQL may switch a prepared
  // statement to a generic plan, and for this one the generic plan sorts every pending task
  // (55 ms with 8,600 pending, against 0.1 ms on the tasks_claim index with the actual
  // parameters). Planned on each call, it always reads the head of the index.
  `SELECT t.job_id, t.key, t.spec -> 'uses' AS uses
   FROM tasks t JOIN jobs j ON j.id = t.job_id
   WHERE t.status = 'pending' AND t.ready AND ($1::text[] IS NULL OR t.queue = ANY($1::text[]))
   ORDER BY t.priority DESC, t.job_seq, t.idx
   LIMIT $2
   FOR UPDATE OF j SKIP LOCKED`;

export async function claimCandidates(db: Db, queues: string[] | null, limit: number): Promise<ClaimCandidate[]> {
  return (await rows(db, claimCandidatesQuery, [queues, limit])).map((row) => ({
    jobId: row["job_id"] as string,
    taskKey: row["key"] as string,
    uses: (row["uses"] as string[] | null) ?? [],
  }));
}

/**
 * $1 lock keys, already sorted → take each pool's advisory lock, in that order (unnest yields
 * the array in order), until the transaction ends. Two claims on different nodes must not
 * both see the last free slot of a pool: the one that counts second waits for the first to
 * commit its leases. The locks are taken in one order by everyone, and only by claims, so
 * they cannot deadlock among themselves; a claim holding them waits for nothing else but the
 * events lock, whose holder waits for nothing.
 */
const lockPoolsQuery = named("lock_pools", "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) AS k");

export function lockPoolsStatement(sortedKeys: string[]): Statement {
  return statement(lockPoolsQuery, [sortedKeys]);
}

/** $1 pools → slots taken in each (a pool without a lease is absent). */
const countLeasesQuery = named("count_pool_leases", "SELECT pool, count(*) AS n FROM pool_leases WHERE pool = ANY($1::text[]) GROUP BY pool");

export function countPoolLeasesStatement(pools: string[]): Statement {
  return statement(countLeasesQuery, [pools]);
}

/** Slots taken in each of `pools`, from a `countPoolLeases` answer. */
export function poolUseOf(pools: string[], counted: Row[]): Map<string, number> {
  const counts = new Map<string, number>(pools.map((p) => [p, 0]));
  for (const row of counted) counts.set(row["pool"] as string, Number(row["n"]));
  return counts;
}

/** $1 pools, $2 job id, $3 task key: the task takes one slot of each pool. */
const insertLeasesQuery = named(
  "insert_pool_leases",
  "INSERT INTO pool_leases (pool, job_id, task_key) SELECT p, $2, $3 FROM unnest($1::text[]) AS p",
);

export function insertPoolLeasesStatement(pools: string[], jobId: string, taskKey: string): Statement {
  return statement(insertLeasesQuery, [pools, jobId, taskKey]);
}

/** $1 job ids, $2 task keys (one element per task): give back every slot those tasks hold. */
const deleteLeasesQuery = named(
  "delete_pool_leases_of_tasks",
  "DELETE FROM pool_leases l USING unnest($1::text[], $2::text[]) AS u(job_id, task_key) WHERE l.job_id = u.job_id AND l.task_key = u.task_key",
);

export function deletePoolLeasesStatement(released: Array<{ jobId: string; taskKey: string }>): Statement {
  return statement(deleteLeasesQuery, [released.map((r) => r.jobId), released.map((r) => r.taskKey)]);
}

const poolHoldersQuery = named("pool_holders", "SELECT pool, job_id, task_key FROM pool_leases ORDER BY pool, job_id, task_key");

export async function poolHolders(db: Db): Promise<Record<string, string[]>> {
  const holders: Record<string, string[]> = {};
  for (const row of await rows(db, poolHoldersQuery)) {
    (holders[row["pool"] as string] ??= []).push(`${row["job_id"] as string}/${row["task_key"] as string}`);
  }
  return holders;
}
