/** Slurm tasks on the real one-node cluster: submit, stream, cancel ladder, and the §3 races. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import { slurmCancelFailures } from "../../src/runners/slurm.ts";
import { skippedIf } from "../optional.ts";
import { openTestEngine, tempHome, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";
import { noSlurm, slurmShow, slurmState } from "./cluster.ts";

async function slurmIdOf(engine: Belay, jobId: string, key = "main"): Promise<string> {
  const runners = await until(() => engine.store.jobRunners(jobId), (rs) => rs.some((r) => r.taskKey === key && r.remoteId !== null));
  return runners.find((r) => r.taskKey === key)!.remoteId!;
}

async function logLines(engine: Belay, jobId: string): Promise<string[]> {
  return (await engine.getLogs(jobId)).filter((l) => l.stream === "stdout").map((l) => l.line);
}

describe("slurm tasks", skippedIf(noSlurm), () => {
  it("runs a script job: output streamed into the log, progress, artifacts kept, COMPLETED is success", async () => {
    const home = tempHome();
    const engine = await openTestEngine({ home, slurm: { pollIntervalMs: 100 } });
    const job = await engine.submitJob({
      tasks: [{
        key: "main", kind: "slurm",
        script: '#!/bin/sh\necho "hello from $SLURM_JOB_ID"\necho \'BELAY_PROGRESS {"ratio":0.5,"message":"half"}\'\necho energy=-1.137 > "$BELAY_ARTIFACTS/result.txt"\necho done\n',
      }],
    });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    const slurmId = await slurmIdOf(engine, job.id);
    expect(done.tasks[0]?.output).toMatchObject({ slurmJobId: slurmId, state: "COMPLETED", exitCode: 0 });
    const lines = await logLines(engine, job.id);
    expect(lines).toContain(`hello from ${slurmId}`);
    expect(lines).toContain("done");
    expect(done.tasks[0]?.progress).toMatchObject({ ratio: 0.5, message: "half" });
    expect(readFileSync(join(home, "artifacts", job.id, "main", "result.txt"), "utf8")).toBe("energy=-1.137\n");
    await engine.close();
  });

  it("a failing job fails the task with Slurm's state and exit code", async () => {
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100 } });
    const job = await engine.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "echo oops; exit 7" }] });
    const done = await untilJobStatus(engine, job.id, "failed");
    expect(done.tasks[0]).toMatchObject({ status: "failed", exitCode: 7 });
    expect(done.tasks[0]?.error).toMatch(/ended FAILED/);
    await engine.close();
  });

  it("a job cancelled while pending is removed from the queue and never runs", async () => {
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100 } });
    const job = await engine.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "echo ran", sbatchArgs: ["--begin=now+120"] }] });
    const slurmId = await slurmIdOf(engine, job.id);
    await untilTaskStatus(engine, job.id, "main", "running");
    expect(slurmState(slurmId)).toBe("PENDING");
    await engine.cancelJob(job.id, { reason: "not needed" });
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");
    const shown = slurmShow(slurmId);
    expect(shown["JobState"]).toBe("CANCELLED");
    // It never started: Slurm gave it no run time.
    expect(shown["RunTime"]).toBe("00:00:00");
    expect(await logLines(engine, job.id)).not.toContain("ran");
    const record = await engine.getCancellation(job.id);
    expect(record.status).toBe("completed");
    expect((await engine.getLogs(job.id)).map((l) => l.line).some((l) => l.includes(`scancel ${slurmId} accepted (job was PENDING)`))).toBe(true);
    await engine.close();
  });

  it("a running job that traps TERM ends gracefully and its output up to the stop is kept", async () => {
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100 } });
    const job = await engine.submitJob({
      graceMs: 20_000,
      tasks: [{ key: "main", kind: "slurm", command: "trap 'echo got TERM; exit 0' TERM; echo step 1; while true; do sleep 0.1; done" }],
    });
    await until(() => logLines(engine, job.id), (lines) => lines.includes("step 1"));
    const started = Date.now();
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(Date.now() - started).toBeLessThan(15_000);
    const lines = await logLines(engine, job.id);
    expect(lines).toEqual(expect.arrayContaining(["step 1", "got TERM"]));
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote" });
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1 });
    expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("skipped");
    expect(done.tasks[0]?.status).toBe("cancelled");
    await engine.close();
  });

  it("a job that ignores TERM is killed by scancel after the grace", async () => {
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100 } });
    const job = await engine.submitJob({
      graceMs: 1500,
      tasks: [{ key: "main", kind: "slurm", command: "trap '' TERM; echo stubborn; while true; do sleep 0.1 || true; done" }],
    });
    const slurmId = await slurmIdOf(engine, job.id);
    await until(() => logLines(engine, job.id), (lines) => lines.includes("stubborn"));
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "forced" });
    expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("completed");
    expect(slurmShow(slurmId)["JobState"]).toBe("CANCELLED");
    await engine.close();
  });

  it("a job that completed before the cancel reached it keeps its result", async () => {
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 5000 } });
    const job = await engine.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "echo finished" }] });
    const slurmId = await slurmIdOf(engine, job.id);
    // The job ends on the cluster while Belay has not polled yet: the cancel finds it COMPLETED.
    await until(async () => slurmState(slurmId), (s) => s === "COMPLETED");
    await engine.cancelJob(job.id);
    const done = await until(() => engine.getJob(job.id), (j) => j.status !== "running" && j.status !== "cancelling", 20_000);
    expect(done.tasks[0]).toMatchObject({ status: "succeeded", output: { slurmJobId: slurmId, state: "COMPLETED" } });
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]?.outcome).toBe("finished_first");
    await engine.close();
  });

  it("a failing scancel and a job that will not leave are recorded, counted, and the local cancel still ends", async () => {
    // The cluster's CLI as it is when the controller is unreachable for scancel: a real
    // failure of the command, with Slurm's own message (sbatch and squeue still work).
    const bin = mkdtempSync(join(tmpdir(), "belay-scancel-"));
    writeFileSync(join(bin, "scancel"), "#!/bin/sh\necho 'scancel: error: Kill job error on job id: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n", { mode: 0o755 });
    const before = { ...slurmCancelFailures };
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100, leaveTimeoutMs: 1000, env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` } } });
    const job = await engine.submitJob({ graceMs: 500, tasks: [{ key: "main", kind: "slurm", command: "echo up; sleep 60" }] });
    const slurmId = await slurmIdOf(engine, job.id);
    await until(() => logLines(engine, job.id), (lines) => lines.includes("up"));
    await engine.cancelJob(job.id);
    const done = await until(() => engine.getJob(job.id), (j) => j.status === "cancelled", 30_000);
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.remote).toMatchObject({ attempted: 1, cancelled: 0 });
    expect(record.errors.join("\n")).toMatch(/Unable to contact slurm controller|did not leave/);
    expect(slurmCancelFailures.scancel_failed).toBeGreaterThan(before.scancel_failed);
    expect(slurmCancelFailures.job_did_not_leave).toBeGreaterThan(before.job_did_not_leave);
    // The job is still on the cluster: the record said so; clean it up for real.
    expect(slurmState(slurmId)).toBe("RUNNING");
    execFileSync("scancel", [slurmId]);
    await engine.close();
  });

  it("a slurm task is refused by a server started without --slurm", async () => {
    const engine = await openTestEngine();
    await expect(engine.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "true" }] })).rejects.toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("--slurm") });
    await engine.close();
  });
});
