/**
 * Two engines (nodes) in this process on one PostgreSQL schema: an API-only node A and a
 * worker node B. What crosses between them goes through the database only — claims, the
 * NOTIFY of a cancel, the event feed — exactly as between machines.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { openTestEngine, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { noPostgres, skippedIf } from "../optional.ts";

const schemas: string[] = [];

afterEach(async () => {
  for (const schema of schemas.splice(0)) {
    const store = new PostgresStore({ url: pgUrl as string, schema });
    await store.dropSchema().catch(() => undefined);
    await store.close();
  }
});

async function twoNodes(options: { pollIntervalMs?: number; heartbeatMs?: number } = {}): Promise<{ a: Belay; b: Belay }> {
  const schema = testSchema();
  schemas.push(schema);
  const db = `${pgUrl as string}?schema=${schema}`;
  // A long poll interval: what arrives fast arrives by notification, not by polling.
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  const beat = options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs };
  const a = await openTestEngine({ db, concurrency: 0, nodeId: "node-a", pollIntervalMs, ...beat });
  const b = await openTestEngine({ db, concurrency: 4, nodeId: "node-b", pollIntervalMs, ...beat });
  return { a, b };
}

describe("two nodes on one PostgreSQL schema", skippedIf(noPostgres), () => {
  it("stall watchdog: the API node cancels a silent process on the worker node from the deadline the worker stored", async () => {
    const schema = testSchema();
    schemas.push(schema);
    const db = `${pgUrl as string}?schema=${schema}`;
    // Only node A sweeps in time (B polls once a minute): A can only know of the stall from the database.
    const a = await openTestEngine({ db, concurrency: 0, nodeId: "node-a", pollIntervalMs: 200 });
    const b = await openTestEngine({ db, concurrency: 4, nodeId: "node-b", pollIntervalMs: 60_000 });
    const silent = await a.submitJob({ name: "silent", command: ["sleep", "60"], stallTimeoutMs: 1000 });
    const chatty = await a.submitJob({ name: "chatty", command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.3; done"], stallTimeoutMs: 1000 });
    const running = await untilTaskStatus(b, silent.id, "main", "running");
    // A task cancel: the job of a single cancelled task ends `partial`.
    const done = await untilJobStatus(a, silent.id, "partial");
    expect(done.tasks[0]).toMatchObject({ status: "cancelled", nodeId: "node-b" });
    const record = await until(() => a.getCancellation(silent.id), (r) => r.status !== "in_progress");
    expect(record).toMatchObject({ scope: "task", requestedBy: "system", reason: "stalled", executorNodeId: "node-a", status: "completed" });
    const afterMs = Date.parse(record.requestedAt) - Date.parse(running.tasks[0]?.startedAt ?? "");
    expect(afterMs).toBeGreaterThanOrEqual(1000);
    expect(afterMs).toBeLessThanOrEqual(1000 + 200 + 600);
    expect((await untilJobStatus(a, chatty.id, "succeeded")).cancellation).toBeNull();
  });

  it("runs a job submitted on the API node on the worker node, and the API node sees its events", async () => {
    const { a } = await twoNodes();
    const seen: string[] = [];
    a.on("*", (event) => {
      if (event.type.startsWith("belay.task.")) seen.push(event.type);
    });
    const job = await a.submitJob({ name: "hello", handler: "sleepy", input: { ms: 10 } });
    const done = await a.waitForJob(job.id, { timeoutMs: 10_000 });
    expect(done.status).toBe("succeeded");
    expect(done.tasks[0]?.nodeId).toBe("node-b");
    await until(async () => seen, (s) => s.includes("belay.task.succeeded"));
    expect(seen).toContain("belay.task.started");
  });

  it("cancels on the API node a handler running on the worker node: the worker stops it and acknowledges", async () => {
    const { a, b } = await twoNodes();
    const job = await a.submitJob({ name: "long", handler: "converge" });
    await untilTaskStatus(b, job.id, "main", "running");
    const result = await a.cancelJob(job.id, { reason: "not needed", wait: true, waitMs: 10_000 });
    expect(result.job.status).toBe("cancelled");
    const record = result.cancellation;
    expect(record.status).toBe("completed");
    expect(record.executorNodeId).toBe("node-a");
    const report = record.tasks.find((t) => t.key === "main");
    expect(report).toMatchObject({ nodeId: "node-b", outcome: "mid_run", mode: "graceful" });
    expect(report?.signalledAt).not.toBeNull();
    expect(report?.stoppedAt).not.toBeNull();
    const signal = record.steps.find((s) => s.name === "signal_runners");
    expect(signal?.detail).toMatchObject({ notified: { tasks: ["main"], nodes: ["node-b"] } });
    // The convergence data the handler reported before it stopped is kept.
    const progress = (await b.getJob(job.id)).tasks[0]?.progress;
    expect(progress).not.toBeNull();
  });

  it("a forced cancel kills, on the worker node, a handler that ignores its signal", async () => {
    const { a, b } = await twoNodes();
    const job = await a.submitJob({ name: "stubborn", handler: "spin", graceMs: 60_000 });
    await untilTaskStatus(b, job.id, "main", "running");
    const result = await a.cancelJob(job.id, { force: true, wait: true, waitMs: 15_000 });
    expect(result.job.status).toBe("cancelled");
    expect(result.cancellation.tasks[0]).toMatchObject({ nodeId: "node-b", mode: "forced" });
  });

  it("a graceful cancel escalated by a forced repeat on another node kills the runner", async () => {
    const { a, b } = await twoNodes();
    const job = await a.submitJob({ name: "stubborn", handler: "spin", graceMs: 60_000 });
    await untilTaskStatus(b, job.id, "main", "running");
    const first = await a.cancelJob(job.id, { reason: "please" });
    expect(first.cancellation.status).toBe("in_progress");
    await b.cancelJob(job.id, { force: true });
    const done = await untilJobStatus(a, job.id, "cancelled");
    expect(done.status).toBe("cancelled");
    const record = await a.getCancellation(first.cancellation.id);
    expect(record.tasks[0]?.mode).toBe("forced");
  });

  it("a cancellation whose executing node goes away is taken over and finished by another node", async () => {
    const { a, b } = await twoNodes({ heartbeatMs: 100 });
    const job = await a.submitJob({ name: "stubborn", handler: "spin", graceMs: 1500 });
    await untilTaskStatus(b, job.id, "main", "running");
    const requested = await a.cancelJob(job.id, { reason: "executor leaves" });
    expect(requested.cancellation).toMatchObject({ status: "in_progress", executorNodeId: "node-a" });
    // A stops in the middle of the grace period, its execution unfinished.
    await a.close();
    const done = await untilJobStatus(b, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await until(() => b.getCancellation(requested.cancellation.id), (r) => r.status !== "in_progress");
    expect(record).toMatchObject({ status: "completed", executorNodeId: "node-b" });
    expect(record.tasks[0]).toMatchObject({ nodeId: "node-b", mode: "forced" });
    expect(record.steps.map((step) => step.status)).not.toContain("pending");
  });
});
