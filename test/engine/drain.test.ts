/**
 * `belay.drain()` (DESIGN §7 "Drain"): claiming stops at once; a task that ends within the
 * drain timeout finishes normally; one that does not is stopped and handed back to the queue
 * with a `system:drain` record, its attempt not counted, and runs again from its checkpoint.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import type { NodeDrainedEvent } from "../../src/core/drain.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { openTestEngine, tempHome, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

describe("drain", () => {
  it("lets a task that ends within the drain timeout finish, and claims nothing more from the first moment", async () => {
    const engine = await openTestEngine();
    // The task ends when the test says so: after the drain began, well within its timeout.
    const flag = join(tempHome(), "go");
    const job = await engine.submitJob({ command: ["sh", "-c", `while [ ! -f ${flag} ]; do sleep 0.05; done`] });
    await untilTaskStatus(engine, job.id, "main", "running");
    const drained: NodeDrainedEvent[] = [];
    engine.on("belay.node.drained", (event) => drained.push(event));

    const draining = engine.drain({ timeoutMs: 60_000 });
    expect(engine.draining).toBe(true);
    const late = await engine.submitJob({ handler: "noop" });
    writeFileSync(flag, "");
    const report = await draining;

    expect(report).toMatchObject({ running: 1, finished: 1, handedBack: 0, stoppedOtherwise: 0, cancellationIds: [] });
    expect((await engine.getJob(job.id)).status).toBe("succeeded");
    // Submitted during the drain: left for another node (never claimed here).
    expect((await engine.getJob(late.id)).status).toBe("queued");
    expect((await engine.listCancellations({ jobId: job.id })).total).toBe(0);
    expect(drained.map((e) => [e.type, e.subject, e.data.finished, e.data.handedBack])).toEqual([["belay.node.drained", engine.nodeId, 1, 0]]);
  });

  it("hands a task still running at the timeout back to the queue with a system:drain record, without using a retry; it resumes from its checkpoint", async () => {
    const home = tempHome();
    const engine = await openTestEngine({ home });
    const job = await engine.submitJob({ tasks: [{ key: "main", kind: "handler", handler: "converge", input: { steps: 400 } }] });
    await until(() => engine.getJob(job.id), (j) => (j.tasks[0]?.progress?.ratio ?? 0) > 0.05);

    const report = await engine.drain({ timeoutMs: 50 });
    expect(report).toMatchObject({ running: 1, finished: 0, handedBack: 1, stoppedOtherwise: 0 });
    const handedBack = await engine.getJob(job.id);
    expect(handedBack.status).toBe("running");
    expect(handedBack.tasks[0]).toMatchObject({ status: "pending", attempt: 1, retriesUsed: 0 });
    // The job was not cancelled: its cancellation summary is untouched.
    expect(handedBack.cancellation).toBeNull();

    const record = await engine.getCancellation(report.cancellationIds[0] ?? "");
    expect(record).toMatchObject({
      jobId: job.id,
      taskKey: "main",
      scope: "task",
      requestedBy: "system:drain",
      status: "completed",
      affectedTasks: [{ key: "main", from: "running", to: "pending" }],
      runnersTerminated: { graceful: 1, forced: 0 },
    });
    expect(record.tasks).toEqual([expect.objectContaining({ key: "main", attempt: 1, nodeId: engine.nodeId, outcome: "mid_run", mode: "graceful" })]);
    expect(record.tasks[0]?.signalledAt).not.toBeNull();
    expect(record.tasks[0]?.stoppedAt).not.toBeNull();
    expect(record.steps.map((s) => [s.name, s.status])).toEqual([
      ["block_dispatch", "completed"],
      ["cancel_pending_tasks", "skipped"],
      ["signal_runners", "completed"],
      ["await_runners", "completed"],
      ["force_kill", "skipped"],
      ["cleanup", "skipped"],
      ["finalize", "completed"],
    ]);
    const stepEvents = (await engine.getJobEvents(job.id)).filter((e) => e.type === "belay.cancellation.step" && e.data["cancellationId"] === record.id);
    expect(stepEvents.map((e) => e.data["step"])).toEqual(["block_dispatch", "cancel_pending_tasks", "signal_runners", "await_runners", "force_kill", "cleanup", "finalize"]);
    await engine.close();

    // The next node (here: this home's next start) runs it on from the checkpoint.
    const next = await openTestEngine({ home });
    const done = await untilJobStatus(next, job.id, "succeeded");
    expect(done.tasks[0]).toMatchObject({ attempt: 2, retriesUsed: 0 });
    const firstSteps = (await next.getJobEvents(job.id, { limit: 10_000 })).filter((e) => e.type === "belay.task.progress" && e.data["message"] === "step 1");
    expect(firstSteps).toHaveLength(1);
  });

  it("kills a task that ignores its signal once its grace is over, and still hands it back", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ tasks: [{ key: "main", kind: "process", command: ["sh", "-c", "trap '' TERM; echo up; sleep 60"], graceMs: 200 }] });
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "up"));
    const report = await engine.drain({ timeoutMs: 50 });
    expect(report.handedBack).toBe(1);
    const record = await engine.getCancellation(report.cancellationIds[0] ?? "");
    expect(record.tasks[0]).toMatchObject({ mode: "forced", graceMs: 200 });
    expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 1 });
    expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("completed");
    expect((await engine.getJob(job.id)).tasks[0]).toMatchObject({ status: "pending", retriesUsed: 0 });
  });

  it("a node killed in the middle of handing a task back: the next start still hands it back (not failed) and finishes the record", async () => {
    const home = tempHome();
    const child = new URL("../fixtures/drain-crash-child.ts", import.meta.url).pathname;
    const proc = spawn(process.execPath, [child, home], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout }).once("line", resolve);
      proc.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const { jobId, cancellationId } = JSON.parse(line) as { jobId: string; cancellationId: string };
    proc.kill("SIGKILL");
    await new Promise((resolve) => proc.once("exit", resolve));

    const engine = await openTestEngine({ home });
    const done = await untilJobStatus(engine, jobId, "succeeded");
    expect(done.tasks[0]).toMatchObject({ attempt: 2, retriesUsed: 0 });
    const record = await engine.getCancellation(cancellationId);
    expect(record).toMatchObject({ requestedBy: "system:drain", status: "completed", affectedTasks: [{ key: "stubborn", from: "running", to: "pending" }] });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "forced" });
    expect(record.steps.every((s) => s.status !== "pending" && s.status !== "running")).toBe(true);
  });

  it("says in its metrics how many tasks a drain let finish and how many it handed back", async () => {
    const engine = await openTestEngine();
    const metrics = createMetrics(engine, { defaultMetrics: false });
    const sample = async (name: string): Promise<string[]> => (await metrics.registry.metrics()).split("\n").filter((l) => l.startsWith(name));
    expect(await sample("belay_node_draining")).toEqual(["belay_node_draining 0"]);
    // The short task ends when the test says so (after the drain began), the long one never on its own.
    const flag = join(tempHome(), "go");
    const short = await engine.submitJob({ command: ["sh", "-c", `while [ ! -f ${flag} ]; do sleep 0.05; done`] });
    const long = await engine.submitJob({ tasks: [{ key: "main", kind: "handler", handler: "converge" }] });
    await untilTaskStatus(engine, short.id, "main", "running");
    await untilTaskStatus(engine, long.id, "main", "running");
    const draining = engine.drain({ timeoutMs: 10_000 });
    writeFileSync(flag, "");
    const report = await draining;
    expect(report).toMatchObject({ running: 2, finished: 1, handedBack: 1 });
    expect(await sample("belay_drain_tasks_total")).toEqual([
      'belay_drain_tasks_total{outcome="finished"} 1',
      'belay_drain_tasks_total{outcome="handed_back"} 1',
      'belay_drain_tasks_total{outcome="stopped_otherwise"} 0',
    ]);
    expect(await sample("belay_node_draining")).toEqual(["belay_node_draining 1"]);
    metrics.stop();
  });
});
