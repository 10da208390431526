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
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1, pending: 0 });
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
    // Slurm's own answer on how the job ended, in the record.
    expect(record.tasks[0]?.remote).toMatchObject({ runner: "slurm", remoteId: slurmId, cancelled: true, stopped: true, finalState: "CANCELLED" });
    expect(record.status).toBe("completed");
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

  it("a refused scancel leaves a partial record (stop remote_refused); the scancel is retried and the record completes once the job has ended", { timeout: 90_000 }, async () => {
    // The cluster's CLI as it is when the controller is unreachable for scancel: its first
    // three calls fail with Slurm's own message (sbatch and squeue still work), then the real
    // scancel answers. The calls: the TERM, the kill after the grace, one retry, then accepted.
    const bin = mkdtempSync(join(tmpdir(), "belay-scancel-"));
    const realScancel = execFileSync("sh", ["-c", "command -v scancel"], { encoding: "utf8" }).trim();
    writeFileSync(join(bin, "scancel"), [
      "#!/bin/sh",
      `n=$(cat "${bin}/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "${bin}/calls"`,
      `if [ "$n" -le 3 ]; then echo 'scancel: error: Kill job error on job id: Unable to contact slurm controller (connect failure)' >&2; exit 1; fi`,
      `exec ${realScancel} "$@"`,
      "",
    ].join("\n"), { mode: 0o755 });
    const before = { ...slurmCancelFailures };
    const engine = await openTestEngine({
      slurm: { pollIntervalMs: 100, env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` } },
      remoteCancelRetryDelaysMs: [1500],
      remotePollIntervalMs: 200,
    });
    const job = await engine.submitJob({ graceMs: 500, tasks: [{ key: "main", kind: "slurm", command: "echo up; sleep 120" }] });
    const slurmId = await slurmIdOf(engine, job.id);
    await until(() => logLines(engine, job.id), (lines) => lines.includes("up"));
    await engine.cancelJob(job.id);
    // The local cancel ends: the task is cancelled, but the record says the job may still run.
    const done = await until(() => engine.getJob(job.id), (j) => j.status === "cancelled", 30_000);
    expect(done.tasks[0]?.status).toBe("cancelled");
    const partial = await engine.getCancellation(job.id);
    expect(partial.status).toBe("partial");
    expect(partial.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote_refused", remote: { runner: "slurm", adapter: "slurm", remoteId: slurmId, cancelled: false, stopped: false } });
    expect(partial.remote).toMatchObject({ attempted: 1, cancelled: 0, pending: 1 });
    expect(partial.errors.join("\n")).toMatch(/Unable to contact slurm controller/);
    expect(["RUNNING", "COMPLETING"]).toContain(slurmState(slurmId));

    // The follow-up retries the scancel with backoff until accepted, then polls the job until it has ended.
    const completed = await until(() => engine.getCancellation(job.id), (r) => r.status === "completed", 60_000);
    expect(completed.tasks[0]?.remote).toMatchObject({ cancelled: true, stopped: true, attempts: 3, error: null, finalState: "CANCELLED" });
    expect(completed.remote).toMatchObject({ pending: 0 });
    expect(slurmShow(slurmId)["JobState"]).toBe("CANCELLED");
    expect(readFileSync(join(bin, "calls"), "utf8").trim()).toBe("4");
    expect(slurmCancelFailures.scancel_failed - before.scancel_failed).toBe(3);
    // Each refusal, the acceptance and the stop are events of the job (belay_remote_cancel_failures_total counts the refusals).
    const outcomes = (await engine.getJobEvents(job.id)).filter((e) => e.type === "belay.cancellation.remote").map((e) => e.data["outcome"]);
    expect(outcomes).toEqual(["refused", "refused", "accepted", "stopped"]);
    expect((await engine.getJob(job.id)).cancellation?.status).toBe("completed");
    await engine.close();
  });

  it("a job still on the cluster after the final scancel leaves a partial record, completed once Slurm has killed it", { timeout: 60_000 }, async () => {
    const before = { ...slurmCancelFailures };
    // leaveTimeoutMs below the cluster's KillWait (5 s): the job ignoring TERM outlives the wait.
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100, leaveTimeoutMs: 500 }, remotePollIntervalMs: 200 });
    const job = await engine.submitJob({ graceMs: 300, tasks: [{ key: "main", kind: "slurm", command: "trap '' TERM; echo stubborn; while true; do sleep 0.1 || true; done" }] });
    const slurmId = await slurmIdOf(engine, job.id);
    await until(() => logLines(engine, job.id), (lines) => lines.includes("stubborn"));
    await engine.cancelJob(job.id);
    await until(() => engine.getJob(job.id), (j) => j.status === "cancelled", 30_000);
    const partial = await engine.getCancellation(job.id);
    expect(partial.tasks[0]).toMatchObject({ mode: "forced", remote: { runner: "slurm", cancelled: true, stopped: false } });
    expect(slurmCancelFailures.job_did_not_leave).toBeGreaterThan(before.job_did_not_leave);
    const completed = await until(() => engine.getCancellation(job.id), (r) => r.status === "completed", 40_000);
    expect(completed.tasks[0]?.remote).toMatchObject({ stopped: true, finalState: "CANCELLED" });
    expect(slurmShow(slurmId)["JobState"]).toBe("CANCELLED");
    await engine.close();
  });

  it("a job the cluster requeues stays running (same Slurm job id), and a cancel while it waits to run again removes it", { timeout: 120_000 }, async () => {
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100 } });
    const job = await engine.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "echo up; sleep 120" }] });
    const slurmId = await slurmIdOf(engine, job.id);
    await until(() => logLines(engine, job.id), (lines) => lines.includes("up"));
    // As after a node failure or a preemption: Slurm puts the job back in the queue.
    execFileSync("scontrol", ["requeue", slurmId]);
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line.includes(`slurm job ${slurmId} was requeued by the cluster`)), 45_000);
    expect((await engine.getJob(job.id)).tasks[0]).toMatchObject({ status: "running", attempt: 1 });
    expect(slurmState(slurmId)).toBe("PENDING");
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    expect((await engine.getCancellation(job.id)).status).toBe("completed");
    expect(slurmShow(slurmId)["JobState"]).toBe("CANCELLED");
    await engine.close();
  });

  it("squeue failing for a while (controller unreachable) does not fail the task: its job runs on and its result is kept", { timeout: 60_000 }, async () => {
    // squeue fails 20 times in a row once the job is up (2 s at this poll interval), then answers again.
    const bin = mkdtempSync(join(tmpdir(), "belay-squeue-"));
    const realSqueue = execFileSync("sh", ["-c", "command -v squeue"], { encoding: "utf8" }).trim();
    writeFileSync(join(bin, "squeue"), [
      "#!/bin/sh",
      `if [ -f "${bin}/down" ]; then n=$(cat "${bin}/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "${bin}/calls"`,
      `  if [ "$n" -le 20 ]; then echo 'squeue: error: Unable to contact slurm controller (connect failure)' >&2; exit 1; fi; fi`,
      `exec ${realSqueue} "$@"`,
      "",
    ].join("\n"), { mode: 0o755 });
    const engine = await openTestEngine({ slurm: { pollIntervalMs: 100, env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` } } });
    const job = await engine.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "echo up; sleep 4; echo done" }] });
    await until(() => logLines(engine, job.id), (lines) => lines.includes("up"));
    writeFileSync(join(bin, "down"), "");
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(Number(readFileSync(join(bin, "calls"), "utf8"))).toBeGreaterThan(20);
    expect(done.tasks[0]).toMatchObject({ status: "succeeded", output: { state: "COMPLETED" } });
    expect(await logLines(engine, job.id)).toContain("done");
    expect((await engine.getLogs(job.id)).some((l) => l.line.includes("squeue failed (1 time(s) in a row"))).toBe(true);
    await engine.close();
  });

  it("a slurm task is refused by a server started without --slurm", async () => {
    const engine = await openTestEngine();
    await expect(engine.submitJob({ tasks: [{ key: "main", kind: "slurm", command: "true" }] })).rejects.toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("--slurm") });
    await engine.close();
  });
});
