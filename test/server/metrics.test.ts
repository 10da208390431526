/** GET /metrics: the Prometheus metrics of DESIGN §5, fed by real cancellations. */
import { describe, expect, it } from "vitest";
import type { BelayEvent } from "../../src/core/model.ts";
import type { Belay } from "../../src/engine/engine.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { startFakeRemote } from "../../src/fake-remote/service.ts";
import { httpAdapters } from "../../src/runners/remote-http.ts";
import type { BelayMetrics } from "../../src/server/metrics.ts";
import { testServer } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";
import { until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse the text exposition format (enough of it for these metrics). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ""] = pair[2] ?? "";
    samples.push({ name: match[1] ?? "", labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; 0 when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

async function scrape(s: TestServer): Promise<Sample[]> {
  const res = await s.call(null, "GET", "/metrics");
  expect(res.statusCode).toBe(200);
  expect(String(res.headers["content-type"])).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(res.body);
}

async function serverWithMetrics(options: Parameters<typeof testServer>[0]): Promise<TestServer> {
  return testServer(options, {}, (engine) => {
    const metrics = createMetrics(engine);
    return { extensions: [metrics.extension], stop: metrics.stop };
  });
}

describe("GET /metrics", () => {
  it("a refused remote cancel counts as a remote cancel failure per adapter, not as a graceful stop; the record is partial until the remote job has stopped", async () => {
    const fake = await startFakeRemote();
    try {
      const s = await serverWithMetrics({ adapters: httpAdapters({ cloud: { url: fake.url, timeoutMs: 2000 } }), remotePollIntervalMs: 20, remoteCancelRetryDelaysMs: [100] });
      // The service refuses every cancel; the remote job ends on its own after 1.5 s.
      const id = (await s.call("user", "POST", "/api/v1/jobs", { adapter: "cloud", input: { durationMs: 1500, steps: 30, cancel: "fail" } })).json.job.id as string;
      await until(() => s.engine.getJob(id), (job) => (job.tasks[0]?.progress?.ratio ?? 0) > 0);
      expect((await s.call("operator", "POST", `/api/v1/jobs/${id}/cancel`, {})).statusCode).toBe(202);
      await untilJobStatus(s.engine, id, "cancelled");
      const partial = await until(async () => (await s.call("viewer", "GET", `/api/v1/jobs/${id}/cancellation`)).json.cancellation, (r) => r.status !== "in_progress");
      expect(partial.status).toBe("partial");
      expect(partial.remote).toEqual({ attempted: 1, cancelled: 0, pending: 1 });
      expect(partial.tasks[0]).toMatchObject({ mode: "remote_refused", remote: { adapter: "cloud", cancelled: false, stopped: false } });
      expect((await s.call("viewer", "GET", `/api/v1/jobs/${id}`)).json.job.cancellation.status).toBe("partial");
      const m = await scrape(s);
      expect(value(m, "belay_runners_terminated_total", { mode: "graceful" })).toBe(0);
      expect(value(m, "belay_runners_terminated_total", { mode: "remote" })).toBe(0);
      expect(value(m, "belay_remote_cancel_failures_total", { adapter: "cloud" })).toBeGreaterThanOrEqual(1);
      expect(value(m, "belay_cancellation_requests_total", { scope: "job", force: "false", outcome: "partial" })).toBe(1);
      // Retried (and refused) until the remote job is seen to have ended: then the record is completed.
      const completed = await until(async () => (await s.call("viewer", "GET", `/api/v1/jobs/${id}/cancellation`)).json.cancellation, (r) => r.status === "completed");
      expect(completed.tasks[0].remote).toMatchObject({ cancelled: false, stopped: true, finalState: "succeeded" });
      expect(completed.remote.pending).toBe(0);
      const after = await scrape(s);
      expect(value(after, "belay_remote_cancel_failures_total", { adapter: "cloud" })).toBeGreaterThanOrEqual(2);
      expect(fake.jobs()[0]?.calls.filter((c) => c.op === "cancel").length).toBeGreaterThanOrEqual(2);
    } finally {
      await fake.close();
    }
  }, 60_000);

  it("counts tasks the stall watchdog cancelled, and not a task cancelled by a user", async () => {
    const s = await serverWithMetrics({});
    const silent = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["sleep", "30"], stallTimeoutMs: 1000 })).json.job.id as string;
    const user = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["sleep", "30"] })).json.job.id as string;
    await untilTaskStatus(s.engine, user, "main", "running");
    expect((await s.call("operator", "POST", `/api/v1/jobs/${user}/tasks/main/cancel`, { reason: "stalled" })).statusCode).toBe(202);
    await untilTaskStatus(s.engine, silent, "main", "cancelled");
    await untilTaskStatus(s.engine, user, "main", "cancelled");
    const m = await until(
      () => scrape(s),
      (samples) => value(samples, "belay_cancellation_duration_seconds_count", { scope: "task" }) === 2,
    );
    expect(value(m, "belay_tasks_stalled_total")).toBe(1);
  });

  it("counts a graceful and a forced cancel of running jobs, with their labels and histograms", async () => {
    // This node claims only the default queue, so jobs of the "parked" queue stay queued.
    const s = await serverWithMetrics({ queues: ["default"] });

    const graceful = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["sleep", "30"] })).json.job.id as string;
    const stubborn = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["sh", "-c", "trap '' TERM; sleep 30"], graceMs: 30_000 })).json.job.id as string;
    const quick = (await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] })).json.job.id as string;
    for (let i = 0; i < 3; i += 1) {
      expect((await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"], queue: "parked" })).statusCode).toBe(201);
    }
    await untilTaskStatus(s.engine, graceful, "main", "running");
    await untilTaskStatus(s.engine, stubborn, "main", "running");
    await untilJobStatus(s.engine, quick, "succeeded");
    await new Promise((r) => setTimeout(r, 100)); // let the shell install its trap

    expect((await s.call("operator", "POST", `/api/v1/jobs/${graceful}/cancel`, { reason: "stop" })).statusCode).toBe(202);
    expect((await s.call("operator", "POST", `/api/v1/jobs/${stubborn}/cancel`, { force: true })).statusCode).toBe(202);
    await untilJobStatus(s.engine, graceful, "cancelled");
    await untilJobStatus(s.engine, stubborn, "cancelled");
    // The finalize step's event is published right after the job's terminal event.
    const m = await until(
      () => scrape(s),
      (samples) => value(samples, "belay_cancellation_duration_seconds_count", { scope: "job" }) === 2,
    );

    expect(value(m, "belay_cancellation_requests_total", { scope: "job", force: "false", outcome: "completed" })).toBe(1);
    expect(value(m, "belay_cancellation_requests_total", { scope: "job", force: "true", outcome: "completed" })).toBe(1);
    expect(value(m, "belay_runners_terminated_total", { mode: "graceful" })).toBe(1);
    expect(value(m, "belay_runners_terminated_total", { mode: "forced" })).toBe(1);
    expect(value(m, "belay_runners_terminated_total", { mode: "remote" })).toBe(0);
    expect(value(m, "belay_cancellation_failures_total", { step: "cleanup" })).toBe(0);
    // No Slurm task here: the family is exposed, at 0, from the first scrape.
    expect(value(m, "belay_slurm_cancel_failures_total", { reason: "scancel_failed" })).toBe(0);
    expect(value(m, "belay_slurm_cancel_failures_total", { reason: "job_did_not_leave" })).toBe(0);
    expect(value(m, "belay_jobs_total", { status: "cancelled" })).toBe(2);
    expect(value(m, "belay_jobs_total", { status: "succeeded" })).toBe(1);
    expect(value(m, "belay_jobs_total", { status: "failed" })).toBe(0);

    // Histograms: counts, a sum that is a plausible duration, cumulative buckets up to +Inf.
    expect(value(m, "belay_cancellation_duration_seconds_sum", { scope: "job" })).toBeGreaterThan(0);
    expect(value(m, "belay_cancellation_duration_seconds_bucket", { scope: "job", le: "+Inf" })).toBe(2);
    expect(value(m, "belay_task_duration_seconds_count", { status: "cancelled" })).toBe(2);
    expect(value(m, "belay_task_duration_seconds_count", { status: "succeeded" })).toBe(1);
    expect(value(m, "belay_task_duration_seconds_bucket", { status: "cancelled", le: "+Inf" })).toBe(2);
    const buckets = m.filter((x) => x.name === "belay_task_duration_seconds_bucket" && x.labels["status"] === "cancelled").map((x) => x.value);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));

    // Gauges read at scrape time.
    expect(value(m, "belay_jobs_queued")).toBe(3);
    expect(value(m, "belay_jobs_cancelling")).toBe(0);
    // Default process metrics are registered too.
    expect(m.some((x) => x.name === "process_cpu_seconds_total")).toBe(true);
  });

  it("counts a queued job's cancel and follows the queue as it changes", async () => {
    const s = await serverWithMetrics({ concurrency: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 2; i += 1) ids.push((await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"] })).json.job.id as string);
    expect(value(await scrape(s), "belay_jobs_queued")).toBe(2);
    await s.call("operator", "POST", `/api/v1/jobs/${ids[0]}/cancel`, {});
    const m = await until(
      () => scrape(s),
      (samples) => value(samples, "belay_jobs_queued") === 1,
    );
    expect(value(m, "belay_cancellation_requests_total", { scope: "job", force: "false", outcome: "completed" })).toBe(1);
    // A job that never ran stopped no runner and has no task duration.
    expect(value(m, "belay_runners_terminated_total", { mode: "graceful" })).toBe(0);
    expect(value(m, "belay_task_duration_seconds_count", { status: "cancelled" })).toBe(0);
  });

  it("reports the heap retained after the latest major GC: what a forced major GC leaves in use", async () => {
    const s = await serverWithMetrics({});
    expect(value(await scrape(s), "belay_heap_used_after_major_gc_bytes")).toBeGreaterThan(0);
    const { getHeapStatistics, setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    gc();
    const retained = getHeapStatistics().used_heap_size;
    // The gauge is set from the GC's performance entry, delivered just after it: it then says
    // what the collection left in use (allocation since moves it a little, not by a third).
    const after = await until(
      () => scrape(s),
      (m) => Math.abs(value(m, "belay_heap_used_after_major_gc_bytes") - retained) < retained * 0.3,
      30_000,
    );
    expect(value(after, "belay_heap_used_after_major_gc_bytes")).toBeGreaterThan(retained * 0.7);
  });

  it("is public and not in the OpenAPI document", async () => {
    const s = await serverWithMetrics({ concurrency: 0 });
    expect((await s.call(null, "GET", "/metrics")).statusCode).toBe(200);
    const doc = (await s.call(null, "GET", "/api/v1/openapi.json")).json as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).some((p) => p.includes("metrics"))).toBe(false);
  });
});

describe("createMetrics, event by event", () => {
  function fakeEngine(): { engine: Pick<Belay, "on" | "countJobs" | "listPools" | "draining">; emit(type: BelayEvent["type"], data: Record<string, unknown>): void; listeners: number } {
    const listeners = new Set<(e: BelayEvent) => void>();
    let seq = 0;
    const counts = { queued: 4, running: 0, cancelling: 2, succeeded: 0, failed: 0, partial: 0, cancelled: 0 };
    const engine = {
      on: (type: string, listener: (e: BelayEvent) => void) => {
        // Job events only: the node's drained event has no job and is tested with a real engine.
        if (type === "belay.node.drained") return () => undefined;
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      countJobs: async () => counts,
      listPools: async () => [{ name: "gpu", capacity: 2, inUse: 1, holders: [{ jobId: "j", taskKey: "t", nodeId: "n", since: null }] }],
      draining: false,
    } as unknown as Pick<Belay, "on" | "countJobs" | "listPools" | "draining">;
    return {
      engine,
      emit(type, data) {
        seq += 1;
        const event = { specversion: "1.0", id: String(seq), seq, source: "belay", type, subject: "j", time: new Date().toISOString(), datacontenttype: "application/json", data: { jobId: "j", ...data } } as BelayEvent;
        for (const l of listeners) l(event);
      },
      get listeners() {
        return listeners.size;
      },
    };
  }

  async function read(metrics: BelayMetrics): Promise<Sample[]> {
    return parse(await metrics.registry.metrics());
  }

  it("maps step failures, remote stops, task cancels, retries and too_late outcomes to their labels", async () => {
    const fake = fakeEngine();
    const metrics = createMetrics(fake.engine, { defaultMetrics: false });
    const step = (name: string, status: string, extra: Record<string, unknown> = {}): void =>
      fake.emit("belay.cancellation.step", { cancellationId: "c", scope: "task", force: false, step: name, status, startedAt: null, finishedAt: null, detail: null, ...extra });
    step("cleanup", "failed");
    step("force_kill", "failed");
    step("signal_runners", "completed");
    step("finalize", "completed", { recordStatus: "partial", durationMs: 1500 });
    step("finalize", "completed", { recordStatus: "too_late", durationMs: 20, force: true });
    fake.emit("belay.task.cancelled", { from: "cancelling", status: "cancelled", attempt: 1, stopMode: "remote", durationMs: 3000 });
    fake.emit("belay.task.cancelled", { from: "pending", status: "cancelled", attempt: 0, stopMode: null });
    fake.emit("belay.task.failed", { attempt: 1, exitCode: 1, error: "x", retrying: true });
    fake.emit("belay.task.failed", { from: "running", status: "failed", attempt: 2, durationMs: 250 });
    fake.emit("belay.job.partial", { from: "running", status: "partial" });

    const m = await read(metrics);
    expect(value(m, "belay_cancellation_failures_total", { step: "cleanup" })).toBe(1);
    expect(value(m, "belay_cancellation_failures_total", { step: "force_kill" })).toBe(1);
    expect(value(m, "belay_cancellation_failures_total", { step: "signal_runners" })).toBe(0);
    expect(value(m, "belay_cancellation_requests_total", { scope: "task", force: "false", outcome: "partial" })).toBe(1);
    expect(value(m, "belay_cancellation_requests_total", { scope: "task", force: "true", outcome: "too_late" })).toBe(1);
    expect(value(m, "belay_cancellation_duration_seconds_sum", { scope: "task" })).toBeCloseTo(1.52, 5);
    expect(value(m, "belay_cancellation_duration_seconds_bucket", { scope: "task", le: "1" })).toBe(1);
    expect(value(m, "belay_runners_terminated_total", { mode: "remote" })).toBe(1);
    expect(value(m, "belay_runners_terminated_total", { mode: "graceful" })).toBe(0);
    expect(value(m, "belay_task_duration_seconds_count", { status: "cancelled" })).toBe(1);
    expect(value(m, "belay_task_duration_seconds_count", { status: "failed" })).toBe(1);
    expect(value(m, "belay_jobs_total", { status: "partial" })).toBe(1);
    expect(value(m, "belay_jobs_queued")).toBe(4);
    expect(value(m, "belay_jobs_cancelling")).toBe(2);

    expect(fake.listeners).toBe(1);
    metrics.stop();
    expect(fake.listeners).toBe(0);
  });
});
