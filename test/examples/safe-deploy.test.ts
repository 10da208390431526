/**
 * examples/safe-deploy: a cancel preview changes nothing, the stall watchdog cancels a silent
 * task (reason `stalled`), and a drain hands a long task back to the queue without using a
 * retry; the next start runs it on from its checkpoint.
 */
import { describe, expect, it } from "vitest";
import { runSafeDeploy } from "../../examples/safe-deploy/deploy.ts";

describe("example: safe deploy (preview, stall watchdog, drain)", () => {
  it("previews without changing, cancels the stalled task, hands the ingest back and finishes it from its checkpoint", async () => {
    const lines: string[] = [];
    const result = await runSafeDeploy({ log: (line) => lines.push(line) });
    expect(result.preview.runners).toBe(1);
    expect(result.preview.statusAfterPreview).toBe("running");
    expect(result.stalled.job.tasks[0]?.status).toBe("cancelled");
    expect(result.stalled.job.status).toBe("partial");
    expect(result.stalled.record.reason).toBe("stalled");
    expect(result.drain.handedBack).toBe(1);
    expect(result.ingest.status).toBe("succeeded");
    const output = result.ingest.tasks[0]?.output as { batches: number; resumedFrom: number };
    expect(output.batches).toBe(40);
    // It went on from its checkpoint, not from the start, and the drain used no retry.
    expect(output.resumedFrom).toBeGreaterThan(0);
    expect(result.ingest.tasks[0]?.retriesUsed).toBe(0);
    expect(lines.some((l) => l.startsWith("drain: "))).toBe(true);
  }, 120_000);
});
