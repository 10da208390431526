/** Handlers: a cooperative one sees its signal; one that ignores it in a busy loop is still stopped. */
import { describe, expect, it } from "vitest";
import { openTestEngine, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

describe("stopping handlers", () => {
  it("a cooperative handler sees signal.aborted and its partial progress is kept", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ handler: "converge", input: { steps: 100_000 } });
    await until(() => engine.getJobEvents(job.id), (events) => events.filter((e) => e.type === "belay.task.progress").length >= 5);
    await engine.cancelJob(job.id, { reason: "converged enough" });
    const done = await untilJobStatus(engine, job.id, "cancelled");
    const task = done.tasks[0];
    expect(task?.status).toBe("cancelled");
    // The handler returned on abort: its output says so, and the last checkpoint is kept.
    expect(task?.output).toMatchObject({ aborted: true });
    const step = (task?.output as { step: number }).step;
    expect((task?.checkpoint as { step: number }).step).toBe(step);
    const points = (await engine.getJobEvents(job.id)).filter((e) => e.type === "belay.task.progress");
    expect(points.length).toBe(step);
    expect(points.at(-1)?.data["data"]).toMatchObject({ step, energy: -1 - 1 / step });
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]?.mode).toBe("graceful");
    expect(record.tasks[0]?.acknowledgedAt).not.toBeNull();
  });

  it("a handler that ignores its signal in a busy loop is stopped at the end of the grace period", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ handler: "spin", graceMs: 300 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await new Promise((r) => setTimeout(r, 100));
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]?.mode).toBe("forced");
    expect(record.tasks[0]?.acknowledgedAt).toBeNull();
    expect(record.runnersTerminated.forced).toBe(1);
    // The node still runs handlers afterwards.
    const next = await engine.submitJob({ handler: "noop" });
    await untilJobStatus(engine, next.id, "succeeded");
  });

  it("resume gives a handler its last checkpoint; succeeded tasks keep their results", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      tasks: [
        { key: "prepare", handler: "noop" },
        { key: "simulate", handler: "converge", input: { steps: 100_000 }, dependsOn: ["prepare"] },
      ],
    });
    await until(() => engine.getJobEvents(job.id), (events) => events.filter((e) => e.type === "belay.task.progress").length >= 3);
    await engine.cancelJob(job.id);
    const cancelled = await untilJobStatus(engine, job.id, "cancelled");
    const reached = (cancelled.tasks[1]?.checkpoint as { step: number }).step;
    const prepareFinished = cancelled.tasks[0]?.finishedAt;
    const resumed = await engine.resumeJob(job.id);
    expect(resumed.attempt).toBe(2);
    expect(resumed.status).toBe("queued");
    await until(() => engine.getJob(job.id), (j) => j.tasks[1]?.status === "running" && (j.tasks[1].checkpoint as { step: number }).step > reached);
    const running = await engine.getJob(job.id);
    expect(running.tasks[0]?.status).toBe("succeeded");
    expect(running.tasks[0]?.finishedAt).toBe(prepareFinished);
    expect(running.tasks[1]?.attempt).toBe(2);
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const events = await engine.getJobEvents(job.id);
    expect(events.some((e) => e.type === "belay.job.resumed")).toBe(true);
    // The second attempt started from the checkpoint: its first progress point follows the last one kept.
    const firstOfSecond = events.find((e) => e.type === "belay.task.progress" && e.data["attempt"] === 2);
    expect((firstOfSecond?.data["data"] as { step: number }).step).toBe(reached + 1);
  });

  it("resume refuses a running or succeeded job: JOB_NOT_RESUMABLE", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ handler: "noop" });
    await untilJobStatus(engine, job.id, "succeeded");
    await expect(engine.resumeJob(job.id)).rejects.toMatchObject({ code: "JOB_NOT_RESUMABLE" });
  });
});
