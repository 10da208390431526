/** close(): running attempts are interrupted (not failed) and run again on the next open. */
import { describe, expect, it } from "vitest";
import { openTestEngine, tempHome, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

describe("close", () => {
  it("interrupts running tasks, which go back to pending without using a retry and run on the next open", async () => {
    const home = tempHome();
    const engine = await openTestEngine({ home });
    const job = await engine.submitJob({ command: "test -f \"$BELAY_ARTIFACTS/second\" && exit 0; touch \"$BELAY_ARTIFACTS/second\"; echo ready; sleep 30" });
    await untilTaskStatus(engine, job.id, "main", "running");
    // Close only once the first attempt has left its mark, or the second would sleep too.
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "ready"));
    await engine.close({ graceMs: 2000 });

    const again = await openTestEngine({ home });
    const done = await untilJobStatus(again, job.id, "succeeded");
    expect(done.tasks[0]?.attempt).toBe(2);
    expect(done.tasks[0]?.retriesUsed).toBe(0);
    const runners = await again.store.jobRunners(job.id);
    expect(runners.map((r) => r.attempt)).toEqual([1, 2]);
    expect(runners.every((r) => r.endedAt !== null)).toBe(true);
  });

  it("refuses new work once closed", async () => {
    const engine = await openTestEngine();
    await engine.close();
    await expect(engine.submitJob({ command: ["true"] })).rejects.toThrow(/closed/);
  });
});
