/**
 * DESIGN §7 "Drain" with real processes on one PostgreSQL schema: SIGTERM to the worker
 * running a task hands the task back to the queue, and another worker runs it on from its
 * checkpoint; the attempt was not counted as a failure and a `system:drain` record says so.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import { until } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { Cluster } from "./cluster.ts";

let cluster: Cluster | null = null;

afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

const getJob = async (c: Cluster, id: string): Promise<Job> => (await c.client.getJob(id)).job;

async function allEvents(c: Cluster, id: string): Promise<BelayEvent[]> {
  const events: BelayEvent[] = [];
  for (;;) {
    const page = (await c.client.getJobEvents(id, { after: events.at(-1)?.seq ?? 0, limit: 1000 })).items;
    events.push(...page);
    if (page.length < 1000) return events;
  }
}

describe("draining a worker on PostgreSQL", skippedIf(noPostgres), () => {
  it("a drained worker's task is handed back and finishes on the other worker from its checkpoint", { timeout: 90_000 }, async () => {
    const c = new Cluster(pgUrl as string, testSchema());
    cluster = c;
    await c.startServer();
    // Both workers are up before the job exists: whichever claims it is drained, the other must finish it.
    const workers = { "worker-a": await c.startWorker("worker-a", ["--drain-timeout", "300ms"]), "worker-b": await c.startWorker("worker-b", ["--drain-timeout", "300ms"]) };
    const { job } = await c.client.submitJob({ name: "ticker", tasks: [{ key: "main", kind: "handler", handler: "ticker", input: { ticks: 80, tickMs: 100 } }] });
    const running = await until(() => getJob(c, job.id), (j) => j.tasks[0]?.nodeId !== null && (j.tasks[0]?.progress?.ratio ?? 0) >= 3 / 80, 30_000);
    const drainedId = running.tasks[0]?.nodeId as "worker-a" | "worker-b";
    const otherId = drainedId === "worker-a" ? "worker-b" : "worker-a";
    const a = workers[drainedId];

    const exited = new Promise<number | null>((resolve) => a.child.once("exit", (code) => resolve(code)));
    a.child.kill("SIGTERM");
    // The worker drains, hands the task back and exits cleanly on its own.
    expect(await exited).toBe(0);
    expect(a.stderr()).toContain("draining");

    const done = await until(() => getJob(c, job.id), (j) => j.status === "succeeded", 60_000);
    expect(done.tasks[0]).toMatchObject({ nodeId: otherId, attempt: 2, retriesUsed: 0 });
    expect(done.cancellation).toBeNull();
    // Worker B started from worker A's last checkpoint, not from the beginning.
    const output = done.tasks[0]?.output as { resumedFrom: number; tick: number };
    expect(output.resumedFrom).toBeGreaterThanOrEqual(3);
    expect(output.tick).toBe(80);

    const records = (await c.client.listCancellations({ jobId: job.id })).items;
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ scope: "task", taskKey: "main", requestedBy: "system:drain", status: "completed", affectedTasks: [{ key: "main", from: "running", to: "pending" }] });
    expect(records[0]?.tasks[0]).toMatchObject({ attempt: 1, nodeId: drainedId, outcome: "mid_run" });

    const events = await allEvents(c, job.id);
    expect(events.filter((e) => e.type === "belay.task.progress" && e.data["message"] === "tick 1")).toHaveLength(1);
    expect(events.some((e) => e.type === "belay.task.failed")).toBe(false);
  });
});
