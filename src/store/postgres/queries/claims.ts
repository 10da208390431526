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
import { byKeyPlanSettings } from "./plan.ts";
import { named, rows, statement } from "../db.ts";
import type { Db, Row, Statement } from "../db.ts";

export interface ClaimCandidate {
  jobId: string;
  taskKey: string;
  uses: string[];
}

/**
 * The transaction-local settings through which the claim's first statement hands what it
 * locked to the statements pipelined behind it: those start only after it has finished (and
 * under READ COMMITTED each takes a snapshot of its own then), but cannot see its rows.
 */
const claimedJobsSetting = "belay.claim_jobs";
const claimedPoolsSetting = "belay.claim_pools";

/**
 * $1 queues (null: all), $2 limit → ready tasks by job priority then age, each one's job row
 * locked (jobs locked elsewhere are skipped). The LIMIT counts only rows that were locked.
 * It also records, for the rest of the transaction, the ids of the jobs it locked and the
 * pools their tasks use (`claimedJobsSetting`, `claimedPoolsSetting`, as array literals).
 */
const claimCandidatesQuery =
  // Not a named (prepared) statement: after a few runs PostgreSQL may switch a prepared
  // statement to a generic plan, and for this one the generic plan sorts every pending task
  // (55 ms with 8,600 pending, against 0.1 ms on the tasks_claim index with the actual
  // parameters). Planned on each call, it always reads the head of the index.
  `WITH c AS MATERIALIZED (
     SELECT t.job_id, t.key, t.spec -> 'uses' AS uses, t.priority, t.job_seq, t.idx
     FROM tasks t JOIN jobs j ON j.id = t.job_id
     WHERE t.status = 'pending' AND t.ready AND ($1::text[] IS NULL OR t.queue = ANY($1::text[]))
       -- A paused queue dispatches nothing (DESIGN §7): decided here, in the claim's transaction.
       -- An array read once, not an anti-join: a join would lose the index's order, and the
       -- claim would sort every pending task again (a hash anti-join: 22 ms with 1,600 pending).
       AND t.queue <> ALL (ARRAY(SELECT p.queue FROM paused_queues p))
     ORDER BY t.priority DESC, t.job_seq, t.idx
     LIMIT $2
     FOR UPDATE OF j SKIP LOCKED
   ), handed AS MATERIALIZED (
     SELECT set_config('${claimedJobsSetting}', (SELECT coalesce(array_agg(DISTINCT c.job_id), '{}')::text FROM c), true) AS jobs,
            set_config('${claimedPoolsSetting}', (SELECT coalesce(array_agg(DISTINCT p), '{}')::text FROM c, json_array_elements_text(c.uses) AS p), true) AS pools
   )
   SELECT c.job_id, c.key, c.uses FROM c, handed ORDER BY c.priority DESC, c.job_seq, c.idx`;

/**
 * The claim's plan, whatever the statistics say (queries/plan.ts): the head of the
 * `tasks_claim` index, in its order, then each candidate's job by id. On a never-analyzed
 * schema the planner otherwise reads every pending task with a bitmap scan, joins each to its
 * job and sorts them all: 26 ms per claim with 5,000 pending, growing with the queue, against
 * 0.2 ms (EXPLAIN ANALYZE). Local to the claim's transaction.
 */
const claimPlanQuery = named("claim_plan", `SELECT ${byKeyPlanSettings}`);

export function claimPlanStatement(): Statement {
  return statement(claimPlanQuery);
}

export function claimCandidatesStatement(queues: string[] | null, limit: number): Statement {
  return statement(claimCandidatesQuery, [queues, limit]);
}

export function candidatesOf(found: Row[]): ClaimCandidate[] {
  return found.map((row) => ({
    jobId: row["job_id"] as string,
    taskKey: row["key"] as string,
    uses: (row["uses"] as string[] | null) ?? [],
  }));
}

/** The pools the candidates use that this node knows ($1), in byte order of their names, as SQL. */
const claimedPools = `ARRAY(SELECT p FROM unnest(nullif(current_setting('${claimedPoolsSetting}', true), '')::text[]) AS p
  WHERE p = ANY($1::text[]) ORDER BY p COLLATE "C")`;

/**
 * $1 the pools this node knows, $2 the lock key prefix of pools → take the advisory lock of each
 * pool the candidates use, in name order (unnest yields the array in order), until the
 * transaction ends. Two claims on different nodes must not both see the last free slot of a
 * pool: the one that counts second waits for the first to commit its leases. The locks are
 * taken in one order by everyone, and only by claims, so they cannot deadlock among
 * themselves; a claim holding them waits for nothing else but the events lock, whose holder
 * waits for nothing.
 */
const lockPoolsQuery = named("lock_claimed_pools", `SELECT pg_advisory_xact_lock(hashtext($2 || k)) FROM unnest(${claimedPools}) AS k`);

export function lockPoolsStatement(knownPools: string[], keyPrefix: string): Statement {
  return statement(lockPoolsQuery, [knownPools, keyPrefix]);
}

/** $1 the pools this node knows → slots taken in each pool the candidates use (a pool without a lease is absent). */
const countLeasesQuery = named(
  "count_claimed_pool_leases",
  `SELECT pool, count(*) AS n FROM pool_leases WHERE pool = ANY(${claimedPools}) GROUP BY pool`,
);

export function countPoolLeasesStatement(knownPools: string[]): Statement {
  return statement(countLeasesQuery, [knownPools]);
}

/** The jobs the candidates statement locked, loaded as `loadJobs` does (a statement of its own, so it sees what their previous lock holders committed). */
export function claimedJobIds(): string {
  return `nullif(current_setting('${claimedJobsSetting}', true), '')::text[]`;
}

/** Slots taken in each of `pools`, from a `countPoolLeases` answer. */
export function poolUseOf(pools: string[], counted: Row[]): Map<string, number> {
  const counts = new Map<string, number>(pools.map((p) => [p, 0]));
  for (const row of counted) counts.set(row["pool"] as string, Number(row["n"]));
  return counts;
}

/** One element per lease in $1 pools, $2 job ids, $3 task keys: the tasks take their slots. */
const insertLeasesQuery = named(
  "insert_pool_leases_of_tasks",
  "INSERT INTO pool_leases (pool, job_id, task_key) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
);

export function insertPoolLeasesStatement(leases: Array<{ pool: string; jobId: string; taskKey: string }>): Statement {
  return statement(insertLeasesQuery, [leases.map((l) => l.pool), leases.map((l) => l.jobId), leases.map((l) => l.taskKey)]);
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
