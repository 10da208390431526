/**
 * A bulk cancel of 10,000 jobs while two `belay worker` nodes claim them on PostgreSQL
 * (DESIGN invariants 2 and 5, §3 "Bulk cancel"): the jobs are submitted in one batch, the
 * workers run them (a short process or a handler each) as fast as they can, and one bulk
 * cancel selects every job while they do. Checked from the database afterwards:
 *
 * - no task of a job whose cancel was accepted started after the acceptance (invariant 2):
 *   in the job's event log, no `task.started` after its `job.cancel_requested`. A job's
 *   events are numbered in commit order (`seq`), since every write of a job holds its row
 *   lock until it commits, so a start numbered after the acceptance committed after it;
 * - every job ended: `cancelled`, or `succeeded` when it finished before the cancel reached
 *   it (then it has no record), or when its running task finished first;
 * - one record per cancelled job, each a child of the bulk record, each finished; the bulk
 *   record finished and counts every job it selected;
 * - no runner process and no open runner row left.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { JobSpecInput } from "../../src/client/types.ts";
import { until } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { Cluster, processesWith } from "./cluster.ts";

/**
 * 10,000 in the long run (`CHAOS_LONG=1`: `npm run chaos` runs this file too; about 45 s on a quiet
 * machine, two minutes under a loaded one); 2,000 in `npm test`, which must stay within its
 * time budget. The checks are the same.
 */
const jobs = process.env["CHAOS_LONG"] === "1" ? 10_000 : 2_000;
/** Jobs that have run before the bulk cancel is sent (so the workers are claiming at full pace). */
const runBefore = 40;

let cluster: Cluster | null = null;
let db: pg.Client | null = null;
afterEach(async () => {
  await db?.end().catch(() => undefined);
  db = null;
  await cluster?.close();
  cluster = null;
});

describe(`${jobs.toLocaleString("en")} jobs bulk-cancelled while two workers claim them, on PostgreSQL`, skippedIf(noPostgres), () => {
  it("no task starts after its job's cancel was accepted; every job ends; one record per job; the bulk record finishes; nothing left running", { timeout: 240_000 }, async () => {
    const c = new Cluster(pgUrl as string, testSchema());
    cluster = c;
    await c.startServer();
    await Promise.all([c.startWorker("claim-a"), c.startWorker("claim-b")]);
    db = new pg.Client({ connectionString: pgUrl as string });
    await db.connect();
    const q = async <R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> => (await db!.query<R>(sql.replaceAll("S.", `${c.schema}.`), values)).rows;

    const tag = randomBytes(6).toString("hex");
    const marker = `belay-bulk-${tag}`;
    // Processes and handlers, of 50 ms (so the workers claim again and again while the cancel
    // runs) and of 1 s (so some are still running when their cancel comes).
    const specs: JobSpecInput[] = Array.from({ length: jobs }, (_, i) => {
      const ms = i % 4 < 2 ? 50 : 1000;
      return i % 2 === 0
        ? { name: `p-${i}`, command: ["sh", "-c", `sleep ${ms / 1000} # ${marker}`], labels: { bulk: tag } }
        : { name: `h-${i}`, handler: "sleepy", input: { ms }, labels: { bulk: tag } };
    });
    const submitStarted = Date.now();
    const submitted = await c.client.submitJobs(specs);
    const submitMs = Date.now() - submitStarted;
    expect(submitted.jobs).toHaveLength(jobs);

    // The workers are claiming (both of them) when the cancel is sent.
    await until(
      async () => q<{ node_id: string; n: string }>(`SELECT node_id, count(*) AS n FROM S.tasks WHERE started_at IS NOT NULL GROUP BY node_id`),
      (rows) => rows.length === 2 && rows.reduce((sum, r) => sum + Number(r.n), 0) >= runBefore,
      60_000,
    );
    const cancelStarted = Date.now();
    const bulk = await c.client.cancelJobs({ filter: { labels: { bulk: tag } }, reason: "bulk storm" });
    const cancelMs = Date.now() - cancelStarted;
    const bulkId = bulk.cancellation?.id;
    expect(bulkId).toBeDefined();

    // Every job ends, and the bulk record finishes.
    await until(
      async () => (await q<{ n: string }>(`SELECT count(*) AS n FROM S.jobs WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'partial')`))[0]!.n,
      (n) => Number(n) === 0,
      90_000,
    );
    const [bulkRecord] = await until(
      () => q<{ status: string; record: { progress: { total: number; done: number } | null; errors: string[] } }>(`SELECT status, record FROM S.cancellations WHERE id = $1`, [bulkId]),
      (rows) => rows[0]?.status !== "in_progress",
      60_000,
    );
    expect({ status: bulkRecord?.status, errors: bulkRecord?.record.errors }).toEqual({ status: "completed", errors: [] });
    expect(bulkRecord?.record.progress).toEqual({ total: bulk.matched, done: bulk.matched });

    // Invariant 2, from the event log: no task started after its job's cancel was accepted.
    const late = await q(
      `SELECT s.job_id, s.task_key, s.seq AS started_seq, r.seq AS accepted_seq
         FROM S.events s JOIN S.events r ON r.job_id = s.job_id AND r.type = 'belay.job.cancel_requested'
        WHERE s.type = 'belay.task.started' AND s.seq > r.seq`,
    );
    expect(late).toEqual([]);

    // How each job ended, against whether its cancel was accepted and whether it had started.
    const outcomes = await q<{ status: string; accepted: boolean; started: boolean; n: string }>(
      `SELECT j.status,
              EXISTS (SELECT 1 FROM S.events e WHERE e.job_id = j.id AND e.type = 'belay.job.cancel_requested') AS accepted,
              EXISTS (SELECT 1 FROM S.events e WHERE e.job_id = j.id AND e.type = 'belay.task.started') AS started,
              count(*) AS n
         FROM S.jobs j GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    const count = (status: string, accepted: boolean, started: boolean): number => Number(outcomes.find((o) => o.status === status && o.accepted === accepted && o.started === started)?.n ?? 0);
    const counts = {
      cancelledQueued: count("cancelled", true, false),
      cancelledRunning: count("cancelled", true, true),
      finishedFirst: count("succeeded", true, true),
      succeededBefore: count("succeeded", false, true),
    };
    process.stdout.write(
      `bulk storm: ${jobs} jobs submitted in ${submitMs} ms; the bulk cancel matched ${bulk.matched} and cancelled ${bulk.cancelled} in ${cancelMs} ms: ` +
        `${counts.cancelledQueued} cancelled before they started, ${counts.cancelledRunning} cancelled while running, ` +
        `${counts.finishedFirst} finished before their accepted cancel took effect, ${counts.succeededBefore} succeeded before the cancel reached them\n`,
    );
    // Nothing else: no failed job, no job cancelled without an accepted cancel, none succeeded without having run.
    expect(counts.cancelledQueued + counts.cancelledRunning + counts.finishedFirst + counts.succeededBefore).toBe(jobs);
    expect(counts.succeededBefore).toBeGreaterThanOrEqual(runBefore);
    expect(counts.cancelledQueued).toBeGreaterThan(0);

    // One record per job whose cancel was accepted (none for the others), each a child of the
    // bulk record, each finished: `completed` for a cancelled job, `too_late` for one whose task finished first.
    const records = await q<{ job_id: string; job_status: string; n: string; parents: string[]; statuses: string[] }>(
      `SELECT c.job_id, j.status AS job_status, count(*) AS n, array_agg(DISTINCT c.parent_id) AS parents, array_agg(DISTINCT c.status) AS statuses
         FROM S.cancellations c JOIN S.jobs j ON j.id = c.job_id WHERE c.scope <> 'bulk' GROUP BY c.job_id, j.status`,
    );
    const accepted = counts.cancelledQueued + counts.cancelledRunning + counts.finishedFirst;
    expect(records).toHaveLength(accepted);
    const expectedRecord = (jobStatus: string): string => (jobStatus === "cancelled" ? "completed" : "too_late");
    expect(records.filter((r) => Number(r.n) !== 1 || r.parents.length !== 1 || r.parents[0] !== bulkId || r.statuses.join() !== expectedRecord(r.job_status))).toEqual([]);
    expect(bulk.cancelled).toBe(accepted);
    const withoutRecord = await q(`SELECT j.id FROM S.jobs j WHERE j.status = 'cancelled' AND NOT EXISTS (SELECT 1 FROM S.cancellations c WHERE c.job_id = j.id)`);
    expect(withoutRecord).toEqual([]);

    // Nothing left running.
    expect((await q(`SELECT job_id, task_key FROM S.runners WHERE ended_at IS NULL`))).toEqual([]);
    expect(await until(async () => processesWith(marker), (pids) => pids.length === 0, 30_000)).toEqual([]);
  });
});
