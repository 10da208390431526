/** Real processes, really stopped: grace periods, process groups, graceful vs forced. */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openTestEngine, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

/** Pids of live (non-zombie) processes in a process group, read from /proc. */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** The /proc state letter of a live process, or null when gone or a zombie. */
function liveState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" ? null : state;
  } catch {
    return null;
  }
}

describe("stopping processes", () => {
  it("a process that ignores SIGTERM is killed after its grace period, counted forced", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: "trap '' TERM; echo ready; while true; do sleep 0.05; done", graceMs: 700 });
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "ready"));
    const runners = await engine.store.jobRunners(job.id);
    const pid = runners[0]?.pid ?? 0;
    expect(groupMembers(pid).length).toBeGreaterThan(0);
    await engine.cancelJob(job.id, { reason: "stubborn" });
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await engine.getCancellation(job.id);
    const report = record.tasks[0];
    expect(report?.mode).toBe("forced");
    expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 1 });
    const waited = Date.parse(report?.stoppedAt ?? "") - Date.parse(report?.signalledAt ?? "");
    expect(waited).toBeGreaterThanOrEqual(700);
    expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("completed");
    expect(groupMembers(pid)).toEqual([]);
  });

  it("a shell with background children leaves no survivor", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      command: "sh -c 'trap \"\" TERM; sleep 300' & sleep 300 & echo started; wait",
      graceMs: 300,
    });
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "started"));
    const pid = (await engine.store.jobRunners(job.id))[0]?.pid ?? 0;
    await until(async () => groupMembers(pid).length, (n) => n >= 3);
    const members = groupMembers(pid);
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    expect(groupMembers(pid)).toEqual([]);
    // Each recorded child is gone or a zombie (dead, waiting to be reaped by init).
    for (const member of members) expect(liveState(member)).toBeNull();
  });

  it("a process that exits on SIGTERM is counted graceful, and its output is kept", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      command: "trap 'echo got TERM; exit 143' TERM; echo 'BELAY_PROGRESS {\"ratio\":0.25,\"message\":\"quarter\"}'; while true; do sleep 0.05; done",
      graceMs: 20_000,
    });
    await until(() => engine.getJob(job.id), (j) => j.progress.ratio > 0);
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]?.mode).toBe("graceful");
    expect(record.runnersTerminated).toEqual({ graceful: 1, forced: 0 });
    expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("skipped");
    const lines = (await engine.getLogs(job.id)).map((l) => l.line);
    expect(lines).toContain("got TERM");
    const events = await engine.getJobEvents(job.id);
    expect(events.some((e) => e.type === "belay.task.progress" && e.data["ratio"] === 0.25)).toBe(true);
  });

  it("force skips the grace period", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: "trap '' TERM; echo ready; while true; do sleep 0.05; done", graceMs: 60_000 });
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "ready"));
    await engine.cancelJob(job.id, { force: true });
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.tasks[0]?.mode).toBe("forced");
    expect(record.steps.find((s) => s.name === "await_runners")?.status).toBe("skipped");
  });

  it("work dirs are removed by cleanup, artifacts kept", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: "echo data > \"$BELAY_ARTIFACTS/out.txt\"; echo scratch > tmp.txt; echo ready; sleep 30" });
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "ready"));
    const workDir = (await engine.store.jobRunners(job.id))[0]?.workDir ?? "";
    expect(readdirSync(workDir)).toContain("tmp.txt");
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.steps.find((s) => s.name === "cleanup")?.status).toBe("completed");
    expect(() => readdirSync(workDir)).toThrow();
    const artifacts = workDir.replace(/work\/([^/]+)\/main\.1$/, "artifacts/$1/main");
    expect(readFileSync(`${artifacts}/out.txt`, "utf8")).toBe("data\n");
  });

  it("timeoutMs cancels a job running too long, requestedBy system, reason timeout", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: ["sleep", "30"], timeoutMs: 300 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.requestedBy).toBe("system");
    expect(record.reason).toBe("timeout");
  });

  it("queueTimeoutMs cancels a job not started in time", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({ command: ["true"], queueTimeoutMs: 200 });
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.requestedBy).toBe("system");
    expect(record.reason).toBe("timeout");
    expect(record.tasks[0]?.outcome).toBe("before_start");
  });
});
