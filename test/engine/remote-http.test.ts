/** Remote tasks through the `http` adapter against the fake remote service: cancels that succeed, fail and time out. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { httpAdapters } from "../../src/runners/remote-http.ts";
import { startFakeRemote } from "../../src/fake-remote/service.ts";
import type { FakeRemote } from "../../src/fake-remote/service.ts";
import type { Belay } from "../../src/engine/engine.ts";
import { openTestEngine, tempHome, until, untilJobStatus } from "../helpers.ts";

const crashChild = new URL("../fixtures/remote-crash-child.ts", import.meta.url).pathname;
const services: FakeRemote[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
});

async function setup(timeoutMs = 2000): Promise<{ fake: FakeRemote; engine: Belay }> {
  const fake = await startFakeRemote();
  services.push(fake);
  const home = tempHome();
  const engine = await openTestEngine({
    home,
    db: `sqlite:${join(home, "belay.db")}`,
    adapters: httpAdapters({ cloud: { url: fake.url, timeoutMs } }),
    remotePollIntervalMs: 20,
  });
  return { fake, engine };
}

/** Until the task runs and its remote progress has reached the engine. */
function untilProgress(engine: Belay, jobId: string): Promise<unknown> {
  return until(() => engine.getJob(jobId), (job) => (job.tasks[0]?.progress?.ratio ?? 0) > 0);
}

const longJob = { durationMs: 60_000, steps: 600 };

describe("remote tasks over the http adapter", () => {
  it("a remote job's progress and output reach the task", async () => {
    const { engine } = await setup();
    const job = await engine.submitJob({ adapter: "cloud", input: { durationMs: 100, steps: 2, result: { energy: -1.137 } } });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks[0]).toMatchObject({ status: "succeeded", output: { energy: -1.137 }, progress: { ratio: 1, message: "iteration 2/2" } });
  });

  it("a remote job that fails fails its task with the service's error", async () => {
    const { engine } = await setup();
    const job = await engine.submitJob({ adapter: "cloud", input: { durationMs: 20, steps: 1, fail: "out of quota" } });
    const done = await untilJobStatus(engine, job.id, "failed");
    expect(done.tasks[0]).toMatchObject({ status: "failed", error: "out of quota" });
  });

  it("a cancel reaches the service, stops the remote job, and is recorded as a remote stop", async () => {
    const { fake, engine } = await setup();
    const job = await engine.submitJob({ adapter: "cloud", input: longJob });
    await untilProgress(engine, job.id);
    await engine.cancelJob(job.id, { reason: "budget" });
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.status).toBe("cancelled");

    const record = await engine.getCancellation(job.id);
    expect(record.status).toBe("completed");
    expect(record.remote).toEqual({ attempted: 1, cancelled: 1, pending: 0 });
    expect(record.errors).toEqual([]);
    expect(record.tasks[0]).toMatchObject({ key: "main", outcome: "mid_run", mode: "remote" });

    const [remote] = fake.jobs();
    expect(remote).toMatchObject({ state: "cancelled", belay: { jobId: job.id, taskKey: "main", attempt: 1 } });
    expect(remote?.calls.filter((c) => c.op === "cancel").map((c) => c.status)).toEqual([202]);
    expect((await engine.store.jobRunners(job.id))[0]?.remoteId).toBe(remote?.id);
  });

  it("a compensation task runs on the service after the cancel, and its result is in the record", async () => {
    const { fake, engine } = await setup();
    const job = await engine.submitJob({
      tasks: [
        { key: "simulate", adapter: "cloud", input: longJob },
        { key: "release", adapter: "cloud", input: { durationMs: 20, steps: 1, result: { released: "qpu-7" } }, runOn: "cancel" },
      ],
    });
    await untilProgress(engine, job.id);
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks.map((t) => [t.key, t.status])).toEqual([["simulate", "cancelled"], ["release", "succeeded"]]);

    const record = await engine.getCancellation(job.id);
    expect(record.compensation).toEqual([{ key: "release", status: "succeeded", error: null, output: { released: "qpu-7" } }]);
    const [simulate, release] = fake.jobs();
    expect(simulate?.state).toBe("cancelled");
    expect(release?.belay).toMatchObject({ taskKey: "release" });
    // The compensation was submitted only after the cancel had reached the service.
    const cancelAt = simulate?.calls.find((c) => c.op === "cancel")?.at ?? "";
    expect(release !== undefined && release.createdAt >= cancelAt).toBe(true);
  });

  it("a cancel the service refuses is recorded as refused, the local cancellation completes, and the record is partial", async () => {
    const { fake, engine } = await setup();
    const job = await engine.submitJob({ adapter: "cloud", input: { ...longJob, cancel: "fail" } });
    await untilProgress(engine, job.id);
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    const [remote] = fake.jobs();
    expect(done.tasks[0]).toMatchObject({
      status: "cancelled",
      error: `remote cancel failed: POST ${fake.url}/jobs/${remote?.id}/cancel answered 500: the backend could not stop job ${remote?.id}`,
    });

    const record = await engine.getCancellation(job.id);
    expect(record.remote).toEqual({ attempted: 1, cancelled: 0, pending: 1 });
    expect(record.errors).toEqual([`remote main: cancel failed: POST ${fake.url}/jobs/${remote?.id}/cancel answered 500: the backend could not stop job ${remote?.id}`]);
    // The local task ended, the remote job was not stopped: neither "graceful" nor "remote".
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote_refused", remote: { adapter: "cloud", remoteId: remote?.id, cancelled: false, stopped: false } });
    expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 0 });
    expect(record.status).toBe("partial");
    // The service got the cancel and said no: its job runs on.
    expect(remote?.calls.filter((c) => c.op === "cancel").map((c) => c.status)).toEqual([500]);
    expect(fake.jobs()[0]?.state).toBe("running");
  });

  it("a cancel the service never answers times out, is recorded, and the local cancellation still completes", async () => {
    const { fake, engine } = await setup(300);
    const job = await engine.submitJob({ adapter: "cloud", input: { ...longJob, cancel: "timeout" } });
    await untilProgress(engine, job.id);
    await engine.cancelJob(job.id);
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks[0]?.error).toMatch(/^remote cancel failed: POST .*\/cancel: no answer within 300 ms$/);

    const record = await engine.getCancellation(job.id);
    expect(record.remote).toEqual({ attempted: 1, cancelled: 0, pending: 1 });
    expect(record.errors).toHaveLength(1);
    expect(record.errors[0]).toMatch(/^remote main: cancel failed: POST .*\/cancel: no answer within 300 ms$/);
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote_refused" });
    expect(record.status).toBe("partial");
    expect(fake.jobs()[0]?.calls.filter((c) => c.op === "cancel")).toEqual([{ op: "cancel", at: expect.any(String), status: null }]);
  });

  it("a grace period that runs out before the service answers the cancel still records the cancel as attempted, once", async () => {
    const { fake, engine } = await setup(5000);
    const job = await engine.submitJob({ adapter: "cloud", graceMs: 100, input: { ...longJob, cancel: "timeout" } });
    await untilProgress(engine, job.id);
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await until(() => engine.getCancellation(job.id), (r) => r.status !== "in_progress");
    expect(record.remote).toEqual({ attempted: 1, cancelled: 0, pending: 1 });
    expect(record.tasks[0]).toMatchObject({ outcome: "mid_run", mode: "remote_refused" });
    expect(record.status).toBe("partial");
    // No second cancel was sent by the kill.
    expect(fake.jobs()[0]?.calls.filter((c) => c.op === "cancel")).toHaveLength(1);
  });

  it("a cancel while the service is down is recorded as failed, and the local cancellation still completes", async () => {
    const { fake, engine } = await setup();
    const job = await engine.submitJob({ adapter: "cloud", input: longJob });
    await untilProgress(engine, job.id);
    fake.setDown(true);
    await engine.cancelJob(job.id);
    await untilJobStatus(engine, job.id, "cancelled");
    const record = await engine.getCancellation(job.id);
    expect(record.remote).toEqual({ attempted: 1, cancelled: 0, pending: 1 });
    expect(record.errors[0]).toContain("answered 503: the fake remote service is down");
    expect(record.status).toBe("partial");
    expect(fake.jobs()[0]?.calls.filter((c) => c.op === "cancel").map((c) => c.status)).toEqual([503]);
  });

  it("a remote job whose engine died is cancelled by the next start, through the stored remote id", async () => {
    const fake = await startFakeRemote();
    services.push(fake);
    const home = tempHome();
    const child = spawn(process.execPath, [crashChild, home, fake.url], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const { jobId, remoteId } = JSON.parse(line) as { jobId: string; remoteId: string };
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect(fake.job(remoteId)?.state).toMatch(/queued|running/);

    const engine = await openTestEngine({ home, remotes: { cloud: fake.url }, remotePollIntervalMs: 20 });
    // The task's runner is lost with it (no retries, no cancel asked): failed; the remote job is cancelled.
    const done = await untilJobStatus(engine, jobId, "failed");
    expect(done.tasks[0]?.error).toMatch(/^runner lost/);
    expect(fake.job(remoteId)?.state).toBe("cancelled");
    expect(fake.job(remoteId)?.calls.filter((c) => c.op === "cancel").map((c) => c.status)).toEqual([202]);
  });
});
