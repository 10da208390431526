/** Remote tasks: the adapter's cancel is called and recorded; a failed remote cancel still completes locally. */
import { describe, expect, it } from "vitest";
import type { RemoteAdapter, RemotePollResult } from "../../src/runners/remote.ts";
import { openTestEngine, untilJobStatus, untilTaskStatus } from "../helpers.ts";

/** An in-memory remote service: jobs run until cancelled; `refuseCancel` makes its cancel fail. */
function fakeService(options: { refuseCancel?: boolean; ignoreCancel?: boolean } = {}): RemoteAdapter & { cancels: string[] } {
  const states = new Map<string, RemotePollResult["state"]>();
  let next = 0;
  const cancels: string[] = [];
  return {
    cancels,
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
      if (options.refuseCancel) throw new Error("service refused the cancel");
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
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1 });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote" });
    expect(record.status).toBe("completed");
    expect((await engine.store.jobRunners(job.id))[0]?.remoteId).toBe("r1");
  });

  it("a remote cancel that fails is recorded and the local cancellation still completes", async () => {
    const service = fakeService({ refuseCancel: true });
    const engine = await openTestEngine({ adapters: { cloud: service }, remotePollIntervalMs: 20 });
    const job = await engine.submitJob({ adapter: "cloud", graceMs: 500 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.remote).toEqual({ attempted: 1, cancelled: 0 });
    expect(record.errors.some((e) => e.includes("service refused the cancel"))).toBe(true);
    expect(["completed", "partial"]).toContain(record.status);
  });

  it("a remote job that outlives the grace after an accepted cancel is counted once, and force-stopped", async () => {
    const service = fakeService({ ignoreCancel: true });
    const engine = await openTestEngine({ adapters: { cloud: service }, remotePollIntervalMs: 20 });
    const job = await engine.submitJob({ adapter: "cloud", graceMs: 200 });
    await untilTaskStatus(engine, job.id, "main", "running");
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1 });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "forced" });
    expect(record.steps.find((s) => s.name === "force_kill")?.status).toBe("completed");
  });

  it("an unknown adapter is refused at submit", async () => {
    const engine = await openTestEngine({ adapters: { cloud: fakeService() } });
    await expect(engine.submitJob({ adapter: "nope" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });
});
