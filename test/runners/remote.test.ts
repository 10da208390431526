import { afterEach, describe, expect, it } from "vitest";
import { RemoteRunner } from "../../src/runners/remote.ts";
import type { RemoteAdapter, RemotePollResult, RemoteSubmitContext } from "../../src/runners/remote.ts";
import type { Json } from "../../src/core/model.ts";
import { makeContext, settledWithin } from "../fixtures/run-context.ts";
import type { TestContext } from "../fixtures/run-context.ts";

/** An in-memory remote service: the test moves its jobs between states. */
class FakeRemote implements RemoteAdapter {
  readonly jobs = new Map<string, RemotePollResult>();
  readonly submitted: { input: Json; ctx: RemoteSubmitContext }[] = [];
  readonly cancelled: string[] = [];
  polls = 0;
  /** How cancel behaves: accept (job becomes cancelled), refuse (throws), hang (never settles), accept-but-keep-running. */
  cancelMode: "accept" | "refuse" | "hang" | "accept-later" = "accept";
  submitError: Error | null = null;
  pollError: Error | null = null;
  #next = 1;

  async submit(input: Json, ctx: RemoteSubmitContext): Promise<{ remoteId: string }> {
    if (this.submitError !== null) throw this.submitError;
    const remoteId = `r-${this.#next++}`;
    this.submitted.push({ input, ctx });
    this.jobs.set(remoteId, { state: "queued" });
    return { remoteId };
  }

  async poll(remoteId: string): Promise<RemotePollResult> {
    this.polls++;
    if (this.pollError !== null) throw this.pollError;
    const job = this.jobs.get(remoteId);
    if (job === undefined) throw new Error(`no job ${remoteId}`);
    return job;
  }

  cancel(remoteId: string): Promise<void> {
    this.cancelled.push(remoteId);
    switch (this.cancelMode) {
      case "accept":
        this.jobs.set(remoteId, { state: "cancelled" });
        return Promise.resolve();
      case "accept-later":
        return Promise.resolve();
      case "refuse":
        return Promise.reject(new Error("service says no"));
      case "hang":
        return new Promise<void>(() => {});
    }
  }
}

const runners: RemoteRunner[] = [];
const contexts: TestContext[] = [];

function setup(options: { cancelTimeoutMs?: number; maxPollFailures?: number } = {}): { fake: FakeRemote; runner: RemoteRunner } {
  const fake = new FakeRemote();
  const runner = new RemoteRunner({ adapters: { fake }, pollIntervalMs: 10, ...options });
  runners.push(runner);
  return { fake, runner };
}

function ctxFor(adapter = "fake", input: Json = { n: 1 }): TestContext {
  const ctx = makeContext({ key: "remote", kind: "remote", remote: { adapter, input } });
  contexts.push(ctx);
  return ctx;
}

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
  for (const ctx of contexts.splice(0)) ctx.cleanup();
});

describe("RemoteRunner", () => {
  it("submits, forwards changed progress, and succeeds with the remote output", async () => {
    const { fake, runner } = setup();
    const ctx = ctxFor();
    const task = await runner.start(ctx);
    expect(task.identity).toEqual({ pid: null, pidStartTime: null, remoteId: "r-1" });
    expect(fake.submitted).toEqual([{ input: { n: 1 }, ctx: { jobId: "job-1", taskKey: "remote", attempt: 1, params: { p: 1 }, lastCheckpoint: null } }]);

    fake.jobs.set("r-1", { state: "running", progress: { ratio: 0.5, message: "half" } });
    await ctx.waitFor((e) => e.kind === "progress");
    const polls = fake.polls;
    await ctx.waitFor(() => fake.polls > polls + 2);
    expect(ctx.progress()).toEqual([{ ratio: 0.5, message: "half" }]); // the same progress is not repeated

    fake.jobs.set("r-1", { state: "succeeded", output: { answer: 42 } });
    expect(await task.exited).toEqual({ outcome: "succeeded", exitCode: null, signal: null, error: null, output: { answer: 42 }, forced: false });
    expect(task.remoteCancel).toBeUndefined();
  });

  it("a failed remote job fails the task with its error", async () => {
    const { fake, runner } = setup();
    const task = await runner.start(ctxFor());
    fake.jobs.set("r-1", { state: "failed", error: "out of quota" });
    expect(await task.exited).toMatchObject({ outcome: "failed", error: "out of quota" });
  });

  it("start rejects for an unknown adapter or a failed submit", async () => {
    const { fake, runner } = setup();
    await expect(runner.start(ctxFor("nope"))).rejects.toThrow(/unknown remote adapter "nope"/);
    fake.submitError = new Error("503");
    await expect(runner.start(ctxFor())).rejects.toThrow(/remote submit to "fake" failed: 503/);
  });

  it("signal() cancels the remote job; the task ends when the remote reports it cancelled", async () => {
    const { fake, runner } = setup();
    const task = await runner.start(ctxFor());
    fake.cancelMode = "accept-later";
    expect(await task.signal()).toBe(true);
    expect(fake.cancelled).toEqual(["r-1"]);
    expect(task.remoteCancel).toEqual({ attempted: true, cancelled: true, error: null, remoteId: expect.any(String) });
    // Accepted but not yet done remotely: still running locally.
    expect(await settledWithin(task.exited, 100)).toBe("pending");
    fake.jobs.set("r-1", { state: "cancelled" });
    expect(await task.exited).toMatchObject({ outcome: "failed", error: "remote job cancelled", forced: false });
  });

  it("a refused cancel is recorded and the task still ends", async () => {
    const { fake, runner } = setup();
    const task = await runner.start(ctxFor());
    fake.cancelMode = "refuse";
    expect(await task.signal()).toBe(false);
    expect(task.remoteCancel).toEqual({ attempted: true, cancelled: false, error: "service says no", remoteId: expect.any(String) });
    expect(await task.exited).toMatchObject({ outcome: "failed", error: "remote cancel failed: service says no", forced: false });
  });

  it("a cancel that hangs times out, is recorded, and the task still ends", async () => {
    const { fake, runner } = setup({ cancelTimeoutMs: 100 });
    const task = await runner.start(ctxFor());
    fake.cancelMode = "hang";
    expect(await task.signal()).toBe(false);
    expect(task.remoteCancel).toEqual({ attempted: true, cancelled: false, error: "timed out after 100 ms", remoteId: expect.any(String) });
    expect(await task.exited).toMatchObject({ outcome: "failed", error: "remote cancel failed: timed out after 100 ms" });
  });

  it("kill() stops tracking at once, sending a best-effort cancel", async () => {
    const { fake, runner } = setup();
    const task = await runner.start(ctxFor());
    fake.cancelMode = "hang";
    await task.kill();
    expect(await task.exited).toMatchObject({ outcome: "failed", forced: true });
    expect(fake.cancelled).toEqual(["r-1"]);
    expect(await task.signal()).toBe(false);
  });

  it("fails after maxPollFailures consecutive failed polls, logging each", async () => {
    const { fake, runner } = setup({ maxPollFailures: 3 });
    const ctx = ctxFor();
    fake.pollError = new Error("connection refused");
    const task = await runner.start(ctx);
    expect(await task.exited).toMatchObject({ outcome: "failed", error: "remote poll failed: connection refused" });
    expect(ctx.lines("log")).toHaveLength(3);
  });

  it("close() ends tracked tasks and refuses new starts", async () => {
    const { runner } = setup();
    const task = await runner.start(ctxFor());
    await runner.close();
    expect(await task.exited).toMatchObject({ outcome: "failed", error: "remote runner closed" });
    await expect(runner.start(ctxFor())).rejects.toThrow(/closed/);
  });
});
