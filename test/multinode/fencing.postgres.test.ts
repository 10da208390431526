/**
 * Fencing (DESIGN §6 leases) with real processes: node A is frozen (SIGSTOP) past its lease
 * while it runs tasks and executes a cancel; another node declares it dead and takes its
 * work over — B retries what can be retried, the cancel A was executing is finished elsewhere. When A thaws
 * (SIGCONT) it finds itself declared dead: it must stop its stale runners and must not
 * write over what the others decided (no second attempt end, no step of the record written
 * twice, the record's executor stays the node that took it over).
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import type { BelayClient } from "../../src/client/client.ts";
import { until } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { Cluster, processesWith } from "./cluster.ts";

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

const getJob = async (client: BelayClient, id: string): Promise<Job> => (await client.getJob(id)).job;

async function jobEvents(client: BelayClient, id: string): Promise<BelayEvent[]> {
  return (await client.getJobEvents(id, { after: 0, limit: 10_000 })).items;
}

describe("a node frozen past its lease (SIGSTOP, then SIGCONT)", skippedIf(noPostgres), () => {
  it("is fenced: another node takes its work over, and the thawed node stops its stale runners without overwriting anything", { timeout: 240_000 }, async () => {
    const c = new Cluster(pgUrl as string, testSchema());
    cluster = c;
    await c.startServer();
    const lease = ["--lease", "1500"];
    const { node: a, client: viaA } = await c.startServeNode("node-a", ["--concurrency", "4", ...lease]);
    const tag = randomBytes(6).toString("hex");
    const retriedMarker = `belay-fence-retried-${tag}`;
    const stubbornMarker = `belay-fence-stubborn-${tag}`;

    // Retried elsewhere: attempt 1 on A, attempt 2 on B (both long).
    const { job: retried } = await viaA.submitJob({ name: "retried", tasks: [{ key: "main", kind: "process", retries: 1, command: ["sh", "-c", `sleep 300 # ${retriedMarker}`] }] });
    // A handler in A's own process: only A can stop it.
    const { job: handler } = await viaA.submitJob({ name: "handler", tasks: [{ key: "main", kind: "handler", handler: "converge", retries: 1 }] });
    // Being cancelled by A (its executor waits out a long grace) when A freezes; its
    // compensation runs for a while on whichever node finishes the cancel.
    const { job: cancelled } = await viaA.submitJob({
      name: "cancelled",
      graceMs: 60_000,
      tasks: [
        { key: "main", kind: "process", command: ["sh", "-c", `trap '' TERM; while true; do sleep 0.2; done # ${stubbornMarker}`] },
        { key: "undo", kind: "process", command: ["sh", "-c", "sleep 4; echo undone"], runOn: "cancel" },
      ],
    });
    for (const id of [retried.id, handler.id, cancelled.id]) {
      await until(() => getJob(c.client, id), (j) => j.tasks[0]?.status === "running" && j.tasks[0]?.nodeId === "node-a", 30_000);
    }
    await until(async () => [processesWith(retriedMarker), processesWith(stubbornMarker)], ([r, s]) => r!.length > 0 && s!.length > 0);
    const requested = await viaA.cancelJob(cancelled.id, { reason: "fencing drill" });
    expect(requested.cancellation.executorNodeId).toBe("node-a");
    await until(async () => (await viaA.getJobCancellation(cancelled.id)).cancellation, (r) => r.steps.some((s) => s.name === "signal_runners" && s.status === "completed"));

    await c.startWorker("node-b", lease);
    a.child.kill("SIGSTOP");
    let takenOverBy: string | null;
    try {
      // Another node (the API server or B: whichever recovery pass wins) declares A dead and
      // takes the record over; A is still frozen meanwhile.
      const taken = await until(async () => (await c.client.getJobCancellation(cancelled.id)).cancellation, (r) => r.executorNodeId !== "node-a", 30_000);
      takenOverBy = taken.executorNodeId;
    } finally {
      // Thawed at once, while the compensation still runs elsewhere: A's executor wakes up in the middle of another node's execution.
      a.child.kill("SIGCONT");
    }
    expect(takenOverBy).not.toBeNull();
    // The retries run on B, or on A once it has registered again (a new attempt is anyone's to claim).
    for (const id of [retried.id, handler.id]) {
      await until(() => getJob(c.client, id), (j) => j.tasks[0]!.attempt >= 2 && j.tasks[0]?.status === "running", 30_000);
    }

    // A finds out it was declared dead and stops what still runs under it.
    await until(async () => a.stderr(), (text) => text.includes("declared dead"), 30_000);
    const done = await until(() => getJob(c.client, cancelled.id), (j) => j.status === "cancelled", 60_000);
    expect(done.tasks.find((t) => t.key === "undo")).toMatchObject({ status: "succeeded", attempt: 1, nodeId: takenOverBy });
    const record = (await c.client.getJobCancellation(cancelled.id)).cancellation;
    expect(record.status).toBe("completed");
    expect(record.executorNodeId).toBe(takenOverBy);
    // Each step of the record was written once: A did not write its own view of a step B had decided.
    const stepEvents = (await jobEvents(c.client, cancelled.id)).filter((e) => e.type === "belay.cancellation.step");
    const stepNames = stepEvents.map((e) => `${String(e.data["step"])}:${String(e.data["status"])}`);
    expect(stepNames.length, `step events: ${JSON.stringify(stepEvents.map((e) => e.data))}`).toBe(new Set(stepNames).size);
    expect((await jobEvents(c.client, cancelled.id)).filter((e) => e.type === "belay.job.cancelled")).toHaveLength(1);

    // The retried tasks run a later attempt: A's stale attempt 1 ended nothing (no success, no
    // second failure), and exactly one runner of the process task is alive.
    for (const id of [retried.id, handler.id]) {
      const job = await getJob(c.client, id);
      expect(job.tasks[0]!.attempt).toBeGreaterThanOrEqual(2);
      expect(job.tasks[0]?.status).toBe("running");
      const types = (await jobEvents(c.client, id)).map((e) => e.type);
      expect(types).not.toContain("belay.task.succeeded");
      expect(types).not.toContain("belay.job.failed");
    }
    await until(async () => processesWith(stubbornMarker), (pids) => pids.length === 0);
    await until(async () => processesWith(retriedMarker), (pids) => pids.length === 1);

    // A, registered again, still serves: a cancel through it stops the later attempts, wherever they run.
    for (const id of [retried.id, handler.id]) {
      await viaA.cancelJob(id, { reason: "after the thaw" });
      const ended = await until(() => getJob(c.client, id), (j) => j.status === "cancelled", 60_000);
      expect(ended.tasks[0]!.attempt).toBeGreaterThanOrEqual(2);
      const record = await until(async () => (await c.client.getJobCancellation(id)).cancellation, (r) => r.status !== "in_progress", 30_000);
      expect(record.status).toBe("completed");
    }
    await until(async () => processesWith(retriedMarker), (pids) => pids.length === 0);
    expect(a.child.exitCode).toBeNull();
  });
});
