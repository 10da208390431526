/**
 * The stall watchdog (DESIGN §7 `stallTimeoutMs`): real handlers and processes that go silent
 * are cancelled by the system with reason `stalled`; one that keeps logging is not.
 */
import { describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import type { CancellationRecord, Job } from "../../src/core/model.ts";
import { openTestEngine, untilJobStatus, untilTaskStatus } from "../helpers.ts";

const stallMs = 1000;
const pollMs = 200;
/** The machine is shared: the sweep, the cancel's transaction and a stall-deadline write may each wait a little. */
const slackMs = 400;

async function expectStalledWithinOnePoll(engine: Belay, jobId: string, key: string): Promise<void> {
  const running = await untilTaskStatus(engine, jobId, key, "running");
  const startedAtMs = Date.parse(running.tasks.find((t) => t.key === key)?.startedAt ?? "");
  const done = await until(engine, jobId, (job) => job.tasks.find((t) => t.key === key)?.status === "cancelled");
  // The record ends (its cleanup step) just after the task does.
  const record = await untilRecordEnds(engine, done.cancellation?.id ?? jobId);
  expect(record).toMatchObject({ scope: "task", taskKey: key, requestedBy: "system", reason: "stalled" });
  const afterMs = Date.parse(record.requestedAt) - startedAtMs;
  // Not before its stall timeout, and no later than one poll after it.
  expect(afterMs).toBeGreaterThanOrEqual(stallMs);
  expect(afterMs).toBeLessThanOrEqual(stallMs + pollMs + slackMs);
  expect(record.status).toBe("completed");
}

async function untilRecordEnds(engine: Belay, id: string): Promise<CancellationRecord> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const record = await engine.getCancellation(id);
    if (record.status !== "in_progress" || Date.now() > deadline) return record;
    await new Promise((r) => setTimeout(r, 10));
  }
}

function until(engine: Belay, id: string, check: (job: Job) => boolean): Promise<Job> {
  return (async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const job = await engine.getJob(id);
      if (check(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} never matched; last: ${JSON.stringify(job.tasks.map((t) => [t.key, t.status]))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
}

describe("stall watchdog", () => {
  it("cancels a silent handler within its stall timeout plus one poll, with a `stalled` record", async () => {
    const engine = await openTestEngine({ pollIntervalMs: pollMs });
    const job = await engine.submitJob({ tasks: [{ key: "hang", handler: "sleepy", input: { ms: 60_000 }, stallTimeoutMs: stallMs }] });
    await expectStalledWithinOnePoll(engine, job.id, "hang");
  });

  it("cancels a silent process (sleep) the same way, and kills it", async () => {
    const engine = await openTestEngine({ pollIntervalMs: pollMs });
    const job = await engine.submitJob({ tasks: [{ key: "hang", command: ["sleep", "60"], stallTimeoutMs: stallMs }] });
    await expectStalledWithinOnePoll(engine, job.id, "hang");
    const runners = await engine.store.jobRunners(job.id);
    expect(runners.length).toBe(1);
    expect(runners[0]?.endedAt).not.toBeNull();
    // The process group is gone.
    const pid = runners[0]?.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(-pid, 0)).toThrow();
  });

  it("applies a job-level stallTimeoutMs to its tasks", async () => {
    const engine = await openTestEngine({ pollIntervalMs: pollMs });
    const job = await engine.submitJob({ stallTimeoutMs: stallMs, tasks: [{ key: "hang", command: ["sleep", "60"] }] });
    expect(job.tasks[0]?.spec.stallTimeoutMs).toBe(stallMs);
    await expectStalledWithinOnePoll(engine, job.id, "hang");
  });

  it("does not cancel a task that keeps logging, and it ends on its own", async () => {
    const engine = await openTestEngine({ pollIntervalMs: pollMs });
    // Silent for 300 ms at a time, 12 times: 3.6 s in all, more than three stall timeouts.
    const script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo tick $i; sleep 0.3; done";
    const job = await engine.submitJob({ tasks: [{ key: "chatty", command: ["sh", "-c", script], stallTimeoutMs: stallMs }] });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.cancellation).toBeNull();
    expect((await engine.getLogs(job.id, { taskKey: "chatty" })).length).toBe(12);
  });

  it("leaves a task without stallTimeoutMs alone", async () => {
    const engine = await openTestEngine({ pollIntervalMs: pollMs });
    const job = await engine.submitJob({ tasks: [{ key: "quiet", handler: "sleepy", input: { ms: 2000 } }] });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.cancellation).toBeNull();
  });

  it("releases the stalled task's pool slot for the next task", async () => {
    const engine = await openTestEngine({ pollIntervalMs: pollMs, pools: { gpu: 1 } });
    const stuck = await engine.submitJob({ tasks: [{ key: "hang", command: ["sleep", "60"], uses: ["gpu"], stallTimeoutMs: stallMs }] });
    await untilTaskStatus(engine, stuck.id, "hang", "running");
    const next = await engine.submitJob({ tasks: [{ key: "work", command: ["true"], uses: ["gpu"] }] });
    await untilJobStatus(engine, next.id, "succeeded");
    expect((await engine.getJob(stuck.id)).tasks[0]?.status).toBe("cancelled");
  });
});
