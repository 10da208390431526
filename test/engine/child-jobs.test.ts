/**
 * Child jobs and tree cancels (DESIGN §7) on the embedded SQLite store, with real handler
 * threads and real processes: a tree whose leaves keep spawning while its root is cancelled,
 * `job` tasks ending with their child, detach, the depth limit.
 */
import { describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import { isTerminalJob } from "../../src/core/states.ts";
import { openTestEngine, tempHome, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

const treeHandlers = new URL("../fixtures/tree-handlers.ts", import.meta.url).pathname;

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

describe("tree cancel", () => {
  it("a depth-3 tree whose leaves keep spawning ends with nothing running and no child created after the accept", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers, concurrency: 40 });
    const events: BelayEvent[] = [];
    engine.on("*", (e) => events.push(e));
    const root = await engine.submitJob({ name: "root", tasks: [{ key: "spawn", handler: "spawner", input: { depth: 0, leafDepth: 2, fanout: 2, everyMs: 15 } }] });
    // 1 root, 2 at depth 1, 4 leaves at depth 2, and their process children at depth 3.
    await until(() => treeJobs(engine, root.id), (jobs) => jobs.filter((j) => j.depth === 3).length >= 8 && jobs.some((j) => j.depth === 3 && j.status === "running"), 60_000);

    const { cancellation } = await engine.cancelJob(root.id, { reason: "tree test" });
    const acceptedAt = cancellation.requestedAt;
    const record = await until(() => engine.getCancellation(cancellation.id), (r) => r.status !== "in_progress", 60_000);
    expect(record.status).toBe("completed");
    expect(record.steps.find((s) => s.name === "cancel_children")?.status).toBe("completed");

    const jobs = await treeJobs(engine, root.id);
    const descendants = jobs.filter((j) => j.id !== root.id);
    expect(Math.max(...jobs.map((j) => j.depth))).toBe(3);
    // Nothing is left running: every job of the tree has ended, every runner has exited.
    for (const job of jobs) expect(isTerminalJob(job.status), `${job.name} ${job.status}`).toBe(true);
    expect(await engine.store.liveRunners()).toEqual([]);
    // No child was created after the cancel was accepted (the store refused them: JOB_CANCELLING).
    for (const job of descendants) expect(job.createdAt <= acceptedAt, `${job.name} created ${job.createdAt} after ${acceptedAt}`).toBe(true);
    // The record lists every descendant with its own record.
    expect(new Set(record.descendants?.map((d) => d.jobId))).toEqual(new Set(descendants.map((j) => j.id)));
    for (const entry of record.descendants ?? []) {
      expect(entry.outcome).toBe("cancelled");
      const own = await engine.getCancellation(entry.cancellationId!);
      expect(own.parentId).toBe(record.id);
      expect(own.status).not.toBe("in_progress");
    }
    const leaves = jobs.filter((j) => j.depth === 2);
    for (const leaf of leaves) {
      const output = leaf.tasks[0]?.output as { refusal?: string | null } | null;
      // A leaf either was refused (JOB_CANCELLING) or saw its abort first; it never made a child after the accept.
      if (output?.refusal !== undefined && output.refusal !== null) expect(output.refusal).toBe("JOB_CANCELLING");
    }
    const completed = events.find((e) => e.type === "belay.cancellation.tree_completed" && e.subject === root.id);
    expect(completed?.data).toMatchObject({ cancellationId: record.id, descendants: descendants.length, cancelled: descendants.length, alreadyEnded: 0, detached: 0 });
  }, 120_000);

  it("refuses a child under a cancelled tree with JOB_CANCELLING, decided by the store", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers });
    const root = await engine.submitJob({ tasks: [{ key: "hold", handler: "submitOne", input: { spec: { command: ["sleep", "300"] } } }] });
    const child = await until(() => treeJobs(engine, root.id), (jobs) => jobs.length === 2).then((jobs) => jobs[1]!);
    await engine.cancelJob(root.id, { reason: "stop" });
    // Under the root, and under its child (the tree), no child can be created any more.
    await expect(engine.submitChild({ jobId: root.id, taskKey: "hold" }, { command: ["true"] })).rejects.toMatchObject({ code: "JOB_CANCELLING" });
    await expect(engine.submitChild({ jobId: child.id, taskKey: "main" }, { command: ["true"] })).rejects.toMatchObject({ code: "JOB_CANCELLING" });
    await untilJobStatus(engine, root.id, "cancelled");
    await untilJobStatus(engine, child.id, "cancelled");
  }, 60_000);

  it("leaves a detached child running when its parent is cancelled, and counts it", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers });
    const root = await engine.submitJob({ tasks: [{ key: "hold", handler: "submitOne", input: { spec: { onParentCancel: "detach", command: ["sleep", "300"] } } }] });
    const child = await until(() => treeJobs(engine, root.id), (jobs) => jobs.length === 2 && jobs[1]!.status === "running").then((jobs) => jobs[1]!);
    expect(child.onParentCancel).toBe("detach");
    const { cancellation } = await engine.cancelJob(root.id, { wait: true, waitMs: 30_000 });
    expect(cancellation.status).toBe("completed");
    expect(cancellation.descendants).toEqual([expect.objectContaining({ jobId: child.id, outcome: "detached" })]);
    expect((await engine.getJob(child.id)).status).toBe("running");
    // A detached job is outside its parent's tree: it may still get children.
    const grandchild = await engine.submitChild({ jobId: child.id, taskKey: "main" }, { command: ["true"] });
    expect(grandchild.job.parentJobId).toBe(child.id);
    await engine.cancelJob(child.id, { force: true, wait: true, waitMs: 30_000 });
  }, 60_000);
});

describe("job tasks", () => {
  it("a job task runs its child and succeeds with it, its output carrying the child's", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers });
    const job = await engine.submitJob({ tasks: [{ key: "sub", kind: "job", job: { name: "inner", tasks: [{ key: "e", handler: "echo", input: { x: 1 } }] } }] });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    const output = done.tasks[0]!.output as { jobId: string; status: string; outputs: Record<string, unknown> };
    expect(output).toMatchObject({ status: "succeeded", outputs: { e: { x: 1 } } });
    const child = await engine.getJob(output.jobId);
    expect(child).toMatchObject({ name: "inner", parentJobId: job.id, parentTaskKey: "sub", depth: 1, owner: job.owner });
  }, 60_000);

  it("a job task ends cancelled when its child is cancelled", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers });
    const job = await engine.submitJob({ tasks: [{ key: "sub", kind: "job", job: { command: ["sleep", "300"] } }] });
    const child = await until(() => engine.listJobs({ parentJobId: job.id }), (page) => page.items[0]?.status === "running").then((p) => p.items[0]!);
    await engine.cancelJob(child.id, { reason: "child only" });
    const parent = await untilTaskStatus(engine, job.id, "sub", "cancelled");
    expect(parent.tasks[0]!.error).toContain("cancelled");
    await until(() => engine.getJob(job.id), (j) => isTerminalJob(j.status));
  }, 60_000);

  it("cancelling the parent cancels a job task's child, and the record waits for it", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers });
    const job = await engine.submitJob({ tasks: [{ key: "sub", kind: "job", job: { command: ["sleep", "300"] } }] });
    const child = await until(() => engine.listJobs({ parentJobId: job.id }), (page) => page.items[0]?.status === "running").then((p) => p.items[0]!);
    const { cancellation } = await engine.cancelJob(job.id, { wait: true, waitMs: 30_000 });
    expect(cancellation.status).toBe("completed");
    expect(cancellation.descendants).toEqual([expect.objectContaining({ jobId: child.id, outcome: "cancelled", status: "cancelled" })]);
    expect((await engine.getJob(job.id)).status).toBe("cancelled");
  }, 60_000);
});

describe("job tasks across a restart", () => {
  it("a shutdown is an interruption, not a cancel: the child is not cancelled, and the next attempt follows the same child", async () => {
    const home = tempHome();
    const first = await openTestEngine({ home, handlers: treeHandlers });
    const job = await first.submitJob({ tasks: [{ key: "sub", kind: "job", job: { name: "inner", command: ["sh", "-c", "sleep 2"] } }] });
    const child = await until(() => first.listJobs({ parentJobId: job.id }), (page) => page.items[0]?.status === "running").then((p) => p.items[0]!);
    await first.close({ graceMs: 200 });

    const second = await openTestEngine({ home, handlers: treeHandlers });
    const done = await until(() => second.getJob(job.id), (j) => isTerminalJob(j.status), 60_000);
    expect(done.status).toBe("succeeded");
    expect(done.tasks[0]!.attempt).toBeGreaterThan(1);
    expect((done.tasks[0]!.output as { jobId: string }).jobId).toBe(child.id);
    const children = await second.listJobs({ parentJobId: job.id });
    expect(children.items.map((c) => c.id)).toEqual([child.id]);
    expect(children.items[0]!.cancellation).toBeNull();
  }, 90_000);
});

describe("depth limit", () => {
  it("refuses a child past the depth limit with a clear 400", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers, maxChildDepth: 2 });
    const root = await engine.submitJob({ command: ["sleep", "300"] });
    const one = await engine.submitChild({ jobId: root.id, taskKey: "main" }, { command: ["sleep", "300"] });
    const two = await engine.submitChild({ jobId: one.job.id, taskKey: "main" }, { command: ["sleep", "300"] });
    expect(two.job.depth).toBe(2);
    const refused = await engine.submitChild({ jobId: two.job.id, taskKey: "main" }, { command: ["true"] }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "INVALID_REQUEST", details: { field: "parentJobId", limit: 2, depth: 3 } });
    expect((refused as Error).message).toContain("depth limit of 2");
    await engine.cancelJob(root.id, { force: true, wait: true, waitMs: 30_000 });
    expect((await engine.getJob(two.job.id)).status).toBe("cancelled");
  }, 60_000);

  it("refuses job tasks nested deeper than the limit at submit", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers });
    let spec: Record<string, unknown> = { command: ["true"] };
    for (let i = 0; i < 9; i += 1) spec = { tasks: [{ key: `n${i}`, kind: "job", job: spec }] };
    await expect(engine.submitJob(spec)).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });

  it("a handler may wait only for its own children", async () => {
    const engine = await openTestEngine({ handlers: treeHandlers });
    const other = await engine.submitJob({ command: ["true"] });
    const job = await engine.submitJob({ tasks: [{ key: "p", handler: "peek", input: { jobId: other.id } }] });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks[0]!.output).toEqual({ refused: "JOB_NOT_FOUND" });
  });
});
