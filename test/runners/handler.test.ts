import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { HandlerRunner } from "../../src/runners/handler.ts";
import type { HandlerRunnerOptions } from "../../src/runners/handler.ts";
import type { Json } from "../../src/core/model.ts";
import type { RunContext } from "../../src/runners/types.ts";
import { makeContext, settledWithin } from "../fixtures/run-context.ts";
import type { TestContext } from "../fixtures/run-context.ts";

const modulePath = fileURLToPath(new URL("../fixtures/handlers.ts", import.meta.url));
const misbehavingModulePath = fileURLToPath(new URL("../fixtures/misbehaving-handlers.ts", import.meta.url));
const brokenModulePath = fileURLToPath(new URL("../fixtures/handlers-broken.ts", import.meta.url));

const runners: HandlerRunner[] = [];
const contexts: TestContext[] = [];

function newRunner(options: Partial<HandlerRunnerOptions> = {}): HandlerRunner {
  const runner = new HandlerRunner({ modulePath, ...options });
  runners.push(runner);
  return runner;
}

function ctxFor(handler: string, input: Json = null, extra: Partial<RunContext> = {}): TestContext {
  const ctx = makeContext({ key: `t-${handler}`, kind: "handler", handler: { handler, input } }, extra);
  contexts.push(ctx);
  return ctx;
}

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
  for (const ctx of contexts.splice(0)) ctx.cleanup();
});

describe("HandlerRunner: results", () => {
  it("passes input, context fields and lastCheckpoint; console and ctx.log go to the task log", async () => {
    const runner = newRunner();
    const ctx = ctxFor("echoContext", { x: [1, 2] }, { lastCheckpoint: { step: 41 }, attempt: 3 });
    const task = await runner.start(ctx);
    expect(task.identity).toEqual({ pid: null, pidStartTime: null, remoteId: null });
    const exit = await task.exited;
    expect(exit).toEqual({
      outcome: "succeeded",
      exitCode: null,
      signal: null,
      error: null,
      output: { input: { x: [1, 2] }, lastCheckpoint: { step: 41 }, jobId: "job-1", taskKey: "t-echoContext", attempt: 3, params: { p: 1 } },
      forced: false,
    });
    expect(ctx.lines("stdout")).toEqual(["console line 1"]);
    expect(ctx.lines("stderr")).toEqual(["console error line"]);
    expect(ctx.lines("log")).toEqual(["ctx log { a: 1 }"]);
  });

  it("undefined output becomes null; handlers of a default-exported object are found", async () => {
    const runner = newRunner();
    const a = await runner.start(ctxFor("returnsUndefined"));
    expect(await a.exited).toMatchObject({ outcome: "succeeded", output: null });
    const b = await runner.start(ctxFor("fromDefault"));
    expect(await b.exited).toMatchObject({ outcome: "succeeded", output: "default object handler" });
  });

  it("output that is not JSON fails the task", async () => {
    const runner = newRunner();
    const task = await runner.start(ctxFor("returnsFunction"));
    const exit = await task.exited;
    expect(exit.outcome).toBe("failed");
    expect(exit.error).toMatch(/not JSON-serializable/);
  });

  it("a thrown error fails the task with its message", async () => {
    const runner = newRunner();
    const task = await runner.start(ctxFor("fails", { why: "test" }));
    expect(await task.exited).toEqual({
      outcome: "failed",
      exitCode: null,
      signal: null,
      error: 'boom: {"why":"test"}',
      output: null,
      forced: false,
    });
  });

  it("an unknown handler fails with a clear error naming it", async () => {
    const runner = newRunner();
    const task = await runner.start(ctxFor("noSuchHandler"));
    const exit = await task.exited;
    expect(exit.outcome).toBe("failed");
    expect(exit.error).toMatch(/unknown handler "noSuchHandler"/);
    // Not exported as a function: not a handler either.
    const other = await runner.start(ctxFor("notAFunction"));
    expect((await other.exited).error).toMatch(/unknown handler "notAFunction"/);
  });

  it("a module that cannot be loaded fails the task, and listHandlerNames rejects", async () => {
    const runner = newRunner({ modulePath: brokenModulePath });
    const task = await runner.start(ctxFor("anything"));
    const exit = await task.exited;
    expect(exit.outcome).toBe("failed");
    expect(exit.error).toMatch(/cannot load handlers module.*broken on purpose/);
    await expect(runner.listHandlerNames()).rejects.toThrow(/broken on purpose/);
  });

  it("listHandlerNames lists named function exports and default-object functions", async () => {
    const runner = newRunner();
    expect(await runner.listHandlerNames()).toEqual([
      "busy",
      "cooperative",
      "echoContext",
      "fails",
      "fromDefault",
      "quick",
      "returnsFunction",
      "returnsUndefined",
      "stubborn",
    ]);
    expect(runner.threadCount).toBe(0); // a throwaway thread, not a pool slot
  });

  it("reuses an idle thread for the next handler", async () => {
    const runner = newRunner({ maxThreads: 4 });
    for (let i = 0; i < 3; i++) {
      const task = await runner.start(ctxFor("quick", i));
      expect(await task.exited).toMatchObject({ outcome: "succeeded", output: { echoed: i } });
    }
    expect(runner.threadCount).toBe(1);
  });

  it("queues starts beyond maxThreads and runs them when a thread frees up", async () => {
    const runner = newRunner({ maxThreads: 1 });
    const first = await runner.start(ctxFor("cooperative"));
    const secondCtx = ctxFor("quick", "second");
    const second = await runner.start(secondCtx);
    expect(await settledWithin(second.exited, 200)).toBe("pending");
    expect(runner.threadCount).toBe(1);
    await first.signal();
    expect(await first.exited).toMatchObject({ outcome: "succeeded" });
    expect(await second.exited).toMatchObject({ outcome: "succeeded", output: { echoed: "second" } });
  });

  it("a queued task that is signalled never runs", async () => {
    const runner = newRunner({ maxThreads: 1 });
    const first = await runner.start(ctxFor("cooperative"));
    const queuedCtx = ctxFor("cooperative");
    const queued = await runner.start(queuedCtx);
    expect(await queued.signal()).toBe(true);
    expect(await queued.exited).toMatchObject({ outcome: "failed", error: "cancelled before the handler started", forced: false });
    expect(queuedCtx.events).toEqual([]);
    await first.signal();
    await first.exited;
  });
});

describe("HandlerRunner: stopping", () => {
  it("a cooperative handler sees its signal and returns; progress and checkpoints arrive before the exit", async () => {
    const runner = newRunner();
    const ctx = ctxFor("cooperative");
    const task = await runner.start(ctx);
    void task.exited.then(() => ctx.events.push({ kind: "exit" }));
    await ctx.waitFor((e) => e.kind === "checkpoint" && (e.data as { step: number }).step >= 3);

    expect(await task.signal()).toBe(true);
    const exit = await task.exited;
    expect(exit.outcome).toBe("succeeded");
    expect(exit.forced).toBe(false);
    const stoppedAt = (exit.output as { stoppedAt: number }).stoppedAt;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);

    // Every step's progress and checkpoint, then the log line, all before the exit.
    const progress = ctx.progress();
    expect(progress).toHaveLength(stoppedAt);
    expect(progress[0]).toEqual({ ratio: 0.001, message: "step 1", data: { ratio: 0.001, message: "step 1", step: 1 } });
    expect(ctx.checkpoints().at(-1)).toEqual({ step: stoppedAt });
    expect(ctx.events.at(-2)).toEqual({ kind: "log", stream: "log", line: `stopping at step ${stoppedAt}` });
    expect(ctx.events.at(-1)).toEqual({ kind: "exit" });
  });

  it("a cooperative handler that throws on abort fails with its message", async () => {
    const runner = newRunner();
    const ctx = ctxFor("cooperative", { mode: "throw" });
    const task = await runner.start(ctx);
    await ctx.waitFor((e) => e.kind === "progress");
    expect(await task.signal()).toBe(true);
    const exit = await task.exited;
    expect(exit.outcome).toBe("failed");
    expect(exit.error).toMatch(/^aborted at step \d+$/);
  });

  it("a busy-looping handler never acks the signal; kill() stops it, signal() resolves false, the pool still works", async () => {
    const runner = newRunner({ maxThreads: 1 });
    const ctx = ctxFor("busy");
    const task = await runner.start(ctx);
    await ctx.waitFor((e) => e.kind === "progress");

    const signalled = task.signal();
    expect(await settledWithin(signalled, 200)).toBe("pending");
    expect(await settledWithin(task.exited, 50)).toBe("pending");

    await task.kill();
    expect(await signalled).toBe(false);
    const exit = await task.exited;
    expect(exit).toMatchObject({ outcome: "failed", forced: true, exitCode: null });
    expect(exit.error).toMatch(/terminated/);

    // The only pool slot was the killed thread's: a new handler still runs.
    const next = await runner.start(ctxFor("quick", "after"));
    expect(await next.exited).toMatchObject({ outcome: "succeeded", output: { echoed: "after" } });
    expect(runner.threadCount).toBe(1);
  });

  it("a handler that ignores its signal but yields acks it, and is stopped by kill()", async () => {
    const runner = newRunner();
    const ctx = ctxFor("stubborn");
    const task = await runner.start(ctx);
    await ctx.waitFor((e) => e.kind === "progress");
    expect(await task.signal()).toBe(true);
    expect(await settledWithin(task.exited, 200)).toBe("pending");
    await task.kill();
    expect(await task.exited).toMatchObject({ outcome: "failed", forced: true });
  });

  it("killing one handler's thread does not disturb another handler", async () => {
    const runner = newRunner({ maxThreads: 2 });
    const busyCtx = ctxFor("busy");
    const coopCtx = ctxFor("cooperative");
    const busy = await runner.start(busyCtx);
    const coop = await runner.start(coopCtx);
    await busyCtx.waitFor((e) => e.kind === "progress");
    await coopCtx.waitFor((e) => e.kind === "progress");

    await busy.kill();
    expect(await busy.exited).toMatchObject({ forced: true });
    const before = coopCtx.progress().length;
    await coopCtx.waitFor(() => coopCtx.progress().length > before + 2);
    expect(await coop.signal()).toBe(true);
    expect(await coop.exited).toMatchObject({ outcome: "succeeded", forced: false });
  });

  it("signal() and kill() after the end are no-ops", async () => {
    const runner = newRunner();
    const task = await runner.start(ctxFor("quick", 1));
    const exit = await task.exited;
    expect(await task.signal()).toBe(false);
    await task.kill();
    expect(await task.exited).toBe(exit);
    expect(exit.forced).toBe(false);
  });

  it("close() ends running handlers and refuses new starts", async () => {
    const runner = newRunner();
    const ctx = ctxFor("busy");
    const task = await runner.start(ctx);
    await ctx.waitFor((e) => e.kind === "progress");
    await runner.close();
    expect(await task.exited).toMatchObject({ outcome: "failed", error: "handler runner closed" });
    expect(runner.threadCount).toBe(0);
    await expect(runner.start(ctxFor("quick"))).rejects.toThrow(/closed/);
  });
});

describe("HandlerRunner: reusing the thread of a cancelled handler", () => {
  async function threadIdOf(runner: HandlerRunner): Promise<number> {
    const exit = await (await runner.start(ctxFor("threadId"))).exited;
    expect(exit.outcome).toBe("succeeded");
    return exit.output as number;
  }

  it("a cancelled handler that left nothing behind keeps its thread: the next handler runs on it", async () => {
    const runner = newRunner({ modulePath: misbehavingModulePath, maxThreads: 1 });
    const before = await threadIdOf(runner);
    const nap = await runner.start(ctxFor("nap", { ms: 5_000 }));
    expect(await nap.signal()).toBe(true);
    expect(await nap.exited).toMatchObject({ outcome: "succeeded", output: { slept: 5_000, aborted: true } });
    expect(await threadIdOf(runner)).toBe(before);
    expect(runner.threadCount).toBe(1);
  });

  it("a cancelled handler that left a timer behind loses its thread: the next handler gets a new one and is not failed by the timer", async () => {
    const runner = newRunner({ modulePath: misbehavingModulePath, maxThreads: 1 });
    const before = await threadIdOf(runner);
    const ctx = ctxFor("leavesTimerThatThrows");
    const leaves = await runner.start(ctx);
    await ctx.waitFor((e) => e.kind === "progress");
    expect(await leaves.signal()).toBe(true);
    expect(await leaves.exited).toMatchObject({ outcome: "succeeded", output: { stopped: true } });
    expect(await threadIdOf(runner)).not.toBe(before);
    // The leftover timer fires 300 ms after the cancel: a handler running then is not failed.
    const nap = await runner.start(ctxFor("nap", { ms: 600 }));
    expect(await nap.exited).toMatchObject({ outcome: "succeeded", output: { slept: 600, aborted: false } });
  });
});
