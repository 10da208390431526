/**
 * Tree cancels across nodes on PostgreSQL (DESIGN §7): two engines on one schema, node A
 * claiming queue `a` and node B queue `b`, so a parent runs on one node and its children on
 * the other. What crosses between them goes through the database only. Also the store's
 * JOB_CANCELLING decided under the ancestors' row locks, raced against the cancel.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import type { Job } from "../../src/core/model.ts";
import { isTerminalJob } from "../../src/core/states.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { openTestEngine, until, untilJobStatus } from "../helpers.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { noPostgres, skippedIf } from "../optional.ts";

const treeHandlers = new URL("../fixtures/tree-handlers.ts", import.meta.url).pathname;
const schemas: string[] = [];

afterEach(async () => {
  for (const schema of schemas.splice(0)) {
    const store = new PostgresStore({ url: pgUrl as string, schema });
    await store.dropSchema().catch(() => undefined);
    await store.close();
  }
});

async function twoNodes(): Promise<{ a: Belay; b: Belay }> {
  const schema = testSchema();
  schemas.push(schema);
  const db = `${pgUrl as string}?schema=${schema}`;
  const a = await openTestEngine({ db, handlers: treeHandlers, concurrency: 20, queues: ["a"], nodeId: "node-a", pollIntervalMs: 200 });
  const b = await openTestEngine({ db, handlers: treeHandlers, concurrency: 20, queues: ["b"], nodeId: "node-b", pollIntervalMs: 200 });
  return { a, b };
}

async function treeJobs(engine: Belay, rootId: string): Promise<Job[]> {
  const tree = await engine.getJobTree(rootId);
  const out: Job[] = [];
  const walk = (node: typeof tree.root): void => {
    out.push(node.job);
    node.children.forEach(walk);
  };
  walk(tree.root);
  return out;
}

describe("child jobs on two nodes (PostgreSQL)", skippedIf(noPostgres), () => {
  it("a job task's child runs on the other node and is cancelled with the root", async () => {
    const { a, b } = await twoNodes();
    const root = await a.submitJob({ name: "root", queue: "a", tasks: [{ key: "sub", kind: "job", job: { name: "child", queue: "b", command: ["sleep", "300"] } }] });
    const child = await until(() => a.listJobs({ parentJobId: root.id }), (p) => p.items[0]?.status === "running", 30_000).then((p) => p.items[0]!);
    expect(child.tasks[0]!.nodeId).toBe("node-b");
    expect((await a.getJob(root.id)).tasks[0]!.nodeId).toBe("node-a");
    const { cancellation } = await a.cancelJob(root.id, { reason: "two nodes", wait: true, waitMs: 30_000 });
    expect(cancellation.status).toBe("completed");
    expect(cancellation.descendants).toEqual([expect.objectContaining({ jobId: child.id, outcome: "cancelled", status: "cancelled" })]);
    const childRecord = await b.getCancellation(child.id);
    expect(childRecord).toMatchObject({ parentId: cancellation.id, status: "completed" });
    expect(childRecord.tasks[0]).toMatchObject({ nodeId: "node-b", outcome: "mid_run" });
    expect((await a.getJob(root.id)).status).toBe("cancelled");
    expect(await a.store.liveRunners()).toEqual([]);
  }, 90_000);

  it("a depth-3 tree spawning on both nodes ends with nothing running and no child created after the accept", async () => {
    const { a } = await twoNodes();
    // Handlers of the tree on node A; the leaves' process children on node B.
    const root = await a.submitJob({
      name: "root",
      queue: "a",
      tasks: [{ key: "spawn", handler: "spawner", input: { depth: 0, leafDepth: 2, fanout: 2, everyMs: 15, queue: "a", childQueue: "b" } }],
    });
    await until(() => treeJobs(a, root.id), (jobs) => jobs.filter((j) => j.depth === 3 && j.status === "running").length >= 4, 60_000);
    const { cancellation } = await a.cancelJob(root.id, { reason: "tree on two nodes" });
    const record = await until(() => a.getCancellation(cancellation.id), (r) => r.status !== "in_progress", 60_000);
    expect(record.status).toBe("completed");
    const jobs = await treeJobs(a, root.id);
    const descendants = jobs.filter((j) => j.id !== root.id);
    for (const job of jobs) expect(isTerminalJob(job.status), `${job.name} ${job.status}`).toBe(true);
    expect(descendants.filter((j) => j.depth === 3).every((j) => j.tasks[0]!.nodeId === null || j.tasks[0]!.nodeId === "node-b")).toBe(true);
    expect(await a.store.liveRunners()).toEqual([]);
    for (const job of descendants) expect(job.createdAt <= record.requestedAt, `${job.name} created ${job.createdAt} after ${record.requestedAt}`).toBe(true);
    expect(new Set(record.descendants?.map((d) => d.jobId))).toEqual(new Set(descendants.map((j) => j.id)));
  }, 120_000);

  it("children raced against the cancel: each is refused (JOB_CANCELLING) or created before the accept and cancelled with the tree", async () => {
    const { a, b } = await twoNodes();
    const root = await a.submitJob({ name: "root", queue: "a", tasks: [{ key: "hold", handler: "submitOne", input: { spec: { queue: "b", command: ["sleep", "300"] } } }] });
    await until(() => a.listJobs({ parentJobId: root.id }), (p) => p.items.length === 1, 30_000);
    // Both nodes submit children under the root while node A cancels it.
    const attempts = Array.from({ length: 40 }, (_, i) =>
      (i % 2 === 0 ? a : b).submitChild({ jobId: root.id, taskKey: "hold" }, { name: `race-${i}`, queue: "b", command: ["sleep", "300"] }).then(
        (r) => ({ created: r.job }),
        (error: unknown) => ({ refused: (error as { code?: string }).code }),
      ),
    );
    const cancel = a.cancelJob(root.id, { reason: "race" });
    const results = await Promise.all(attempts);
    const { cancellation } = await cancel;
    for (const r of results) if ("refused" in r) expect(r.refused).toBe("JOB_CANCELLING");
    const record = await until(() => a.getCancellation(cancellation.id), (r) => r.status !== "in_progress", 60_000);
    const children = (await a.listJobs({ parentJobId: root.id }, { limit: 1000 })).items;
    // Every child that exists was committed before the accept, so the tree cancel found it.
    expect(new Set(record.descendants?.map((d) => d.jobId))).toEqual(new Set(children.map((c) => c.id)));
    for (const child of children) {
      expect(child.createdAt <= record.requestedAt).toBe(true);
      expect(isTerminalJob(child.status)).toBe(true);
    }
    await untilJobStatus(a, root.id, "cancelled");
  }, 90_000);
});
