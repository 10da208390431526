/** examples/slurm-vqe: a VQE run on the real Slurm cluster, cancelled mid-run; the convergence data up to the stop is kept. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { vqeJob } from "../../examples/slurm-vqe/job.ts";
import { skippedIf } from "../optional.ts";
import { openTestEngine, tempHome, until } from "../helpers.ts";
import { noSlurm } from "../slurm/cluster.ts";

describe("example: VQE on Slurm", skippedIf(noSlurm), () => {
  it("cancelled after a few iterations: cancelled, progress seen, partial convergence data kept", async () => {
    const home = tempHome();
    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100 } });
    const job = await engine.submitJob(vqeJob({ steps: 200, stepSeconds: 0.2 }));
    await until(() => engine.getJob(job.id), (j) => (j.tasks[0]?.progress as { ratio?: number } | null)?.ratio !== undefined && ((j.tasks[0]?.progress as { ratio: number }).ratio >= 0.02), 30_000);
    await engine.cancelJob(job.id, { reason: "enough iterations" });
    const done = await until(() => engine.getJob(job.id), (j) => j.status === "cancelled", 30_000);
    expect(done.tasks[0]?.status).toBe("cancelled");
    const dir = join(home, "artifacts", job.id, "vqe");
    const rows = readFileSync(join(dir, "convergence.csv"), "utf8").trim().split("\n");
    const result = JSON.parse(readFileSync(join(dir, "result.json"), "utf8")) as { stoppedAt: number; complete: boolean };
    expect(result.complete).toBe(false);
    expect(rows.length - 1).toBeGreaterThanOrEqual(4);
    expect(rows.length - 1).toBeLessThan(200);
    expect(result.stoppedAt).toBe(rows.length - 1);
    expect((await engine.getLogs(job.id)).some((l) => l.line.includes("partial results kept"))).toBe(true);
    await engine.close();
  });
});
