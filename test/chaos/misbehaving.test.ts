/**
 * Runners that misbehave when they are stopped: a fork bomb in the task's process group, a
 * group that keeps forking while it is killed, a process that closes its output early and
 * runs on, handlers that throw after their abort (in every way a thread can), handlers that
 * never settle. Each cancel ends with the job cancelled, one finished record and no survivor.
 * (A process that ignores SIGTERM: test/engine/process-stop.test.ts.)
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import { isRunning, liveGroupMembers } from "../fixtures/proc-inspect.ts";
import { openTestEngine, until, untilJobStatus } from "../helpers.ts";
import { killSurvivors, survivors } from "./processes.ts";

const handlers = new URL("../fixtures/misbehaving-handlers.ts", import.meta.url).pathname;
const tags: string[] = [];
afterEach(() => {
  for (const tag of tags.splice(0)) killSurvivors(tag);
});

function newTag(): string {
  const tag = randomBytes(6).toString("hex");
  tags.push(tag);
  return tag;
}

async function runnerPid(engine: Belay, jobId: string): Promise<number> {
  const runners = await until(() => engine.store.jobRunners(jobId), (r) => r[0]?.pid !== null && r[0]?.pid !== undefined);
  return runners[0]!.pid!;
}

async function expectCancelledCleanly(engine: Belay, jobId: string): Promise<void> {
  const job = await untilJobStatus(engine, jobId, "cancelled");
  expect(job.tasks.map((t) => t.status)).toEqual(["cancelled"]);
  const record = await engine.getCancellation(jobId);
  expect(record.status).toBe("completed");
  expect(record.steps.filter((s) => s.status === "pending" || s.status === "running")).toEqual([]);
  expect(await engine.store.liveRunners()).toEqual([]);
}

describe("misbehaving processes", () => {
  it("a fork bomb of 200 children that ignore SIGTERM: the cancel leaves no survivor", { timeout: 60_000 }, async () => {
    const engine = await openTestEngine();
    const tag = newTag();
    const job = await engine.submitJob({
      command: `: chaos-${tag}; trap '' TERM; i=0; while [ $i -lt 200 ]; do sleep 120 & i=$((i+1)); done; echo forked; wait`,
      env: { CHAOS_TAG: tag },
      graceMs: 300,
    });
    const pid = await runnerPid(engine, job.id);
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "forked"), 30_000);
    expect(liveGroupMembers(pid).length).toBeGreaterThanOrEqual(201);

    await engine.cancelJob(job.id, { reason: "fork bomb" });
    await expectCancelledCleanly(engine, job.id);
    expect(liveGroupMembers(pid)).toEqual([]);
    expect(survivors(tag)).toEqual([]);
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]?.mode).toBe("forced");
  });

  it("a group that keeps forking while it is killed: no survivor", { timeout: 60_000 }, async () => {
    const engine = await openTestEngine();
    const tag = newTag();
    const job = await engine.submitJob({
      // Forks without pause (at most 2,000 children), each child forking a grandchild.
      command: `: chaos-${tag}; trap '' TERM; echo forking; i=0; while [ $i -lt 2000 ]; do (sleep 120 & sleep 120) & i=$((i+1)); done; wait`,
      env: { CHAOS_TAG: tag },
      graceMs: 100,
    });
    const pid = await runnerPid(engine, job.id);
    await until(async () => liveGroupMembers(pid).length, (n) => n >= 50, 30_000);
    await engine.cancelJob(job.id, { reason: "still forking" });
    await expectCancelledCleanly(engine, job.id);
    expect(liveGroupMembers(pid)).toEqual([]);
    expect(survivors(tag)).toEqual([]);
  });

  it("a process that closes stdout and stderr early and runs on is still running, and still stopped", { timeout: 30_000 }, async () => {
    const engine = await openTestEngine();
    const tag = newTag();
    const job = await engine.submitJob({
      command: `: chaos-${tag}; echo early; echo early-err >&2; exec >&- 2>&-; trap '' TERM; while true; do sleep 0.2; done`,
      env: { CHAOS_TAG: tag },
      graceMs: 300,
    });
    const pid = await runnerPid(engine, job.id);
    await until(() => engine.getLogs(job.id), (lines) => lines.length >= 2);
    // Its pipes are closed, its process is not: the task is running, not finished.
    await new Promise((r) => setTimeout(r, 300));
    expect(isRunning(pid)).toBe(true);
    expect((await engine.getJob(job.id)).tasks[0]?.status).toBe("running");

    await engine.cancelJob(job.id);
    await expectCancelledCleanly(engine, job.id);
    expect(survivors(tag)).toEqual([]);
    // What it wrote before closing is kept.
    expect((await engine.getLogs(job.id)).map((l) => l.line).sort()).toEqual(["early", "early-err"]);
  });

  it("a process that closes its output early and later exits 0 succeeded, with its output", { timeout: 30_000 }, async () => {
    const engine = await openTestEngine();
    const tag = newTag();
    const job = await engine.submitJob({ command: `: chaos-${tag}; echo said; exec >&- 2>&-; sleep 0.5; exit 0`, env: { CHAOS_TAG: tag } });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks[0]?.exitCode).toBe(0);
    expect((await engine.getLogs(job.id)).map((l) => l.line)).toEqual(["said"]);
    expect(survivors(tag)).toEqual([]);
  });
});

describe("misbehaving handlers", () => {
  async function cancelRunning(engine: Belay, handler: string, graceMs = 2000): Promise<string> {
    const job = await engine.submitJob({ handler, graceMs });
    await until(() => engine.getJobEvents(job.id), (events) => events.some((e) => e.type === "belay.task.progress"));
    await engine.cancelJob(job.id, { reason: `stop ${handler}` });
    await expectCancelledCleanly(engine, job.id);
    return job.id;
  }

  /** After a misbehaving handler, the node's handler threads still run the next one. */
  async function expectHandlersStillRun(engine: Belay): Promise<void> {
    const next = await engine.submitJob({ handler: "nap", input: { ms: 50 } });
    const done = await untilJobStatus(engine, next.id, "succeeded");
    expect(done.tasks[0]?.output).toEqual({ slept: 50, aborted: false });
  }

  for (const handler of ["throwsAfterAbort", "throwsStringAfterAbort", "throwsUncaughtAfterAbort", "rejectsUnhandledAfterAbort"]) {
    it(`${handler}: the task is cancelled, the record completed, the pool unharmed`, async () => {
      const engine = await openTestEngine({ handlers, maxHandlerThreads: 1 });
      const jobId = await cancelRunning(engine, handler);
      const record = await engine.getCancellation(jobId);
      expect(record.tasks[0]?.outcome).toBe("mid_run");
      await expectHandlersStillRun(engine);
    });
  }

  it("a handler that ignores its signal and never settles is stopped at the end of its grace, forced", async () => {
    const engine = await openTestEngine({ handlers, maxHandlerThreads: 1 });
    const jobId = await cancelRunning(engine, "neverResolves", 300);
    const record = await engine.getCancellation(jobId);
    expect(record.tasks[0]?.mode).toBe("forced");
    expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 1 });
    await expectHandlersStillRun(engine);
  });

  it("a timer an earlier handler left behind, throwing later, does not fail the next handler on its thread", async () => {
    const engine = await openTestEngine({ handlers, maxHandlerThreads: 1 });
    await cancelRunning(engine, "leavesTimerThatThrows");
    // The next handler runs on the same (only) thread while the leftover timer fires.
    const next = await engine.submitJob({ handler: "nap", input: { ms: 800 } });
    const done = await until(() => engine.getJob(next.id), (j) => ["succeeded", "failed"].includes(j.status));
    const task = done.tasks[0];
    expect(task).toMatchObject({ status: "succeeded", output: { slept: 800, aborted: false } });
  });
});
