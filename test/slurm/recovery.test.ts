/** Slurm tasks across a crash of Belay, and a bulk cancel of many Slurm jobs, on the real cluster. */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { openBelay } from "../../src/engine/open.ts";
import { skippedIf } from "../optional.ts";
import { openTestEngine, tempHome, until, untilJobStatus } from "../helpers.ts";
import { noSlurm, slurmShow, slurmState } from "./cluster.ts";

const child = new URL("../fixtures/slurm-crash-child.ts", import.meta.url).pathname;
const followChild = new URL("../fixtures/slurm-follow-child.ts", import.meta.url).pathname;

/** Start an engine in a child process on `home` with a Slurm job running `command`; SIGKILL it once the job's `ready` line is logged. */
async function crashWhileRunning(home: string, command: string): Promise<{ jobId: string; slurmJobId: string; nodeId: string }> {
  const proc = spawn(process.execPath, [followChild, home, command], { stdio: ["ignore", "pipe", "inherit"], env: process.env });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout }).once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
  });
  proc.kill("SIGKILL");
  await new Promise((resolve) => proc.once("exit", resolve));
  return JSON.parse(line) as { jobId: string; slurmJobId: string; nodeId: string };
}

describe("slurm tasks: recovery and bulk", skippedIf(noSlurm), () => {
  it("SIGKILL of Belay mid-cancel: on restart the Slurm job is ended and the record completes", { timeout: 90_000 }, async () => {
    const home = tempHome();
    const proc = spawn(process.execPath, [child, home], { stdio: ["ignore", "pipe", "inherit"], env: process.env });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout }).once("line", resolve);
      proc.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const { jobId, cancellationId, slurmJobId } = JSON.parse(line) as { jobId: string; cancellationId: string; slurmJobId: string };
    proc.kill("SIGKILL");
    await new Promise((resolve) => proc.once("exit", resolve));
    // Belay is dead; the job ignored the TERM and still runs on the cluster.
    expect(slurmState(slurmJobId)).toBe("RUNNING");

    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100 } });
    const job = await untilJobStatus(engine, jobId, "cancelled");
    expect(job.tasks[0]?.status).toBe("cancelled");
    expect(slurmShow(slurmJobId)["JobState"]).toBe("CANCELLED");
    const record = await engine.getCancellation(cancellationId);
    expect(record.status).toBe("completed");
    expect(record.steps.every((s) => s.status !== "pending" && s.status !== "running")).toBe(true);
    expect((await engine.store.liveRunners()).length).toBe(0);
    await engine.close();
  });

  it("SIGKILL of Belay mid-cancel, and the cluster refuses scancel after the restart: the record is partial, then completed once the retried scancel has ended the job", { timeout: 120_000 }, async () => {
    const home = tempHome();
    const proc = spawn(process.execPath, [child, home], { stdio: ["ignore", "pipe", "inherit"], env: process.env });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout }).once("line", resolve);
      proc.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const { jobId, cancellationId, slurmJobId } = JSON.parse(line) as { jobId: string; cancellationId: string; slurmJobId: string };
    proc.kill("SIGKILL");
    await new Promise((resolve) => proc.once("exit", resolve));
    // After the restart the controller refuses the next two scancels (the TERM again, the kill), then answers.
    const bin = mkdtempSync(join(tmpdir(), "belay-scancel-"));
    const realScancel = execFileSync("sh", ["-c", "command -v scancel"], { encoding: "utf8" }).trim();
    writeFileSync(join(bin, "scancel"), [
      "#!/bin/sh",
      `n=$(cat "${bin}/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "${bin}/calls"`,
      `if [ "$n" -le 2 ]; then echo 'scancel: error: Unable to contact slurm controller (connect failure)' >&2; exit 1; fi`,
      `exec ${realScancel} "$@"`,
      "",
    ].join("\n"), { mode: 0o755 });
    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100, env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` } }, remoteCancelRetryDelaysMs: [1000], remotePollIntervalMs: 200 });
    await untilJobStatus(engine, jobId, "cancelled");
    const partial = await engine.getCancellation(cancellationId);
    expect(partial.tasks[0]).toMatchObject({ mode: "remote_refused", remote: { runner: "slurm", remoteId: slurmJobId, stopped: false } });
    expect(partial.status).toBe("partial");
    const completed = await until(() => engine.getCancellation(cancellationId), (r) => r.status === "completed", 60_000);
    expect(completed.tasks[0]?.remote).toMatchObject({ cancelled: true, stopped: true, finalState: "CANCELLED" });
    expect(slurmShow(slurmJobId)["JobState"]).toBe("CANCELLED");
    await engine.close();
  });

  it("a Slurm job still running when Belay is SIGKILLed is followed again on restart: its log goes on without repeats, its result is kept", { timeout: 90_000 }, async () => {
    const home = tempHome();
    const { jobId, slurmJobId, nodeId } = await crashWhileRunning(home, "echo ready; for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.5; done; echo BELAY_PROGRESS '{\"ratio\":1,\"message\":\"all done\"}'; echo finished");
    // Belay is dead; the job runs on.
    expect(["RUNNING", "COMPLETING", "COMPLETED"]).toContain(slurmState(slurmJobId));
    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100 } });
    const job = await untilJobStatus(engine, jobId, "succeeded");
    expect(job.tasks[0]).toMatchObject({ status: "succeeded", attempt: 1, output: { slurmJobId, state: "COMPLETED", exitCode: 0 }, progress: { ratio: 1, message: "all done" } });
    expect(slurmShow(slurmJobId)["JobState"]).toBe("COMPLETED");
    // Every line of the job's output once, in order: what the first engine logged is not read again.
    const stdout = (await engine.getLogs(jobId)).filter((l) => l.stream === "stdout").map((l) => l.line);
    expect(stdout.filter((l) => !l.startsWith("BELAY_PROGRESS"))).toEqual(["ready", ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => `line ${i}`), "finished"]);
    expect((await engine.getLogs(jobId)).some((l) => l.line.includes(`slurm job ${slurmJobId} followed again after a restart`))).toBe(true);
    // The runner is this engine's now, and ended with the job.
    const runners = await engine.store.jobRunners(jobId);
    expect(runners).toHaveLength(1);
    expect(runners[0]).toMatchObject({ remoteId: slurmJobId, outcome: "succeeded" });
    expect(runners[0]?.nodeId).not.toBe(nodeId);
    expect(runners[0]?.endedAt).not.toBeNull();
    await engine.close();
  });

  it("a Slurm job followed again after a restart is cancelled by a cancel of the new engine (TERM, graceful)", { timeout: 90_000 }, async () => {
    const home = tempHome();
    const { jobId, slurmJobId } = await crashWhileRunning(home, "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done");
    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100 } });
    // Followed again: still running, not resolved as lost nor cancelled by the restart.
    await until(() => engine.getLogs(jobId), (lines) => lines.some((l) => l.line.includes("followed again after a restart")));
    expect((await engine.getJob(jobId)).tasks[0]).toMatchObject({ status: "running", attempt: 1 });
    expect(slurmState(slurmJobId)).toBe("RUNNING");
    await engine.cancelJob(jobId, { reason: "after the restart" });
    const job = await untilJobStatus(engine, jobId, "cancelled");
    expect(job.tasks[0]?.status).toBe("cancelled");
    const record = await engine.getCancellation(jobId);
    expect(record).toMatchObject({ status: "completed" });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote" });
    expect((await engine.getLogs(jobId)).map((l) => l.line)).toContain("got TERM");
    // The script exits 0 on TERM: Slurm may call that COMPLETED; either way it has left.
    expect(["COMPLETED", "CANCELLED"]).toContain(slurmShow(slurmJobId)["JobState"]);
    await engine.close();
  });

  it("Belay killed between sbatch's answer and the runner row: on restart the Slurm job is found by its name and followed to its end", { timeout: 90_000 }, async () => {
    const home = tempHome();
    // The child dies at the crash point right after sbatch answered, before the row is written.
    const proc = spawn(process.execPath, [followChild, home, "echo ready; sleep 8; echo finished"], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, BELAY_CRASH_AT: "run.spawned" } });
    const [, signal] = await new Promise<[number | null, string | null]>((resolve) => proc.once("exit", (code, sig) => resolve([code, sig])));
    expect(signal).toBe("SIGKILL");
    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100 } });
    const [submitted] = (await engine.listJobs()).items;
    expect(submitted).toBeDefined();
    const job = await untilJobStatus(engine, submitted!.id, "succeeded");
    const runners = await engine.store.jobRunners(job.id);
    expect(runners).toHaveLength(1);
    const slurmJobId = runners[0]!.remoteId!;
    expect(slurmShow(slurmJobId)["JobName"]).toBe(`belay.${job.id}.main.1`);
    expect(job.tasks[0]).toMatchObject({ status: "succeeded", attempt: 1, output: { slurmJobId, state: "COMPLETED" } });
    expect((await engine.getLogs(job.id)).filter((l) => l.stream === "stdout").map((l) => l.line)).toEqual(["ready", "finished"]);
    await engine.close();
  });

  it("a finished Slurm job found on restart keeps its result", { timeout: 60_000 }, async () => {
    const home = tempHome();
    // Not registered for the tests' close: its store is closed under it, as by a crash.
    const first = await openBelay({ home, pollIntervalMs: 20, slurm: { pollIntervalMs: 60_000 } });
    const submitted = await first.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "echo done" }] });
    const runners = await until(() => first.store.jobRunners(submitted.id), (rs) => rs.some((r) => r.remoteId !== null));
    const slurmJobId = runners[0]!.remoteId!;
    await until(async () => slurmState(slurmJobId), (s) => s === "COMPLETED");
    // Stop tracking without ending the attempt in the store, as a crash would.
    await first.store.close();
    void first.close().catch(() => undefined);
    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100 } });
    const job = await untilJobStatus(engine, submitted.id, "succeeded");
    expect(job.tasks[0]?.output).toMatchObject({ slurmJobId, state: "COMPLETED" });
    await engine.close();
  });

  it("50 Slurm jobs cancelled in one bulk cancel all leave the cluster", async () => {
    const engine = await openTestEngine({ concurrency: 60, slurm: { pollIntervalMs: 250 } });
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const job = await engine.submitJob({ labels: { batch: "bulk" }, graceMs: 2000, tasks: [{ key: "main", kind: "slurm", command: "trap 'exit 0' TERM; while true; do sleep 0.2; done" }] });
      ids.push(job.id);
    }
    const slurmIds = await until(async () => (await Promise.all(ids.map((id) => engine.store.jobRunners(id)))).flat().map((r) => r.remoteId).filter((r): r is string => r !== null), (rs) => rs.length === 50, 90_000);
    await engine.cancelJobs({ filter: { labels: { batch: "bulk" } } });
    // One squeue per poll covers all 50; the wait is long only because the test host may be busy.
    for (const id of ids) await until(() => engine.getJob(id), (j) => j.status === "cancelled", 90_000);
    for (const slurmJobId of slurmIds) expect(["CANCELLED", "COMPLETED", "FAILED"]).toContain(slurmShow(slurmJobId)["JobState"]);
    expect(slurmIds.filter((s) => ["RUNNING", "PENDING", "COMPLETING"].includes(slurmState(s) ?? ""))).toEqual([]);
    await engine.close();
  }, 180_000);
});
