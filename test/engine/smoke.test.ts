import { describe, expect, it } from "vitest";
import { openTestEngine, untilJobStatus } from "../helpers.ts";

describe("engine smoke", () => {
  it("runs a process job to success", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ name: "echo", command: ["sh", "-c", "echo hello"] });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks[0]?.exitCode).toBe(0);
    const logs = await engine.getLogs(job.id);
    expect(logs.map((l) => l.line)).toContain("hello");
  });

  it("runs a handler job to success", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ handler: "sleepy", input: { ms: 5 } });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks[0]?.output).toEqual({ slept: 5 });
  });
});
