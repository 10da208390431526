/** DESIGN §3: every row of the job cancel table, each outcome and error by its code. */
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

describe("job cancel, by job status", () => {
  it("queued: cancelled at once, record completed, with every step", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({ command: ["sleep", "10"] });
    const result = await engine.cancelJob(job.id, { reason: "not needed", requestedBy: "alice" });
    expect(result.job.status).toBe("cancelled");
    expect(result.alreadyCancelled).toBe(false);
    expect(result.cancellation.status).toBe("completed");
    expect(result.cancellation.reason).toBe("not needed");
    expect(result.cancellation.requestedBy).toBe("alice");
    expect(result.cancellation.steps.map((s) => [s.name, s.status])).toEqual([
      ["block_dispatch", "completed"],
      ["cancel_pending_tasks", "completed"],
      ["signal_runners", "skipped"],
      ["await_runners", "skipped"],
      ["force_kill", "skipped"],
      ["cleanup", "skipped"],
      ["finalize", "completed"],
    ]);
    expect(result.cancellation.tasks).toEqual([expect.objectContaining({ key: "main", outcome: "before_start" })]);
    expect(result.cancellation.affectedTasks).toEqual([{ key: "main", from: "pending", to: "cancelled" }]);
    const stored = await engine.getJob(job.id);
    expect(stored.status).toBe("cancelled");
    expect(stored.tasks[0]?.status).toBe("cancelled");
    expect(stored.cancellation?.id).toBe(result.cancellation.id);
  });

  it("running: cancelling with the record in progress, then cancelled when the runner has exited", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: ["sleep", "30"] });
    await untilTaskStatus(engine, job.id, "main", "running");
    const result = await engine.cancelJob(job.id, { reason: "stop" });
    expect(result.job.status).toBe("cancelling");
    expect(result.cancellation.status).toBe("in_progress");
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.id).toBe(result.cancellation.id);
    expect(record.status).toBe("completed");
    expect(record.steps.every((s) => s.status !== "pending" && s.status !== "running")).toBe(true);
    expect(record.runnersTerminated).toEqual({ graceful: 1, forced: 0 });
    const report = record.tasks[0];
    expect(report?.outcome).toBe("mid_run");
    expect(report?.mode).toBe("graceful");
    expect(report?.signalledAt).not.toBeNull();
    expect(report?.acknowledgedAt).not.toBeNull();
    expect(report?.stoppedAt).not.toBeNull();
    expect(record.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("cancelling: a repeat returns the same record, and force escalates it", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: ["sh", "-c", "trap '' TERM; sleep 30"], graceMs: 30_000 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await new Promise((r) => setTimeout(r, 100)); // let the shell install its trap
    const first = await engine.cancelJob(job.id);
    expect(first.job.status).toBe("cancelling");
    const repeat = await engine.cancelJob(job.id);
    expect(repeat.cancellation.id).toBe(first.cancellation.id);
    expect(repeat.job.status).toBe("cancelling");
    expect(repeat.alreadyCancelled).toBe(false);
    const forced = await engine.cancelJob(job.id, { force: true });
    expect(forced.cancellation.id).toBe(first.cancellation.id);
    expect(forced.cancellation.force).toBe(true);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(first.cancellation.id);
    expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 1 });
    expect(record.tasks[0]?.mode).toBe("forced");
  });

  it("cancelled: 200 with the same record and alreadyCancelled", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({ command: ["true"] });
    const first = await engine.cancelJob(job.id);
    const again = await engine.cancelJob(job.id, { reason: "again" });
    expect(again.alreadyCancelled).toBe(true);
    expect(again.cancellation.id).toBe(first.cancellation.id);
    expect(again.cancellation.reason).toBeNull();
    const list = await engine.listCancellations({ jobId: job.id });
    expect(list.total).toBe(1);
  });

  it.each(["succeeded", "failed", "partial"] as const)("%s: JOB_ALREADY_FINISHED", async (status) => {
    const engine = await openTestEngine();
    const spec =
      status === "succeeded"
        ? { command: ["true"] }
        : status === "failed"
          ? { command: ["false"] }
          : { tasks: [{ key: "a", command: ["sleep", "30"] }, { key: "b", command: ["true"] }] };
    const job = await engine.submitJob(spec);
    if (status === "partial") {
      await untilTaskStatus(engine, job.id, "a", "running");
      await engine.cancelTask(job.id, "a", { cascade: false });
    }
    await untilJobStatus(engine, job.id, status);
    expect(await codeOf(engine.cancelJob(job.id))).toBe("JOB_ALREADY_FINISHED");
  });

  it("started, with onlyIfPending: JOB_NOT_PENDING, and the job keeps running", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: ["sleep", "30"] });
    await untilTaskStatus(engine, job.id, "main", "running");
    expect(await codeOf(engine.cancelJob(job.id, { onlyIfPending: true }))).toBe("JOB_NOT_PENDING");
    expect((await engine.getJob(job.id)).status).toBe("running");
    expect((await engine.listCancellations({ jobId: job.id })).total).toBe(0);
  });

  it("queued, with onlyIfPending: cancelled", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({ command: ["true"] });
    const result = await engine.cancelJob(job.id, { onlyIfPending: true });
    expect(result.job.status).toBe("cancelled");
  });

  it("unknown id: JOB_NOT_FOUND", async () => {
    const engine = await openTestEngine();
    expect(await codeOf(engine.cancelJob("0190a7a4-0000-7000-8000-000000000000"))).toBe("JOB_NOT_FOUND");
  });

  it("bad options: INVALID_REQUEST (reason over 1000 chars, negative grace, unknown option)", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({ command: ["true"] });
    expect(await codeOf(engine.cancelJob(job.id, { reason: "x".repeat(1001) }))).toBe("INVALID_REQUEST");
    expect(await codeOf(engine.cancelJob(job.id, { graceMs: -1 }))).toBe("INVALID_REQUEST");
    expect(await codeOf(engine.cancelJob(job.id, { nope: 1 } as never))).toBe("INVALID_REQUEST");
    expect((await engine.getJob(job.id)).status).toBe("queued");
  });

  it("wait holds the result until the job is terminal", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: ["sleep", "30"] });
    await untilTaskStatus(engine, job.id, "main", "running");
    const result = await engine.cancelJob(job.id, { wait: true, waitMs: 20_000 });
    expect(result.job.status).toBe("cancelled");
    expect(result.cancellation.status).toBe("completed");
  });

  it("no task of a cancelled job starts afterwards (invariant 2)", async () => {
    const engine = await openTestEngine({ concurrency: 1 });
    const job = await engine.submitJob({
      tasks: [
        { key: "first", command: ["sleep", "30"] },
        { key: "second", command: ["true"], dependsOn: ["first"] },
        { key: "third", command: ["true"] },
      ],
    });
    await untilTaskStatus(engine, job.id, "first", "running");
    const started: string[] = [];
    engine.on("belay.task.started", (e) => {
      if (e.subject === job.id) started.push(String(e.data.taskKey));
    });
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(started).toEqual([]);
    expect(done.tasks.map((t) => t.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
  });
});
