/**
 * examples/vqe-experiment (seed 001): the example's experiments, run by its own demo against
 * a real server with the example's handlers and an in-process fake cloud.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVqeDemo } from "../../examples/vqe-experiment/run.ts";
import type { ExperimentOutcome, VqeDemoResult } from "../../examples/vqe-experiment/run.ts";
import { startFakeRemote } from "../../src/fake-remote/service.ts";
import type { FakeJobView, FakeRemote } from "../../src/fake-remote/service.ts";
import { startCliServer } from "../cli/helpers.ts";
import type { CliServer } from "../cli/helpers.ts";

const handlers = fileURLToPath(new URL("../../examples/vqe-experiment/handlers.ts", import.meta.url));

describe("example: VQE experiments (local and cloud backends, cancelled mid-run)", () => {
  let cloud: FakeRemote;
  let server: CliServer;
  let result: VqeDemoResult;

  beforeAll(async () => {
    cloud = await startFakeRemote();
    server = await startCliServer({ concurrency: 4, handlers, remotes: { cloud: cloud.url }, remotePollIntervalMs: 100 });
    result = await runVqeDemo({ url: server.url, token: server.token, log: () => undefined });
  });
  afterAll(async () => {
    await server?.close();
    await cloud?.close();
  });

  const record = async (outcome: ExperimentOutcome) => (await server.client.getJobCancellation(outcome.id)).cancellation;
  const cloudJob = (outcome: ExperimentOutcome): FakeJobView => {
    const job = cloud.jobs().find((j) => (j.belay as { jobId?: string } | null)?.jobId === outcome.id);
    if (job === undefined) throw new Error(`no cloud job for experiment ${outcome.id}`);
    return job;
  };

  it("keeps every energy of a local experiment after its cancel, one point per iteration", async () => {
    const { before, after, cancel } = result.local;
    expect(before.convergenceData.length).toBeGreaterThanOrEqual(5);
    expect(after.status).toBe("cancelled");
    const iterations = after.convergenceData.map((p) => p.iteration);
    expect(iterations).toEqual(iterations.map((_, i) => i + 1));
    expect(after.convergenceData.slice(0, before.convergenceData.length)).toEqual(before.convergenceData);
    // Gradient descent from Hartree–Fock: each iteration lowers the energy.
    for (let i = 1; i < after.convergenceData.length; i += 1) expect(after.convergenceData[i]!.energy).toBeLessThan(after.convergenceData[i - 1]!.energy);
    // The handler's partial summary is kept as the cancelled task's output.
    expect(after.result).toMatchObject({ cancelled: true, converged: false, iterations: iterations.at(-1) });
    expect(after).toMatchObject({ errorMessage: "Cancelled by user", backend: "local" });
    expect(after.cancelledAt).not.toBeNull();

    expect(cancel).toMatchObject({ status: "cancelled", localCancelled: true, cloudCancelled: false, cloudCancelAttempted: false, warnings: [] });
    const cancellation = await record(result.local);
    expect(cancellation).toMatchObject({ status: "completed", reason: "Cancelled by user", remote: { attempted: 0, cancelled: 0 }, runnersTerminated: { graceful: 1, forced: 0 } });
    expect(cancellation.tasks).toEqual([expect.objectContaining({ key: "vqe", mode: "graceful", outcome: "mid_run" })]);
  });

  it("cancels a cloud experiment on the cloud too, and keeps the energies it reported", async () => {
    const { before, after, cancel } = result.cloud;
    expect(cancel).toMatchObject({ status: "cancelled", localCancelled: true, cloudCancelled: true, cloudCancelAttempted: true, warnings: [] });
    const cancellation = await record(result.cloud);
    expect(cancellation).toMatchObject({ status: "completed", remote: { attempted: 1, cancelled: 1 } });
    expect(cancellation.tasks).toEqual([expect.objectContaining({ key: "vqe", mode: "remote", outcome: "mid_run" })]);

    const job = cloudJob(result.cloud);
    expect(job.state).toBe("cancelled");
    expect(job.calls.filter((c) => c.op === "cancel").map((c) => c.status)).toEqual([202]);
    // Sampled at Belay's poll rate: every point kept is one the cloud reported, none lost by the cancel.
    expect(after.convergenceData.length).toBeGreaterThanOrEqual(before.convergenceData.length);
    expect(after.convergenceData.slice(0, before.convergenceData.length)).toEqual(before.convergenceData);
    // Iteration 0, if sampled, is the cloud's starting energy (its "started" report), not one of its points.
    for (const point of after.convergenceData.filter((p) => p.iteration > 0)) expect(job.points).toContainEqual(point);
    expect(after).toMatchObject({ status: "cancelled", backend: "cloud", errorMessage: "Cancelled by user" });
  });

  it("completes the local cancel of a cloud experiment whose cloud refuses, with cloudCancelled false and a warning", async () => {
    const { after, cancel } = result.stubbornCloud;
    expect(cancel).toMatchObject({ status: "cancelled", localCancelled: true, cloudCancelled: false, cloudCancelAttempted: true });
    expect(cancel.warnings).toEqual([expect.stringMatching(/^remote vqe: cancel failed: .*answered 500/)]);
    const cancellation = await record(result.stubbornCloud);
    // DESIGN §3: a refused remote cancel leaves the record partial (retried, the remote job polled)
    // until the remote job is seen to stop; the task's stop is remote_refused, not graceful.
    expect(cancellation).toMatchObject({ status: "partial", remote: { attempted: 1, cancelled: 0, pending: 1 } });
    expect(cancellation.tasks).toEqual([expect.objectContaining({ key: "vqe", mode: "remote_refused", outcome: "mid_run" })]);

    // The cloud job runs on: that is what the warning tells the operator.
    const job = cloudJob(result.stubbornCloud);
    expect(job.state).toBe("running");
    const cancelAnswers = job.calls.filter((c) => c.op === "cancel").map((c) => c.status);
    expect(cancelAnswers.length).toBeGreaterThanOrEqual(1);
    expect(cancelAnswers.every((status) => status === 500)).toBe(true);
    expect(after.status).toBe("cancelled");
    expect(after.convergenceData.length).toBeGreaterThanOrEqual(5);
  });
});
