import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessRunner, parseProgressLine } from "../../src/runners/process.ts";
import type { ProcessSpec } from "../../src/core/model.ts";
import type { RunningTask } from "../../src/runners/types.ts";
import { makeContext, settledWithin } from "../fixtures/run-context.ts";
import type { TestContext } from "../fixtures/run-context.ts";
import { eventually, isRunning, killGroupQuietly, liveGroupMembers, startTimeOf } from "../fixtures/proc-inspect.ts";

const runner = new ProcessRunner();
const started: RunningTask[] = [];
const contexts: TestContext[] = [];

function ctxFor(process: ProcessSpec): TestContext {
  const ctx = makeContext({ key: "t", kind: "process", process });
  contexts.push(ctx);
  return ctx;
}

async function start(ctx: TestContext): Promise<RunningTask> {
  const task = await runner.start(ctx);
  started.push(task);
  return task;
}

/** Pids a script printed as `pid <n>` lines on stdout. */
async function printedPids(ctx: TestContext, count: number): Promise<number[]> {
  await ctx.waitFor(() => ctx.lines("stdout").filter((l) => l.startsWith("pid ")).length >= count);
  return ctx
    .lines("stdout")
    .filter((l) => l.startsWith("pid "))
    .map((l) => Number(l.slice(4)));
}

afterEach(() => {
  // Never leave a process behind, whatever a failing test did.
  for (const task of started.splice(0)) killGroupQuietly(task.identity.pid);
  for (const ctx of contexts.splice(0)) ctx.cleanup();
});

describe("ProcessRunner: output", () => {
  it("captures stdout and stderr lines in order, including a final line without newline", async () => {
    const ctx = ctxFor({
      command: "printf 'one\\ntwo\\n'; printf 'err1\\nerr2\\n' >&2; printf 'three\\r\\nfour'; printf 'lasterr' >&2",
    });
    const task = await start(ctx);
    const exit = await task.exited;
    expect(exit).toEqual({ outcome: "succeeded", exitCode: 0, signal: null, error: null, output: null, forced: false });
    expect(ctx.lines("stdout")).toEqual(["one", "two", "three", "four"]);
    expect(ctx.lines("stderr")).toEqual(["err1", "err2", "lasterr"]);
  });

  it("turns BELAY_PROGRESS lines into progress updates, logs them too, and survives invalid JSON", async () => {
    const ctx = ctxFor({
      command: [
        "sh",
        "-c",
        [
          `echo 'BELAY_PROGRESS {"ratio":0.25,"message":"quarter","data":{"energy":-1.5}}'`,
          `echo 'BELAY_PROGRESS {not json'`,
          `echo 'BELAY_PROGRESS {"ratio":1}'`,
          `echo done`,
        ].join("; "),
      ],
    });
    const task = await start(ctx);
    const exit = await task.exited;
    expect(exit.outcome).toBe("succeeded");
    expect(ctx.progress()).toEqual([
      { ratio: 0.25, message: "quarter", data: { ratio: 0.25, message: "quarter", data: { energy: -1.5 } } },
      { ratio: 1, data: { ratio: 1 } },
    ]);
    expect(ctx.lines("stdout")).toEqual([
      `BELAY_PROGRESS {"ratio":0.25,"message":"quarter","data":{"energy":-1.5}}`,
      "BELAY_PROGRESS {not json",
      `BELAY_PROGRESS {"ratio":1}`,
      "done",
    ]);
  });

  it("splits an over-long line and reassembles multi-byte characters across chunks", async () => {
    const small = new ProcessRunner({ maxLineLength: 10 });
    // 'é' is 0xc3 0xa9: the first byte comes in one write, the second 50 ms later.
    const script = [
      "process.stdout.write('x'.repeat(25) + '\\n' + 'éé');",
      "process.stdout.write(Buffer.from([0xc3]));",
      "setTimeout(() => process.stdout.write(Buffer.from([0xa9, 0x0a])), 50);",
    ].join("");
    const ctx = ctxFor({ command: [process.execPath, "-e", script] });
    const task = await small.start(ctx);
    started.push(task);
    await task.exited;
    expect(ctx.lines("stdout")).toEqual(["x".repeat(10), "x".repeat(10), "x".repeat(5), "ééé"]);
  });

  it("passes BELAY_* env, spec env and cwd; files written to $BELAY_ARTIFACTS remain", async () => {
    const ctx = ctxFor({
      command: [
        "sh",
        "-c",
        'echo "$BELAY_JOB_ID|$BELAY_TASK_KEY|$BELAY_ATTEMPT|$EXTRA"; echo "$BELAY_WORK_DIR"; echo "$BELAY_ARTIFACTS"; pwd; echo result > "$BELAY_ARTIFACTS/out.txt"',
      ],
      env: { EXTRA: "extra-value" },
    });
    const task = await start(ctx);
    expect((await task.exited).outcome).toBe("succeeded");
    const [ids, workDir, artifacts, cwd] = ctx.lines("stdout");
    expect(ids).toBe("job-1|t|1|extra-value");
    expect(workDir).toBe(ctx.workDir);
    expect(artifacts).toBe(ctx.artifactsDir);
    expect(realpathSync(cwd!)).toBe(realpathSync(ctx.workDir));
    expect(readFileSync(join(ctx.artifactsDir, "out.txt"), "utf8")).toBe("result\n");
  });

  it("resolves a relative cwd against the work dir", async () => {
    const ctx = ctxFor({ command: "pwd", cwd: "." });
    const task = await start(ctx);
    await task.exited;
    expect(realpathSync(ctx.lines("stdout")[0]!)).toBe(realpathSync(ctx.workDir));
  });
});

describe("ProcessRunner: exit", () => {
  it("a non-zero exit code fails the task", async () => {
    const ctx = ctxFor({ command: "echo before; exit 3" });
    const task = await start(ctx);
    const exit = await task.exited;
    expect(exit).toEqual({ outcome: "failed", exitCode: 3, signal: null, error: "exited with code 3", output: null, forced: false });
    expect(ctx.lines("stdout")).toEqual(["before"]);
  });

  it("start rejects when the command does not exist (ENOENT)", async () => {
    const ctx = ctxFor({ command: ["/nonexistent/belay-no-such-command", "x"] });
    await expect(runner.start(ctx)).rejects.toThrow(/belay-no-such-command.*ENOENT/);
  });

  it("start rejects when the cwd does not exist, naming the directory", async () => {
    const ctx = ctxFor({ command: ["true"], cwd: "no-such-dir" });
    await expect(runner.start(ctx)).rejects.toThrow(/no-such-dir/);
  });

  it("identity holds the pid and the start time /proc reports for it", async () => {
    const ctx = ctxFor({ command: ["sleep", "30"] });
    const task = await start(ctx);
    const { pid, pidStartTime, remoteId } = task.identity;
    expect(pid).toBeGreaterThan(1);
    expect(remoteId).toBeNull();
    expect(pidStartTime).toMatch(/^\d+$/);
    expect(startTimeOf(pid!)).toBe(pidStartTime);
    expect(liveGroupMembers(pid!)).toEqual([pid]); // its own process group, pgid == pid
    await task.kill();
    await task.exited;
  });

  it("after a normal exit of the leader, members left in the group are killed (no hang)", async () => {
    const ctx = ctxFor({ command: "sleep 300 & echo pid $!; trap '' TERM; exit 0" });
    const task = await start(ctx);
    const [child] = await printedPids(ctx, 1);
    const childStart = startTimeOf(child!);
    const exit = await task.exited;
    expect(exit.outcome).toBe("succeeded");
    expect(exit.forced).toBe(false);
    expect(isRunning(child!, childStart)).toBe(false);
    expect(liveGroupMembers(task.identity.pid!)).toEqual([]);
  });
});

describe("ProcessRunner: stopping", () => {
  it("a process that exits on SIGTERM: signal() alone ends it, forced false", async () => {
    const ctx = ctxFor({ command: ["sleep", "30"] });
    const task = await start(ctx);
    expect(await task.signal()).toBe(true);
    const exit = await task.exited;
    expect(exit).toEqual({ outcome: "failed", exitCode: null, signal: "SIGTERM", error: "killed by SIGTERM", output: null, forced: false });
    expect(liveGroupMembers(task.identity.pid!)).toEqual([]);
    // Gone: later stops are no-ops that say so.
    expect(await task.signal()).toBe(false);
    await task.kill();
  });

  it("keeps output written before the stop", async () => {
    const ctx = ctxFor({ command: "trap 'echo got TERM; exit 143' TERM; echo started; while true; do sleep 0.05; done" });
    const task = await start(ctx);
    await ctx.waitFor((e) => e.kind === "log" && e.line === "started");
    expect(await task.signal()).toBe(true);
    const exit = await task.exited;
    expect(exit.exitCode).toBe(143);
    expect(exit.forced).toBe(false);
    expect(ctx.lines("stdout")).toEqual(["started", "got TERM"]);
  });

  it("a process that ignores SIGTERM is still running after signal(), and gone after kill(), forced true", async () => {
    const ctx = ctxFor({ command: "trap '' TERM; echo ready; sleep 30" });
    const task = await start(ctx);
    const pid = task.identity.pid!;
    await ctx.waitFor((e) => e.kind === "log" && e.line === "ready");
    expect(await task.signal()).toBe(true);
    expect(await settledWithin(task.exited, 300)).toBe("pending");
    expect(isRunning(pid, task.identity.pidStartTime)).toBe(true);

    await task.kill();
    const exit = await task.exited;
    expect(exit).toMatchObject({ outcome: "failed", signal: "SIGKILL", error: "killed by SIGKILL", forced: true });
    expect(liveGroupMembers(pid)).toEqual([]);
  });

  it("a shell with background children: signal() stops the whole group", async () => {
    const ctx = ctxFor({ command: "sleep 300 & echo pid $!; sleep 300 & echo pid $!; wait" });
    const task = await start(ctx);
    const pgid = task.identity.pid!;
    const children = await printedPids(ctx, 2);
    const starts = children.map((pid) => startTimeOf(pid));
    expect(liveGroupMembers(pgid).sort()).toEqual([pgid, ...children].sort());

    expect(await task.signal()).toBe(true);
    const exit = await task.exited;
    expect(exit.forced).toBe(false);
    expect(liveGroupMembers(pgid)).toEqual([]);
    children.forEach((pid, i) => expect(isRunning(pid, starts[i])).toBe(false));
  });

  it("background children that ignore SIGTERM keep the task from exiting until kill(), and none survives", async () => {
    // The leader shell dies on SIGTERM; its children ignore it and are reparented. The task
    // is not exited while they live, however long that is.
    // Each child prints its pid only once its trap is installed.
    const child = `sh -c 'trap "" TERM; echo pid $$; exec sleep 300'`;
    const ctx = ctxFor({ command: `${child} & ${child} & wait` });
    const task = await start(ctx);
    const pgid = task.identity.pid!;
    const children = await printedPids(ctx, 2);
    const starts = children.map((pid) => startTimeOf(pid));

    expect(await task.signal()).toBe(true);
    await eventually(() => !isRunning(pgid, task.identity.pidStartTime), 10_000, "the leader to die of SIGTERM");
    expect(await settledWithin(task.exited, 300)).toBe("pending");
    expect(liveGroupMembers(pgid).length).toBeGreaterThanOrEqual(2);

    await task.kill();
    const exit = await task.exited;
    expect(exit.forced).toBe(true);
    // The leader died of SIGTERM before the kill: that is what the exit reports.
    expect(exit.signal).toBe("SIGTERM");
    expect(liveGroupMembers(pgid)).toEqual([]);
    children.forEach((pid, i) => expect(isRunning(pid, starts[i])).toBe(false));
  });

  it("kill() without signal() stops a group at once", async () => {
    const ctx = ctxFor({ command: "sleep 300 & echo pid $!; wait" });
    const task = await start(ctx);
    const [child] = await printedPids(ctx, 1);
    await task.kill();
    const exit = await task.exited;
    expect(exit).toMatchObject({ outcome: "failed", signal: "SIGKILL", forced: true });
    expect(isRunning(child!)).toBe(false);
  });

  it("does not wait forever for pipes held open by a process that escaped the group", async () => {
    // setsid moves the grandchild out of the group, holding stdout open; the task still ends.
    const ctx = ctxFor({ command: "setsid sleep 300 & echo pid $!; echo leaving" });
    const task = await start(ctx);
    try {
      const exit = await task.exited;
      expect(exit.outcome).toBe("succeeded");
      expect(ctx.lines("stdout")).toContain("leaving");
    } finally {
      const escaped = ctx.lines("stdout").find((l) => l.startsWith("pid "));
      if (escaped !== undefined) killGroupQuietly(Number(escaped.slice(4)));
    }
  });
});

describe("parseProgressLine", () => {
  it("accepts objects only and pulls out ratio and message; says why anything else was not read", () => {
    expect(parseProgressLine(`{"ratio":0.5}`)).toEqual({ update: { ratio: 0.5, data: { ratio: 0.5 } } });
    expect(parseProgressLine(`{"ratio":"x","message":3}`)).toEqual({ update: { data: { ratio: "x", message: 3 } } });
    expect(parseProgressLine("0.5")).toEqual({ error: "not a JSON object (a number)" });
    expect(parseProgressLine("[1]")).toEqual({ error: "not a JSON object (an array)" });
    expect(parseProgressLine("{")).toMatchObject({ error: expect.stringMatching(/^not JSON \(/) });
  });
});
