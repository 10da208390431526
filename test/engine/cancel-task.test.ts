/** DESIGN §3 "Task cancel": cascade, no cascade, per-edge policy, errors. */
import { describe, expect, it } from "vitest";
import { isBelayError } from "../../src/core/errors.ts";
import { openTestEngine, untilJobStatus, untilTaskStatus } from "../helpers.ts";

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isBelayError(error)) return error.code;
    throw error;
  }
  throw new Error("expected a BelayError");
}

const chain = {
  tasks: [
    { key: "fetch", command: ["sleep", "30"] },
    { key: "build", command: ["true"], dependsOn: ["fetch"] },
    { key: "test", command: ["true"], dependsOn: ["build"] },
  ],
};

describe("task cancel", () => {
  it("cascade (default) cancels every transitive dependent; the job ends partial", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob(chain);
    await untilTaskStatus(engine, job.id, "fetch", "running");
    const result = await engine.cancelTask(job.id, "fetch", { reason: "wrong branch" });
    expect(result.cancellation.scope).toBe("task");
    expect(result.cancellation.taskKey).toBe("fetch");
    expect(result.cancellation.cascade).toBe(true);
    const done = await untilJobStatus(engine, job.id, "partial");
    expect(done.tasks.map((t) => [t.key, t.status])).toEqual([
      ["fetch", "cancelled"],
      ["build", "cancelled"],
      ["test", "cancelled"],
    ]);
    const record = await engine.getCancellation(result.cancellation.id);
    expect(record.status).toBe("completed");
    expect(record.tasks.map((r) => [r.key, r.outcome]).sort()).toEqual([
      ["build", "before_start"],
      ["fetch", "mid_run"],
      ["test", "before_start"],
    ]);
  });

  it("cascade: false lets the dependents run as if the task were skipped", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob(chain);
    await untilTaskStatus(engine, job.id, "fetch", "running");
    await engine.cancelTask(job.id, "fetch", { cascade: false });
    const done = await untilJobStatus(engine, job.id, "partial");
    expect(done.tasks.map((t) => [t.key, t.status])).toEqual([
      ["fetch", "cancelled"],
      ["build", "succeeded"],
      ["test", "succeeded"],
    ]);
  });

  it("a pending task: cancelled at once, the record completed", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob(chain);
    await untilTaskStatus(engine, job.id, "fetch", "running");
    const result = await engine.cancelTask(job.id, "test");
    expect(result.cancellation.status).toBe("completed");
    expect((await engine.getJob(job.id)).tasks.find((t) => t.key === "test")?.status).toBe("cancelled");
    await engine.cancelJob(job.id);
  });

  it("the edge's own policy applies when the request does not say", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      tasks: [
        { key: "source", command: ["sleep", "30"] },
        { key: "report", command: ["true"], dependsOn: [{ key: "source", onCancel: "skip" }] },
        { key: "publish", command: ["true"], dependsOn: [{ key: "source", onCancel: "cascade" }] },
      ],
    });
    await untilTaskStatus(engine, job.id, "source", "running");
    await engine.cancelTask(job.id, "source");
    const done = await untilJobStatus(engine, job.id, "partial");
    expect(Object.fromEntries(done.tasks.map((t) => [t.key, t.status]))).toEqual({
      source: "cancelled",
      report: "succeeded",
      publish: "cancelled",
    });
  });

  it("a request's cascade overrides the edges' policy", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      tasks: [
        { key: "source", command: ["sleep", "30"] },
        { key: "report", command: ["true"], dependsOn: [{ key: "source", onCancel: "skip" }] },
      ],
    });
    await untilTaskStatus(engine, job.id, "source", "running");
    await engine.cancelTask(job.id, "source", { cascade: true });
    const done = await untilJobStatus(engine, job.id, "partial");
    expect(done.tasks.map((t) => t.status)).toEqual(["cancelled", "cancelled"]);
  });

  it("repeats return the same record; errors by code", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ tasks: [{ key: "a", command: ["sleep", "30"] }, { key: "b", command: ["true"] }] });
    await untilTaskStatus(engine, job.id, "b", "succeeded");
    expect(await codeOf(engine.cancelTask(job.id, "b"))).toBe("TASK_ALREADY_FINISHED");
    expect(await codeOf(engine.cancelTask(job.id, "nope"))).toBe("TASK_NOT_FOUND");
    expect(await codeOf(engine.cancelTask("0190a7a4-0000-7000-8000-000000000000", "a"))).toBe("JOB_NOT_FOUND");
    const first = await engine.cancelTask(job.id, "a");
    const again = await engine.cancelTask(job.id, "a");
    expect(again.cancellation.id).toBe(first.cancellation.id);
    await untilJobStatus(engine, job.id, "partial");
    const after = await engine.cancelTask(job.id, "a").catch((e: unknown) => e);
    expect(isBelayError(after, "JOB_ALREADY_FINISHED")).toBe(true);
  });
});
