/** DESIGN §5 Logs: each cancellation step is one pino JSON line with jobId, cancellationId, step, durationMs. */
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { openTestEngine, untilJobStatus, untilTaskStatus } from "../helpers.ts";

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split("\n")) if (text !== "") lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

const steps = ["block_dispatch", "cancel_pending_tasks", "signal_runners", "await_runners", "force_kill", "cleanup", "finalize"];

describe("cancellation step logs", () => {
  it("a running job's cancellation writes exactly one line per step", async () => {
    const { logger, lines } = capture();
    const engine = await openTestEngine({ logger });
    const job = await engine.submitJob({ command: ["sleep", "30"] });
    await untilTaskStatus(engine, job.id, "main", "running");
    const { cancellation } = await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const stepLines = lines.filter((l) => l["msg"] === "cancellation step" && l["cancellationId"] === cancellation.id);
    expect(stepLines.map((l) => l["step"])).toEqual(steps);
    for (const line of stepLines) {
      expect(line["jobId"]).toBe(job.id);
      expect(typeof line["durationMs"]).toBe("number");
      expect(line["durationMs"]).toBeGreaterThanOrEqual(0);
    }
  });

  it("a queued job's cancellation logs its steps too", async () => {
    const { logger, lines } = capture();
    const engine = await openTestEngine({ logger, concurrency: 0 });
    const job = await engine.submitJob({ command: ["true"] });
    const { cancellation } = await engine.cancelJob(job.id);
    const stepLines = lines.filter((l) => l["msg"] === "cancellation step" && l["cancellationId"] === cancellation.id);
    expect(stepLines.map((l) => l["step"])).toEqual(steps);
  });
});
