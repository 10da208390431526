/** Invariant 7: after a crash (SIGKILL) in the middle of a cancellation, reopening finishes it and no runner survives. */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { openTestEngine, tempHome, untilJobStatus } from "../helpers.ts";

const child = new URL("../fixtures/crash-child.ts", import.meta.url).pathname;

function liveGroupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

describe("crash recovery", () => {
  it("a SIGKILLed engine's cancellation is finished on reopen and its runners are killed", async () => {
    const home = tempHome();
    const proc = spawn(process.execPath, [child, home], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: proc.stdout });
      rl.once("line", resolve);
      proc.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const { jobId, cancellationId, pid } = JSON.parse(line) as { jobId: string; cancellationId: string; pid: number };
    expect(liveGroupMembers(pid).length).toBeGreaterThanOrEqual(2);
    proc.kill("SIGKILL");
    await new Promise((resolve) => proc.once("exit", resolve));
    // The engine is dead; its runner group ignores SIGTERM and is still alive.
    expect(liveGroupMembers(pid).length).toBeGreaterThanOrEqual(2);

    const engine = await openTestEngine({ home });
    const job = await untilJobStatus(engine, jobId, "cancelled");
    expect(liveGroupMembers(pid)).toEqual([]);
    expect(job.tasks.map((t) => [t.key, t.status])).toEqual([
      ["stubborn", "cancelled"],
      ["later", "cancelled"],
    ]);
    const record = await engine.getCancellation(cancellationId);
    expect(record.status).toBe("completed");
    expect(record.steps.every((s) => s.status !== "pending" && s.status !== "running")).toBe(true);
    expect(record.tasks.find((t) => t.key === "stubborn")).toMatchObject({ outcome: "mid_run", mode: "forced" });
    expect((await engine.store.liveRunners()).length).toBe(0);
  });
});
