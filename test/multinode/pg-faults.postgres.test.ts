/**
 * PostgreSQL faults under real `belay serve` / `belay worker` processes (DESIGN §6 and
 * invariants 5–7): every connection of the nodes terminated while jobs run and a cancel is
 * in flight; the worker's LISTEN connection killed over and over while a cancel must reach
 * it; another session holding a job's row lock in a long transaction. After each: no job
 * lost, no attempt's end lost, one finished record per cancel, no runner process left.
 *
 * The shared server itself is never restarted here (other tests use it at the same time):
 * pg-restart.postgres.test.ts restarts a private server of its own.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/model.ts";
import { until } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { Cluster, processesWith } from "./cluster.ts";

let cluster: Cluster | null = null;
let admin: pg.Client | null = null;
afterEach(async () => {
  await admin?.end().catch(() => undefined);
  admin = null;
  await cluster?.close();
  cluster = null;
});

async function newCluster(): Promise<Cluster> {
  cluster = new Cluster(pgUrl as string, testSchema());
  await cluster.startServer();
  admin = new pg.Client({ connectionString: pgUrl as string });
  await admin.connect();
  return cluster;
}

/**
 * One job, read at most every 50 ms: `until` polls every 10 ms, and four jobs polled that
 * fast for a minute pass the server's 6,000 requests a minute per token (429 RATE_LIMITED).
 */
const getJob = async (c: Cluster, id: string): Promise<Job> => {
  await new Promise((r) => setTimeout(r, 50));
  return (await c.client.getJob(id)).job;
};

/** Terminate the backends whose application_name matches one of `patterns` (LIKE); how many there were. */
async function terminate(patterns: string[]): Promise<number> {
  const { rows } = await admin!.query<{ ok: boolean }>("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name LIKE ANY($1::text[])", [patterns]);
  return rows.length;
}

async function openRunners(c: Cluster): Promise<unknown[]> {
  return (await admin!.query(`SELECT job_id, task_key, attempt FROM ${c.schema}.runners WHERE ended_at IS NULL`)).rows;
}

describe("PostgreSQL faults under running nodes", skippedIf(noPostgres), () => {
  it("every connection of both nodes terminated, again and again, while jobs run, finish and are cancelled: nothing is lost", { timeout: 240_000 }, async () => {
    const c = await newCluster();
    await c.startWorker("worker-b");
    const tag = randomBytes(6).toString("hex");
    const marker = `belay-drops-${tag}`;
    // Ends by itself during the drops: its end, its log and its progress must be stored.
    const { job: finishing } = await c.client.submitJob({
      name: "finishing",
      command: ["sh", "-c", `echo 'BELAY_PROGRESS {"ratio":0.5}'; echo before-the-end; sleep 1.5; echo the-end # ${marker}`],
    });
    // Cancelled during the drops, ignoring SIGTERM: the kill after its grace must be recorded.
    const { job: stubborn } = await c.client.submitJob({ name: "stubborn", command: ["sh", "-c", `trap '' TERM; while true; do sleep 0.2; done # ${marker}`], graceMs: 1500 });
    // A handler, cancelled gracefully during the drops.
    const { job: handler } = await c.client.submitJob({ name: "handler", handler: "converge" });
    // (The finishing one may already have ended on a slow machine: it only has to have started.)
    for (const id of [finishing.id, stubborn.id, handler.id]) await until(() => getJob(c, id), (j) => j.tasks[0]?.status !== "pending", 60_000);
    const requested = await Promise.all([stubborn.id, handler.id].map((id) => c.client.cancelJob(id, { reason: "drops" })));
    for (const r of requested) expect(r.cancellation.status).toBe("in_progress");
    // Submitted during the drops, with an idempotency key: a client that got an error (the
    // database went away under its request) submits again after them, and one job runs.
    const lateSpec = { name: "late", command: ["sh", "-c", `echo late # ${marker}`], idempotencyKey: `late-${tag}` };
    const late = c.client.submitJob(lateSpec).then(
      (r) => ({ job: r.job, error: null }),
      (error: unknown) => ({ job: null, error }),
    );

    let dropped = 0;
    for (let i = 0; i < 10; i++) {
      dropped += await terminate(["belay:api%", "belay:worker-b%"]);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(dropped).toBeGreaterThan(0);
    const firstTry = await late;
    if (firstTry.error !== null) {
      // Refused because the database went away under it: a retryable 503, never a 500.
      expect(firstTry.error).toMatchObject({ status: 503, code: "STORE_UNAVAILABLE" });
    }
    const lateJob = (await c.client.submitJob(lateSpec)).job;
    if (firstTry.job !== null) expect(lateJob.id).toBe(firstTry.job.id);
    expect((await c.client.listJobs({ limit: 100 })).items.filter((j) => j.name === "late")).toHaveLength(1);

    const done = await until(async () => Promise.all([finishing.id, stubborn.id, handler.id, lateJob.id].map((id) => getJob(c, id))), (jobs) => jobs.every((j) => ["succeeded", "failed", "cancelled", "partial"].includes(j.status)), 60_000);
    expect(done.map((j) => j.status)).toEqual(["succeeded", "cancelled", "cancelled", "succeeded"]);
    expect(done[0]?.tasks[0]?.progress?.ratio).toBe(0.5);
    const lines = (await c.client.getLogs(finishing.id)).items.map((l) => l.line);
    expect(lines).toEqual(expect.arrayContaining(["before-the-end", "the-end"]));

    for (const id of [stubborn.id, handler.id]) {
      const record = await until(async () => (await c.client.getJobCancellation(id)).cancellation, (r) => r.status !== "in_progress", 30_000);
      expect(record.status).toBe("completed");
      expect(record.tasks[0]?.nodeId).toBe("worker-b");
      const all = (await c.client.listCancellations({ jobId: id })).items;
      expect(all).toHaveLength(1);
    }
    expect((await c.client.getJobCancellation(stubborn.id)).cancellation.tasks[0]?.mode).toBe("forced");
    await until(async () => processesWith(marker), (pids) => pids.length === 0);
    expect(await until(() => openRunners(c), (rows) => rows.length === 0)).toEqual([]);
  });

  it("the worker's LISTEN connection killed over and over: a cancel still reaches it by polling, within a bounded time", { timeout: 180_000 }, async () => {
    const c = await newCluster();
    await c.startWorker("worker-b");
    const { job } = await c.client.submitJob({ name: "converge", handler: "converge" });
    await until(() => getJob(c, job.id), (j) => j.tasks[0]?.status === "running", 60_000);
    // Keep B deaf the whole time, so re-LISTENing cannot be what delivers the cancel.
    let deafening = true;
    let killed = 0;
    const deafen = (async () => {
      while (deafening) {
        killed += await terminate(["belay:worker-b:listen"]);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await until(async () => killed, (n) => n > 0);
      // The bound: B's poll of its own cancelling tasks (every scheduler poll) — far less than this wait.
      const result = await c.client.cancelJob(job.id, { reason: "deaf worker", wait: true, waitMs: 20_000 });
      expect(result.job.status).toBe("cancelled");
      expect(result.cancellation.status).toBe("completed");
      expect(result.cancellation.tasks[0]).toMatchObject({ nodeId: "worker-b", mode: "graceful", outcome: "mid_run" });
      expect(result.cancellation.tasks[0]?.acknowledgedAt).not.toBeNull();
    } finally {
      deafening = false;
      await deafen;
    }
  });

  it("a long transaction holding one job's row lock does not hold back the cancels and claims of other jobs; its own cancel completes after", { timeout: 180_000 }, async () => {
    const c = await newCluster();
    await c.startWorker("worker-b");
    const submit = async (name: string): Promise<string> => (await c.client.submitJob({ name, handler: "converge" })).job.id;
    const locked = await submit("locked");
    const other = await submit("other");
    const bulk = [await submit("bulk-1"), await submit("bulk-2")];
    for (const id of [locked, other, ...bulk]) await until(() => getJob(c, id), (j) => j.tasks[0]?.status === "running", 60_000);

    const holder = new pg.Client({ connectionString: pgUrl as string });
    await holder.connect();
    let lockedCancel: Promise<unknown>; // resolves with the error, if any, so a failure elsewhere leaves no unhandled rejection
    let lockedSettled = false;
    try {
      // Repeatable read too: the snapshot it keeps open also holds back vacuum meanwhile.
      // The running job's row is written meanwhile (progress, heartbeats): a lock taken in
      // repeatable read fails with 40001 when such a write lands between the snapshot and the
      // lock, as PostgreSQL documents; the holder then tries again, as a client would.
      for (let tries = 1; ; tries++) {
        await holder.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
        try {
          await holder.query(`SELECT id FROM ${c.schema}.jobs WHERE id = $1 FOR UPDATE`, [locked]);
          break;
        } catch (error) {
          await holder.query("ROLLBACK");
          if ((error as { code?: string }).code !== "40001" || tries >= 20) throw error;
        }
      }
      lockedCancel = c.client
        .cancelJob(locked, { reason: "behind a lock", wait: true, waitMs: 60_000 })
        .then(() => null, (error: unknown) => error)
        .finally(() => (lockedSettled = true));

      // Meanwhile: a cancel of another job, a bulk cancel, and a new job claimed and run.
      const result = await c.client.cancelJob(other, { reason: "not blocked", wait: true, waitMs: 30_000 });
      expect(result.job.status).toBe("cancelled");
      expect(result.cancellation.status).toBe("completed");
      const bulkResult = await c.client.cancelJobs({ filter: { ids: bulk }, reason: "bulk, not blocked" });
      expect(bulkResult.matched).toBe(bulk.length);
      for (const id of bulk) await until(() => getJob(c, id), (j) => j.status === "cancelled", 30_000);
      const { job: fresh } = await c.client.submitJob({ name: "fresh", handler: "sleepy", input: { ms: 20 } });
      await until(() => getJob(c, fresh.id), (j) => j.status === "succeeded", 30_000);

      // Still held: the locked job's cancel cannot have been written yet.
      expect(lockedSettled).toBe(false);
      expect((await getJob(c, locked)).status).toBe("running");
      await holder.query("COMMIT");
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      await holder.end();
    }
    expect(await lockedCancel).toBeNull();
    const done = await until(() => getJob(c, locked), (j) => j.status === "cancelled", 30_000);
    expect(done.tasks[0]?.status).toBe("cancelled");
    const records = (await c.client.listCancellations({ jobId: locked })).items;
    expect(records).toHaveLength(1);
    expect(records[0]?.status).toBe("completed");
    expect(await until(() => openRunners(c), (rows) => rows.length === 0)).toEqual([]);
  });
});
