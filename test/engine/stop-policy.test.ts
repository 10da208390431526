/**
 * The stop policy (src/engine/stop-policy.ts), the one owner of signal → grace → kill, on real
 * processes: a run is killed once whichever path gets there first, a stop asked for before the
 * runner started is delivered when it starts, and the cancel record stays as it was.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ActiveRun } from "../../src/engine/active-run.ts";
import { StopPolicy } from "../../src/engine/stop-policy.ts";
import { ProcessRunner } from "../../src/runners/process.ts";
import type { RunnerExit, RunningTask } from "../../src/runners/types.ts";
import { makeContext } from "../fixtures/run-context.ts";
import type { TestContext } from "../fixtures/run-context.ts";
import { killGroupQuietly, liveGroupMembers } from "../fixtures/proc-inspect.ts";
import { openTestEngine, until, untilJobStatus } from "../helpers.ts";

const runner = new ProcessRunner();
const started: RunningTask[] = [];
const contexts: TestContext[] = [];

afterEach(() => {
  for (const task of started.splice(0)) killGroupQuietly(task.identity.pid);
  for (const ctx of contexts.splice(0)) ctx.cleanup();
});

/** A real process runner's task, counting the signals and kills the policy sends it. */
async function startCounted(command: string): Promise<{ task: RunningTask; ctx: TestContext; sent: { signals: number; kills: number } }> {
  const ctx = makeContext({ key: "main", kind: "process", process: { command } });
  contexts.push(ctx);
  const real = await runner.start(ctx);
  started.push(real);
  const sent = { signals: 0, kills: 0 };
  const task: RunningTask = {
    identity: real.identity,
    exited: real.exited,
    signal: () => {
      sent.signals += 1;
      return real.signal();
    },
    kill: () => {
      sent.kills += 1;
      return real.kill();
    },
  };
  await ctx.waitFor((e) => e.kind === "log" && e.line === "ready");
  return { task, ctx, sent };
}

function activeRun(running: RunningTask | null, exited: Promise<RunnerExit> | null): ActiveRun {
  return {
    jobId: "job-1",
    key: "main",
    attempt: 1,
    kind: "process",
    running,
    signalSent: false,
    signalledAt: null,
    acknowledgedAt: null,
    forced: false,
    stopWhenStarted: null,
    interrupted: false,
    done: exited === null ? new Promise(() => undefined) : exited.then(() => null),
    chain: Promise.resolve(),
    queuedWrites: [],
    workDir: null,
    recorded: false,
  };
}

const stubborn = "trap '' TERM; echo ready; while true; do sleep 0.05; done";

describe("the stop policy", () => {
  it("kills a run whose grace ran out once: the force_kill that follows does not kill it again", async () => {
    const policy = new StopPolicy({ now: () => new Date().toISOString() });
    const { task, sent } = await startCounted(stubborn);
    const run = activeRun(task, task.exited);
    expect(policy.signal(run)).toBe(true);
    expect(policy.signal(run)).toBe(false);
    await policy.awaitGrace([{ run, graceMs: 200 }]); // await_runners: the grace ran out, the run is killed
    expect(sent).toEqual({ signals: 1, kills: 1 });
    expect(policy.kill(run)).toBe(false); // force_kill: the run is still exiting, and already killed
    const exit = await task.exited;
    expect(exit.forced).toBe(true);
    expect(sent).toEqual({ signals: 1, kills: 1 });
    expect(liveGroupMembers(task.identity.pid ?? 0)).toEqual([]);
  });

  it("a forced stop, repeated (a forced repeat heard twice), kills once", async () => {
    const policy = new StopPolicy({ now: () => new Date().toISOString() });
    const { task, sent } = await startCounted(stubborn);
    const run = activeRun(task, task.exited);
    expect(policy.stop([{ run, graceMs: 10_000 }], { force: true })).toEqual([run]);
    expect(policy.stop([{ run, graceMs: 10_000 }], { force: true })).toEqual([]);
    await task.exited;
    expect(sent).toEqual({ signals: 0, kills: 1 });
    expect(run.signalSent).toBe(true);
  });

  it("delivers a signal asked for before the runner started as soon as it starts", async () => {
    const policy = new StopPolicy({ now: () => new Date().toISOString() });
    const run = activeRun(null, null);
    expect(policy.signal(run)).toBe(true); // the runner is still starting
    const { task, ctx, sent } = await startCounted("trap 'echo stopping; exit 0' TERM; echo ready; while true; do sleep 0.05; done");
    run.running = task;
    policy.started(run);
    const exit = await task.exited;
    expect(sent).toEqual({ signals: 1, kills: 0 });
    expect(exit.forced).toBe(false);
    expect(ctx.lines("stdout")).toContain("stopping");
  });
});

describe("a cancel through the stop policy", () => {
  it("keeps the record of a runner killed at the end of its grace: one forced stop, force_kill completed with its key", async () => {
    const engine = await openTestEngine();
    try {
      const job = await engine.submitJob({ command: stubborn, graceMs: 300 });
      await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "ready"));
      await engine.cancelJob(job.id, { reason: "stubborn" });
      await untilJobStatus(engine, job.id, "cancelled");
      const record = await until(() => engine.getCancellation(job.id), (r) => r.status !== "in_progress");
      expect(record.status).toBe("completed");
      expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 1 });
      expect(record.tasks[0]?.mode).toBe("forced");
      const step = (name: string) => record.steps.find((s) => s.name === name);
      expect(step("signal_runners")?.detail).toEqual({ signalled: 1, force: false });
      expect(step("await_runners")?.detail).toEqual({ exited: 0, remaining: 1, escalated: false });
      expect(step("force_kill")?.status).toBe("completed");
      expect(step("force_kill")?.detail).toEqual({ killed: 1, keys: ["main"] });
    } finally {
      await engine.close();
    }
  });
});
