/**
 * examples/library (the README's "Use it as a library"): the release graph with the example's
 * own handlers module, cancelled while its test task runs; the compensation task runs.
 */
import { describe, expect, it } from "vitest";
import { runRelease } from "../../examples/library/release.ts";

describe("example: Belay as a library (the README's release graph)", () => {
  it("cancels the running tests, runs the rollback handler and records every step", async () => {
    const { job, cancellation, steps } = await runRelease({ log: () => undefined });
    expect(job.status).toBe("cancelled");
    expect(cancellation.status).toBe("completed");
    expect(cancellation.reason).toBe("wrong branch");
    const byKey = new Map(job.tasks.map((t) => [t.key, t]));
    expect(byKey.get("fetch")?.status).toBe("succeeded");
    expect(byKey.get("build")?.status).toBe("succeeded");
    expect(byKey.get("test")?.status).toBe("cancelled");
    // The handler stopped between two tests: a partial result, not the whole suite.
    const output = byKey.get("test")?.output as { passed: number } | null;
    expect(output?.passed ?? 0).toBeGreaterThan(0);
    expect(output?.passed ?? 0).toBeLessThan(120);
    expect(byKey.get("rollback")?.status).toBe("succeeded");
    expect(byKey.get("rollback")?.output).toEqual({ undone: true });
    expect(steps.some((s) => s.startsWith("signal_runners"))).toBe(true);
  }, 60_000);
});
