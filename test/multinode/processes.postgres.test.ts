/**
 * DESIGN §6 with real processes: an API-only `belay serve` and `belay worker`s on one
 * PostgreSQL schema. Cancels go through the server and are carried out on the worker that
 * runs the task; a SIGKILLed worker's task is recovered by another after its lease.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/model.ts";
import { until } from "../helpers.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { Cluster, processesWith, stopNode } from "./cluster.ts";
import { noPostgres, skippedIf } from "../optional.ts";

let cluster: Cluster | null = null;

afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

async function newCluster(): Promise<Cluster> {
  cluster = new Cluster(pgUrl as string, testSchema());
  await cluster.startServer();
  return cluster;
}

const getJob = async (c: Cluster, id: string): Promise<Job> => (await c.client.getJob(id)).job;

describe("an API server and worker processes on one PostgreSQL schema", skippedIf(noPostgres), () => {
  it("a task running on worker B is cancelled through the server: B stops it and acknowledges", { timeout: 60_000 }, async () => {
    const c = await newCluster();
    await c.startWorker("worker-b");
    const { job } = await c.client.submitJob({ name: "converge", handler: "converge" });
    await until(() => getJob(c, job.id), (j) => j.tasks[0]?.status === "running" && (j.tasks[0]?.progress ?? null) !== null);
    const result = await c.client.cancelJob(job.id, { reason: "enough", wait: true });
    expect(result.job.status).toBe("cancelled");
    expect(result.cancellation.status).toBe("completed");
    const report = result.cancellation.tasks[0];
    expect(report).toMatchObject({ key: "main", nodeId: "worker-b", mode: "graceful", outcome: "mid_run" });
    expect(report?.signalledAt).not.toBeNull();
    expect(report?.acknowledgedAt).not.toBeNull();
    expect(result.cancellation.executorNodeId).toBe("api");
  });

  it("a forced cancel kills on worker B a process that ignores SIGTERM", { timeout: 60_000 }, async () => {
    const c = await newCluster();
    await c.startWorker("worker-b");
    const marker = `belay-stubborn-${randomBytes(6).toString("hex")}`;
    const { job } = await c.client.submitJob({ name: "stubborn", command: ["sh", "-c", `trap '' TERM; while true; do sleep 0.2; done # ${marker}`], graceMs: 60_000 });
    await until(() => getJob(c, job.id), (j) => j.tasks[0]?.status === "running");
    await until(async () => processesWith(marker), (pids) => pids.length > 0);
    const result = await c.client.cancelJob(job.id, { force: true, wait: true });
    expect(result.job.status).toBe("cancelled");
    expect(result.cancellation.tasks[0]).toMatchObject({ nodeId: "worker-b", mode: "forced" });
    await until(async () => processesWith(marker), (pids) => pids.length === 0);
  });

  it("worker B is SIGKILLed while running a task: worker C recovers it after the lease and kills B's orphan", { timeout: 60_000 }, async () => {
    const c = await newCluster();
    const b = await c.startWorker("worker-b", ["--lease", "1500"]);
    const marker = `belay-orphan-${randomBytes(6).toString("hex")}`;
    // The first attempt would run for minutes; the retry ends at once.
    const { job } = await c.client.submitJob({
      name: "survivor",
      tasks: [{ key: "main", kind: "process", retries: 1, command: ["sh", "-c", `if [ "$BELAY_ATTEMPT" = 1 ]; then sleep 300; fi # ${marker}`] }],
    });
    await until(() => getJob(c, job.id), (j) => j.tasks[0]?.status === "running");
    await until(async () => processesWith(marker), (pids) => pids.length > 0);
    await stopNode(b, "SIGKILL");
    await c.startWorker("worker-c", ["--lease", "1500"]);
    const done = await until(() => getJob(c, job.id), (j) => j.status === "succeeded", 30_000);
    expect(done.tasks[0]).toMatchObject({ attempt: 2, nodeId: "worker-c", status: "succeeded" });
    // B's process group outlived B; C, on the same machine, killed it when it recovered B's task.
    await until(async () => processesWith(marker), (pids) => pids.length === 0);
  });

  it("a cancel requested while the owner is dead is finished by the node that recovers it", { timeout: 60_000 }, async () => {
    const c = await newCluster();
    const b = await c.startWorker("worker-b", ["--lease", "1500"]);
    const { job } = await c.client.submitJob({ name: "doomed", tasks: [{ key: "main", kind: "handler", handler: "spin", retries: 3 }] });
    await until(() => getJob(c, job.id), (j) => j.tasks[0]?.status === "running");
    await stopNode(b, "SIGKILL");
    const requested = await c.client.cancelJob(job.id, { reason: "owner died" });
    expect(["cancelling", "cancelled"]).toContain(requested.job.status);
    await c.startWorker("worker-c", ["--lease", "1500"]);
    const done = await until(() => getJob(c, job.id), (j) => j.status === "cancelled", 30_000);
    // Not retried: a cancel was asked for.
    expect(done.tasks[0]?.attempt).toBe(1);
    const record = (await c.client.getJobCancellation(job.id)).cancellation;
    expect(record.status).not.toBe("in_progress");
  });
});

describe("when worker B's LISTEN connection is dropped", skippedIf(noPostgres), () => {
  it("a cancel still reaches B through the fallback", { timeout: 60_000 }, async () => {
    const c = await newCluster();
    await c.startWorker("worker-b");
    const { job } = await c.client.submitJob({ name: "converge", handler: "converge" });
    await until(() => getJob(c, job.id), (j) => j.tasks[0]?.status === "running");
    const admin = new pg.Client({ connectionString: pgUrl as string });
    await admin.connect();
    try {
      const { rows } = await admin.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1", ["belay:worker-b:listen"]);
      expect(rows).toEqual([{ ok: true }]);
      // Right away: the notification goes out while B has no listening connection.
      const result = await c.client.cancelJob(job.id, { reason: "fallback", wait: true });
      expect(result.job.status).toBe("cancelled");
      expect(result.cancellation.tasks[0]).toMatchObject({ nodeId: "worker-b", mode: "graceful" });
    } finally {
      await admin.end();
    }
  });
});

describe("when every database connection of the nodes drops mid-cancellation (as in a PostgreSQL restart)", skippedIf(noPostgres), () => {
  it("the cancellation still completes and the attempt's end is not lost", { timeout: 60_000 }, async () => {
    const c = await newCluster();
    await c.startWorker("worker-b");
    const marker = `belay-restart-${randomBytes(6).toString("hex")}`;
    const { job } = await c.client.submitJob({ name: "stubborn", command: ["sh", "-c", `trap '' TERM; while true; do sleep 0.2; done # ${marker}`], graceMs: 1500 });
    await until(() => getJob(c, job.id), (j) => j.tasks[0]?.status === "running");
    const requested = await c.client.cancelJob(job.id, { reason: "restart drill" });
    expect(requested.cancellation.status).toBe("in_progress");
    const admin = new pg.Client({ connectionString: pgUrl as string });
    await admin.connect();
    let dropped = 0;
    try {
      // Through the grace period and the kill: every connection of both nodes, again and again.
      for (let i = 0; i < 8; i++) {
        const { rows } = await admin.query(
          "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name LIKE 'belay:api%' OR application_name LIKE 'belay:worker-b%'",
        );
        dropped += rows.length;
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await admin.end();
    }
    expect(dropped).toBeGreaterThan(0);
    const done = await until(() => getJob(c, job.id), (j) => j.status === "cancelled", 30_000);
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await until(async () => (await c.client.getJobCancellation(job.id)).cancellation, (r) => r.status !== "in_progress", 30_000);
    expect(record.status).toBe("completed");
    expect(record.tasks[0]).toMatchObject({ nodeId: "worker-b", mode: "forced" });
    await until(async () => processesWith(marker), (pids) => pids.length === 0);
  });
});
