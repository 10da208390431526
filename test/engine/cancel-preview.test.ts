/**
 * A cancel's dry run (DESIGN §7 "Preview"): it answers what the cancel would do — tasks and
 * runners to stop, compensations, descendants — from the cancel's own planner, and changes
 * nothing in the store: no record, no event, no state change.
 */
import { describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import { openTestEngine, until, untilJobStatus } from "../helpers.ts";

/** Everything a cancel could change, read from the store. */
async function storeState(engine: Belay, jobId: string): Promise<unknown> {
  const [job, events, records] = await Promise.all([engine.getJob(jobId), engine.getJobEvents(jobId, { limit: 10_000 }), engine.listCancellations({ jobId })]);
  // Progress of a running task is not the cancel's doing: compare states, events by type, records.
  return {
    status: job.status,
    cancellation: job.cancellation,
    tasks: job.tasks.map((t) => [t.key, t.status, t.attempt]),
    events: events.filter((e) => e.type !== "belay.task.progress").map((e) => e.seq),
    records: records.total,
  };
}

const spec = {
  name: "preview",
  graceMs: 1500,
  tasks: [
    { key: "long", kind: "process", command: ["sh", "-c", "echo up; sleep 60"] },
    { key: "after", kind: "process", command: ["true"], dependsOn: ["long"] },
    { key: "undo", kind: "process", command: ["true"], runOn: "cancel" },
  ],
};

describe("cancel preview (dryRun)", () => {
  it("lists the tasks, runners and compensations a job cancel would touch, changes nothing, and matches the real cancel", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob(spec);
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "up"));
    const before = await storeState(engine, job.id);

    const answer = await engine.cancelJob(job.id, { dryRun: true, reason: "just looking" });
    expect(answer.cancellation).toBeNull();
    expect(answer.dryRun).toBe(true);
    expect(answer.job.status).toBe("running");
    const preview = answer.preview;
    expect(preview).toMatchObject({
      jobId: job.id,
      taskKey: null,
      scope: "job",
      outcome: "cancel",
      jobStatus: { from: "running", to: "cancelling" },
      completesAtOnce: false,
      compensations: [{ key: "undo", kind: "process" }],
      descendants: [],
    });
    expect(preview.tasks).toEqual(expect.arrayContaining([{ key: "after", from: "pending", to: "cancelled" }, { key: "long", from: "running", to: "cancelling" }]));
    expect(preview.runners).toEqual([{ key: "long", kind: "process", attempt: 1, nodeId: engine.nodeId, stop: "signal", graceMs: 1500 }]);
    expect(preview.steps).toEqual(["block_dispatch", "cancel_pending_tasks", "signal_runners", "await_runners", "force_kill", "cleanup", "compensate", "finalize"]);
    expect(await storeState(engine, job.id)).toEqual(before);

    const forced = await engine.cancelJob(job.id, { dryRun: true, force: true });
    expect(forced.preview.runners).toEqual([expect.objectContaining({ key: "long", stop: "kill", graceMs: 0 })]);
    expect(await storeState(engine, job.id)).toEqual(before);

    // The real cancel does what the preview said.
    const real = await engine.cancelJob(job.id, { reason: "now for real" });
    expect(real.cancellation.steps.map((s) => s.name)).toEqual(preview.steps);
    expect(real.cancellation.tasks.filter((t) => t.outcome === "mid_run").map((t) => [t.key, t.graceMs])).toEqual([["long", 1500]]);
    expect(real.cancellation.affectedTasks).toEqual([{ key: "after", from: "pending", to: "cancelled" }]);
    await untilJobStatus(engine, job.id, "cancelled");
  });

  it("previews a task cancel with and without cascade", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob(spec);
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "up"));
    const before = await storeState(engine, job.id);

    const cascade = await engine.cancelTask(job.id, "long", { dryRun: true });
    expect(cascade.preview).toMatchObject({ scope: "task", taskKey: "long", outcome: "cancel", jobStatus: { from: "running", to: "running" }, compensations: [], descendants: [] });
    expect(cascade.preview.tasks).toEqual(expect.arrayContaining([{ key: "long", from: "running", to: "cancelling" }, { key: "after", from: "pending", to: "cancelled" }]));
    expect(cascade.preview.runners.map((r) => r.key)).toEqual(["long"]);

    const alone = await engine.cancelTask(job.id, "long", { dryRun: true, cascade: false });
    expect(alone.preview.tasks).toEqual([{ key: "long", from: "running", to: "cancelling" }]);
    expect(await storeState(engine, job.id)).toEqual(before);
  });

  it("is refused as the cancel would be, and previews a repeat as a repeat", async () => {
    const engine = await openTestEngine();
    const done = await engine.submitJob({ command: ["true"] });
    await untilJobStatus(engine, done.id, "succeeded");
    await expect(engine.cancelJob(done.id, { dryRun: true })).rejects.toMatchObject({ code: "JOB_ALREADY_FINISHED" });
    // The same planner, so the same refusal as the real cancel.
    await expect(engine.cancelTask(done.id, "nope", { dryRun: true })).rejects.toMatchObject({ code: "TASK_NOT_FOUND" });
    await expect(engine.cancelTask(done.id, "nope")).rejects.toMatchObject({ code: "TASK_NOT_FOUND" });
    await expect(engine.cancelTask(done.id, "main", { dryRun: true })).rejects.toMatchObject({ code: "JOB_ALREADY_FINISHED" });
    await expect(engine.cancelJob("01a24e07-1191-757b-9f20-61604482fee3", { dryRun: true })).rejects.toMatchObject({ code: "JOB_NOT_FOUND" });

    const queued = await openTestEngine({ concurrency: 0 });
    const waiting = await queued.submitJob({ command: ["true"] });
    const preview = (await queued.cancelJob(waiting.id, { dryRun: true })).preview;
    expect(preview).toMatchObject({ outcome: "cancel", jobStatus: { from: "queued", to: "cancelled" }, completesAtOnce: true, runners: [], tasks: [{ key: "main", from: "pending", to: "cancelled" }] });
    await queued.cancelJob(waiting.id);
    const repeat = (await queued.cancelJob(waiting.id, { dryRun: true })).preview;
    expect(repeat).toMatchObject({ outcome: "repeat", tasks: [], runners: [] });
  });
  it("lists the child jobs a job cancel would reach, and a detached child it would leave running", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      tasks: [
        { key: "sub", kind: "job", job: { name: "child", command: ["sleep", "300"] } },
        { key: "free", kind: "job", job: { name: "free", command: ["sleep", "300"], onParentCancel: "detach" } },
      ],
    });
    const tree = await until(() => engine.getJobTree(job.id), (t) => t.count === 3 && t.root.children.every((c) => c.job.status === "running"));
    const child = tree.root.children.find((c) => c.job.name === "child")!.job;
    const free = tree.root.children.find((c) => c.job.name === "free")!.job;
    const before = await storeState(engine, child.id);
    const answer = await engine.cancelJob(job.id, { dryRun: true });
    expect(answer.preview.descendants).toEqual(
      expect.arrayContaining([
        { jobId: child.id, onParentCancel: "cancel", status: "running" },
        { jobId: free.id, onParentCancel: "detach", status: "running" },
      ]),
    );
    expect(answer.preview.descendants).toHaveLength(2);
    expect(await storeState(engine, child.id)).toEqual(before);
    // A task cancel reaches no descendant through the tree walk.
    expect((await engine.cancelTask(job.id, "sub", { dryRun: true })).preview.descendants).toEqual([]);
    await engine.cancelJob(job.id, { force: true });
    await engine.cancelJob(free.id, { force: true });
    await untilJobStatus(engine, child.id, "cancelled");
  });
});
