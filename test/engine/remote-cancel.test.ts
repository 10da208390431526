/** Remote tasks: the adapter's cancel is called and recorded; a failed remote cancel still completes locally. */
import { describe, expect, it } from "vitest";
import type { RemoteAdapter, RemotePollResult } from "../../src/runners/remote.ts";
import { join } from "node:path";
import { openTestEngine, tempHome, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

/** An in-memory remote service: jobs run until cancelled; `refuseCancel` makes its cancel fail. */
function fakeService(options: { refuseCancel?: boolean; ignoreCancel?: boolean; refuseCancels?: number } = {}): RemoteAdapter & { cancels: string[]; states: Map<string, RemotePollResult["state"]> } {
  const states = new Map<string, RemotePollResult["state"]>();
  let next = 0;
  const cancels: string[] = [];
  return {
    cancels,
    states,
    async submit() {
      const remoteId = `r${++next}`;
      states.set(remoteId, "running");
      return { remoteId };
    },
    async poll(remoteId) {
      return { state: states.get(remoteId) ?? "failed", progress: { ratio: 0.5 } };
    },
    async cancel(remoteId) {
      cancels.push(remoteId);
      if (options.refuseCancel || cancels.length <= (options.refuseCancels ?? 0)) throw new Error("service refused the cancel");
      // A service may accept the cancel and keep running for a while.
      if (!options.ignoreCancel) states.set(remoteId, "cancelled");
    },
  };
}

describe("remote tasks", () => {
  it("a cancel reaches the remote service and is recorded", async () => {
    const service = fakeService();
    const engine = await openTestEngine({ adapters: { cloud: service }, remotePollIntervalMs: 20 });
    const job = await engine.submitJob({ adapter: "cloud", input: { circuit: "h2" } });
    await untilTaskStatus(engine, job.id, "main", "running");
    await engine.cancelJob(job.id, { reason: "budget" });
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(service.cancels).toEqual(["r1"]);
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1, pending: 0 });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote", remote: { adapter: "cloud", remoteId: "r1", cancelled: true, stopped: true } });
    expect(record.status).toBe("completed");
    expect((await engine.store.jobRunners(job.id))[0]?.remoteId).toBe("r1");
  });

  it("a refused remote cancel: the local cancel completes, the record stays partial, and the remote job runs on while the service refuses", async () => {
    const service = fakeService({ refuseCancel: true });
    const engine = await openTestEngine({ adapters: { cloud: service }, remotePollIntervalMs: 20, remoteCancelRetryDelaysMs: [30] });
    const job = await engine.submitJob({ adapter: "cloud", graceMs: 500 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await until(() => engine.getCancellation(job.id), (r) => r.status !== "in_progress");
    expect(record.status).toBe("partial");
    expect(record.remote).toEqual({ attempted: 1, cancelled: 0, pending: 1 });
    // Not a graceful stop: nothing was stopped on the remote side.
    expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 0 });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote_refused", remote: { adapter: "cloud", remoteId: "r1", cancelled: false, stopped: false } });
    expect(record.errors.some((e) => e.includes("service refused the cancel"))).toBe(true);
    const events = await engine.getJobEvents(job.id);
    expect(events.find((e) => e.type === "belay.task.cancelled")?.data["stopMode"]).toBe("remote_refused");
    // The cancel is retried, and every refusal is an event; the remote job still runs.
    await until(async () => service.cancels.length, (n) => n >= 3);
    const refusals = (await engine.getJobEvents(job.id)).filter((e) => e.type === "belay.cancellation.remote" && e.data["outcome"] === "refused");
    expect(refusals.length).toBeGreaterThanOrEqual(2);
    expect(refusals[0]?.data).toMatchObject({ adapter: "cloud", remoteId: "r1", cancellationId: record.id });
    expect(service.states.get("r1")).toBe("running");
    expect((await engine.getCancellation(job.id)).status).toBe("partial");
    expect((await engine.getJob(job.id)).cancellation?.status).toBe("partial");
  });

  it("a refused remote cancel is retried with backoff until accepted, then polled until the remote job has stopped: the record becomes completed", async () => {
    const service = fakeService({ refuseCancels: 2 });
    const engine = await openTestEngine({ adapters: { cloud: service }, remotePollIntervalMs: 20, remoteCancelRetryDelaysMs: [30, 60] });
    const job = await engine.submitJob({ adapter: "cloud", graceMs: 500 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await engine.cancelJob(job.id);
    const record = await until(() => engine.getCancellation(job.id), (r) => r.status === "completed", 10_000);
    expect(service.cancels).toEqual(["r1", "r1", "r1"]);
    expect(service.states.get("r1")).toBe("cancelled");
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1, pending: 0 });
    expect(record.tasks[0]).toMatchObject({ mode: "remote_refused", remote: { cancelled: true, stopped: true, attempts: 3, finalState: "cancelled", error: null } });
    expect(record.tasks[0]?.remote?.stoppedAt).toEqual(expect.any(String));
    expect((await engine.getJob(job.id)).cancellation?.status).toBe("completed");
    const outcomes = (await engine.getJobEvents(job.id)).filter((e) => e.type === "belay.cancellation.remote").map((e) => e.data["outcome"]);
    expect(outcomes).toEqual(["refused", "refused", "accepted", "stopped"]);
  });

  it("a partial record's remote follow-up resumes after a restart", async () => {
    const service = fakeService({ refuseCancel: true });
    const home = tempHome();
    const db = `sqlite:${join(home, "belay.db")}`;
    const first = await openTestEngine({ home, db, adapters: { cloud: service }, remotePollIntervalMs: 20, remoteCancelRetryDelaysMs: [60_000] });
    const job = await first.submitJob({ adapter: "cloud", graceMs: 500 });
    await untilTaskStatus(first, job.id, "main", "running");
    await first.cancelJob(job.id);
    await until(() => first.getCancellation(job.id), (r) => r.status === "partial");
    await first.close();
    // The remote job ends on its own while no engine runs; the next engine sees it and completes the record.
    service.states.set("r1", "succeeded");
    const second = await openTestEngine({ home, db, adapters: { cloud: service }, remotePollIntervalMs: 20 });
    const record = await until(() => second.getCancellation(job.id), (r) => r.status === "completed");
    expect(record.tasks[0]?.remote).toMatchObject({ cancelled: false, stopped: true, finalState: "succeeded" });
    await second.close();
  });

  it("a remote job that outlives the grace after an accepted cancel is counted once, and force-stopped", async () => {
    const service = fakeService({ ignoreCancel: true });
    const engine = await openTestEngine({ adapters: { cloud: service }, remotePollIntervalMs: 20 });
    const job = await engine.submitJob({ adapter: "cloud", graceMs: 200 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1, pending: 1 });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "forced", remote: { cancelled: true, stopped: false } });
    expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("completed");
    // Accepted but still running when it was force-stopped: not known to have stopped.
    expect(record.status).toBe("partial");
  });

  it("an unknown adapter is refused at submit", async () => {
    const engine = await openTestEngine({ adapters: { cloud: fakeService() } });
    await expect(engine.submitJob({ adapter: "nope" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });
});
