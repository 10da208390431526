/**
 * examples/slurm-vqe: a VQE run on the real Slurm cluster, cancelled mid-run; the convergence
 * data up to the stop is kept. The second test runs the README's own commands, read from it.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CancellationRecord } from "../../src/core/model.ts";
import { spawnCli, startCliServer, tempDir } from "../cli/helpers.ts";
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

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The README's "Run it" commands, comments dropped, in order. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(repoRoot, "examples/slurm-vqe/README.md"), "utf8");
  const block = /## Run it[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) throw new Error("examples/slurm-vqe/README.md has no sh block under ## Run it");
  return block.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()).filter((l) => l !== "");
}

/** Shell words of a README line: plain words and "double-quoted" ones (all the README uses). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
}

describe("example: VQE on Slurm, the README's commands", skippedIf(noSlurm), () => {
  it("serve --slurm, the spec from job.ts, job submit, job watch, job cancel, cancel-status, the artifacts", async () => {
    const commands = readmeCommands();
    expect(commands.map((c) => words(c).slice(0, 3).join(" "))).toEqual([
      "npx belay serve", "node_modules/.bin/node examples/slurm-vqe/job.ts >", "npx belay job", "npx belay job", "npx belay job", "npx belay job", "ls .belay/artifacts/<id>/vqe",
    ]);
    // `npx belay serve --slurm`: the same server, in this process (test/cli/helpers.ts).
    expect(commands[0]).toBe("npx belay serve --slurm");
    const s = await startCliServer({ slurm: { pollIntervalMs: 100 } });
    const specFile = join(tempDir(), "vqe.json");
    const id = { value: "" };
    const belay = (line: string): string[] => words(line).slice(2).map((w) => w.replace("/tmp/vqe.json", specFile).replace("<id>", id.value));
    try {
      // The spec, as the README makes it (its path moved to a temp dir).
      execFileSync("sh", ["-c", commands[1]!.replace("/tmp/vqe.json", specFile)], { cwd: repoRoot });
      const submitted = await s.run(belay(commands[2]!));
      expect(submitted.code).toBe(0);
      id.value = /submitted job (\S+) \(vqe-H2\)/.exec(submitted.stdout)?.[1] ?? "";
      expect(id.value).not.toBe("");

      // `job watch` in its terminal: the progress lines come while the job runs.
      const watch = spawnCli(belay(commands[3]!), s.env);
      let watched = "";
      watch.stdout?.on("data", (d: Buffer) => (watched += d.toString()));
      const watchEnded = new Promise<number | null>((resolve) => watch.on("close", resolve));
      // (The CLI may take seconds to start on a busy host: any iteration seen will do.)
      await until(async () => watched, (out) => /iteration \d+\/120/.test(out), 60_000);

      const cancelled = await s.run(belay(commands[4]!));
      expect(cancelled.stderr).toBe("");
      expect(cancelled.code).toBe(0);
      expect(cancelled.stdout).toMatch(/cancelled/);
      expect(await watchEnded).toBe(0);
      expect(watched).toMatch(/job \S+ \(vqe-H2\) cancelled/);

      const status = await s.run([...belay(commands[5]!), "--json"]);
      expect(status.code).toBe(0);
      const record = (JSON.parse(status.stdout) as { cancellation: CancellationRecord }).cancellation;
      expect(record).toMatchObject({ status: "completed", reason: "enough iterations" });
      expect(record.tasks[0]).toMatchObject({ key: "vqe", outcome: "mid_run", mode: "remote" });

      // `ls .belay/artifacts/<id>/vqe`: the server's home is the README's .belay.
      const dir = words(commands[6]!)[1]!.replace(".belay", s.home).replace("<id>", id.value);
      expect(readdirSync(dir).sort()).toEqual(["convergence.csv", "result.json"]);
      const result = JSON.parse(readFileSync(join(dir, "result.json"), "utf8")) as { stoppedAt: number; complete: boolean };
      expect(result.complete).toBe(false);
      expect(result.stoppedAt).toBeGreaterThanOrEqual(1);
      expect(result.stoppedAt).toBeLessThan(120);
      expect(readFileSync(join(dir, "convergence.csv"), "utf8").trim().split("\n")).toHaveLength(result.stoppedAt + 1);
    } finally {
      await s.close();
    }
  }, 120_000);
});
