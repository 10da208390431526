/**
 * The PostgreSQL server restarted under running `belay serve` / `belay worker` processes
 * (DESIGN §6 and invariants 1, 3, 5–7): once stopped `fast` (clients are told, a checkpoint
 * is written) and once `immediate` (a crash: no checkpoint, no goodbye, WAL replay at start).
 * While it is down a process finishes by itself, a stubborn process's grace runs out, a
 * handler is being cancelled and a job is submitted. Afterwards: no job lost, each ends as
 * expected, one runner row and one start per job (no duplicate run), no process left, one
 * finished record per cancel, no runner row open, no node declared dead, both nodes alive.
 *
 * The shared server (BELAY_TEST_PG_URL) is never restarted: other tests use it at the same
 * time. This file starts its own (private-postgres.ts). A restart is a stop and a start; here
 * they are two steps with a four-second outage between them, so that what must happen while
 * the database is away (the process's end, the grace running out, the submit) does, rather
 * than racing a sub-second `pg_ctl restart`.
 *
 * Gating: it needs the server binaries, and also BELAY_TEST_PG_URL although it never
 * connects there. It is one of the PostgreSQL tests, and those run under one switch: a
 * developer's `npm test` without PostgreSQL skips them all under one reason in the summary,
 * CI sets the variable, and docs/reliability.md describes one way to run them. Binaries
 * without the variable would make this one test run alone, starting a database server, in a
 * run that asked for none.
 */
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/model.ts";
import { tempDir } from "../cli/helpers.ts";
import { until } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { testSchema } from "../store/pg-schema.ts";
import { Cluster, processesWith } from "./cluster.ts";
import { noPrivatePostgres, PrivatePostgres } from "./private-postgres.ts";

let server: PrivatePostgres | null = null;
let cannotStart: string | null = null;
let cluster: Cluster | null = null;
let db: pg.Pool | null = null;

const gated = noPostgres ?? noPrivatePostgres;

beforeAll(async () => {
  if (gated !== null) return;
  try {
    server = await PrivatePostgres.start();
  } catch (error) {
    cannotStart = `a private PostgreSQL server could not be started: ${(error as Error).message.slice(0, 2000)}`;
    process.stderr.write(`pg-restart: ${cannotStart}\n`);
  }
}, 120_000);

afterEach(async () => {
  await db?.end().catch(() => undefined);
  db = null;
  // Bring the server back if a test failed while it was down, so the cluster's schema can be dropped.
  if (server !== null && !existsSync(join(server.dir, "data", "postmaster.pid"))) server.startAgain();
  await cluster?.close();
  cluster = null;
});

afterAll(() => {
  server?.destroy();
  server = null;
});

const terminal = ["succeeded", "failed", "cancelled", "partial"];

/** One job, read at most every 50 ms (the server's per-token rate limit). */
async function getJob(c: Cluster, id: string): Promise<Job> {
  await new Promise((r) => setTimeout(r, 50));
  return (await c.client.getJob(id)).job;
}

describe("the PostgreSQL server restarted under running nodes", skippedIf(gated), () => {
  for (const mode of ["fast", "immediate"] as const) {
    it(`stopped -m ${mode} for 4 s and started again while jobs run, finish, are cancelled and submitted: nothing lost, nothing run twice, no process left`, { timeout: 240_000 }, async (ctx) => {
      if (cannotStart !== null || server === null) {
        ctx.skip(cannotStart ?? "no private PostgreSQL server");
        return;
      }
      const pgServer = server;
      const c = new Cluster(pgServer.url, testSchema());
      cluster = c;
      await c.startServer();
      await c.startWorker("worker-b");
      // A pool: its connections die with the server, and the queries after it take new ones.
      db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
      db.on("error", () => undefined);

      const tag = randomBytes(6).toString("hex");
      const marker = `belay-restart-${tag}`;
      const files = tempDir();
      const gate = join(files, "gate");
      const termed = join(files, "termed");
      // Ends by itself while the database is down (its gate opens then): its end and logs must be stored after.
      const { job: finishing } = await c.client.submitJob({
        name: "finishing",
        command: ["sh", "-c", `echo 'BELAY_PROGRESS {"ratio":0.5}'; echo before-the-stop; while [ ! -e ${gate} ]; do sleep 0.05; done; echo the-end # ${marker}:finishing:`],
      });
      // Ignores SIGTERM (it notes that it got it): cancelled just before the stop, its grace runs out while the database is down.
      const { job: stubborn } = await c.client.submitJob({
        name: "stubborn",
        command: ["sh", "-c", `trap 'touch ${termed}' TERM; while true; do sleep 0.1; done # ${marker}:stubborn:`],
        graceMs: 1500,
      });
      // A handler cancelled just before the stop; another, cancelled after the start (the cancel must still reach the worker).
      const { job: handler } = await c.client.submitJob({ name: "handler", handler: "converge" });
      const { job: later } = await c.client.submitJob({ name: "cancelled-after", handler: "converge" });
      for (const id of [finishing.id, stubborn.id, handler.id, later.id]) await until(() => getJob(c, id), (j) => j.tasks[0]?.status === "running", 60_000);
      await until(async () => ["finishing", "stubborn"].map((k) => processesWith(`${marker}:${k}:`).length), (n) => n.every((x) => x > 0), 30_000);

      const requested = await Promise.all([stubborn.id, handler.id].map((id) => c.client.cancelJob(id, { reason: `restart ${mode}` })));
      for (const r of requested) expect(r.cancellation.status).toBe("in_progress");
      await until(async () => existsSync(termed), (yes) => yes, 30_000); // the worker has signalled the stubborn one

      // ---- the outage ----
      pgServer.stop(mode);
      const downAt = Date.now();
      writeFileSync(gate, "");
      // Submitted while the database is down, with an idempotency key: refused (a retryable
      // 503) or, should the node hold it until the database is back, taken; submitted again after.
      const lateSpec = { name: "late", command: ["sh", "-c", `echo late # ${marker}:late:`], idempotencyKey: `late-${tag}` };
      const late = c.client.submitJob(lateSpec).then(
        (r) => ({ job: r.job, error: null }),
        (error: unknown) => ({ job: null, error }),
      );
      // The finishing process exits without the database.
      await until(async () => processesWith(`${marker}:finishing:`), (pids) => pids.length === 0, 3_000);
      const firstTry = await Promise.race([late, new Promise<null>((r) => setTimeout(() => r(null), Math.max(0, 4_000 - (Date.now() - downAt))))]);
      await new Promise((r) => setTimeout(r, Math.max(0, 4_000 - (Date.now() - downAt))));
      pgServer.startAgain();
      // ---- back ----

      const settled = firstTry ?? (await late);
      process.stdout.write(`pg-restart (${mode}): the submit during the outage ${settled.job !== null ? "was taken" : `was refused: ${String((settled.error as { code?: string }).code)}`}${firstTry === null ? ", after the start" : ", while the database was down"}\n`);
      if (settled.error !== null) expect(settled.error).toMatchObject({ status: 503, code: "STORE_UNAVAILABLE" });
      const lateJob = (await c.client.submitJob(lateSpec)).job;
      if (settled.job !== null) expect(lateJob.id).toBe(settled.job.id);
      const afterResult = await c.client.cancelJob(later.id, { reason: "after the restart", wait: true, waitMs: 30_000 });
      expect(afterResult.cancellation.status).toBe("completed");

      const ids = [finishing.id, stubborn.id, handler.id, later.id, lateJob.id];
      const done = await until(async () => Promise.all(ids.map((id) => getJob(c, id))), (jobs) => jobs.every((j) => terminal.includes(j.status)), 60_000);
      expect(done.map((j) => `${j.name}: ${j.status}`)).toEqual(["finishing: succeeded", "stubborn: cancelled", "handler: cancelled", "cancelled-after: cancelled", "late: succeeded"]);
      expect(done[0]?.tasks[0]?.progress?.ratio).toBe(0.5);
      expect((await c.client.getLogs(finishing.id)).items.map((l) => l.line)).toEqual(expect.arrayContaining(["before-the-stop", "the-end"]));

      // No job lost or made twice: the schema holds exactly these jobs.
      const { rows: jobs } = await db.query<{ id: string }>(`SELECT id FROM ${c.schema}.jobs ORDER BY seq`);
      expect(jobs.map((r) => r.id).sort()).toEqual([...ids].sort());

      // One finished record per cancel.
      for (const id of [stubborn.id, handler.id, later.id]) {
        const record = await until(async () => (await c.client.getJobCancellation(id)).cancellation, (r) => r.status !== "in_progress", 30_000);
        expect(record.status).toBe("completed");
        expect(record.tasks[0]?.nodeId).toBe("worker-b");
        expect((await c.client.listCancellations({ jobId: id })).items).toHaveLength(1);
      }
      expect((await c.client.getJobCancellation(stubborn.id)).cancellation.tasks[0]?.mode).toBe("forced");

      // No duplicate run: each job's one task started once, on attempt 1; a process has one
      // runner row (a handler runs in a thread of the node, with no PID and no runner row).
      const { rows: runs } = await db.query<{ job_id: string; attempt: number; runners: string; runner_attempts: number[] | null; starts: string }>(
        `SELECT t.job_id, t.attempt,
                (SELECT count(*) FROM ${c.schema}.runners r WHERE r.job_id = t.job_id) AS runners,
                (SELECT array_agg(DISTINCT r.attempt) FROM ${c.schema}.runners r WHERE r.job_id = t.job_id) AS runner_attempts,
                (SELECT count(*) FROM ${c.schema}.events e WHERE e.job_id = t.job_id AND e.type = 'belay.task.started') AS starts
           FROM ${c.schema}.tasks t`,
      );
      const processJobs = new Set([finishing.id, stubborn.id, lateJob.id]);
      expect(
        runs.map((r) => ({ job: r.job_id, attempt: r.attempt, runners: Number(r.runners), runnerAttempts: r.runner_attempts, starts: Number(r.starts) })).sort((a, b) => a.job.localeCompare(b.job)),
      ).toEqual([...ids].sort().map((job) => (processJobs.has(job) ? { job, attempt: 1, runners: 1, runnerAttempts: [1], starts: 1 } : { job, attempt: 1, runners: 0, runnerAttempts: null, starts: 1 })));
      // No runner left: no process, no open runner row; no node declared dead (nobody recovered anything).
      await until(async () => processesWith(marker), (pids) => pids.length === 0, 30_000);
      expect((await db.query(`SELECT job_id, task_key FROM ${c.schema}.runners WHERE ended_at IS NULL`)).rows).toEqual([]);
      const { rows: nodes } = await db.query<{ id: string; dead_at: Date | null; stopped_at: Date | null }>(`SELECT id, dead_at, stopped_at FROM ${c.schema}.nodes ORDER BY id`);
      expect(nodes.map((n) => ({ id: n.id, dead: n.dead_at !== null, stopped: n.stopped_at !== null }))).toEqual([
        { id: "api", dead: false, stopped: false },
        { id: "worker-b", dead: false, stopped: false },
      ]);
      // Both nodes still up (Cluster.close fails too if one exited on its own).
      for (const node of c.nodes) expect({ exitCode: node.child.exitCode, signal: node.child.signalCode }).toEqual({ exitCode: null, signal: null });
    });
  }
});
