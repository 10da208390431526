/** Compensation, bulk cancel, failFast, retries, pools, cleanup failure, idempotent submit, 100 concurrent cancels. */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { isBelayError } from "../../src/core/errors.ts";
import { openTestEngine, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";

describe("compensation tasks", () => {
  it("run after a running job's cancellation; their result is part of the record", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      tasks: [
        { key: "deploy", command: ["sleep", "30"] },
        { key: "rollback", command: ["sh", "-c", "echo rolled back"], runOn: "cancel" },
        { key: "notify", handler: "noop", runOn: "cancel", dependsOn: ["rollback"] },
      ],
    });
    await untilTaskStatus(engine, job.id, "deploy", "running");
    await engine.cancelJob(job.id, { reason: "bad release" });
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks.map((t) => [t.key, t.status])).toEqual([
      ["deploy", "cancelled"],
      ["rollback", "succeeded"],
      ["notify", "succeeded"],
    ]);
    const record = await engine.getCancellation(job.id);
    expect(record.steps.map((s) => s.name)).toContain("compensate");
    expect(record.steps.find((s) => s.name === "compensate")?.status).toBe("completed");
    expect(record.compensation.map((c) => [c.key, c.status])).toEqual([
      ["rollback", "succeeded"],
      ["notify", "succeeded"],
    ]);
    expect((await engine.getLogs(job.id, { taskKey: "rollback" })).map((l) => l.line)).toEqual(["rolled back"]);
  });

  it("run even when the job was still queued", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({
      tasks: [
        { key: "work", command: ["true"] },
        { key: "release-lock", handler: "noop", runOn: "cancel" },
      ],
    });
    const result = await engine.cancelJob(job.id);
    expect(result.cancellation.status).toBe("in_progress");
    const done = await untilJobStatus(engine, job.id, "cancelled");
    expect(done.tasks.find((t) => t.key === "release-lock")?.status).toBe("succeeded");
    expect((await engine.getCancellation(job.id)).status).toBe("completed");
  });

  it("are skipped when the job finishes without a cancel", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ tasks: [{ key: "work", handler: "noop" }, { key: "undo", handler: "noop", runOn: "cancel" }] });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks.find((t) => t.key === "undo")?.status).toBe("skipped");
  });
});

describe("bulk cancel", () => {
  it("dry run counts and samples, then cancels by filter with one record per job", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 30; i += 1) ids.push((await engine.submitJob({ command: ["true"], queue: i < 20 ? "batch" : "other", labels: { team: i % 2 === 0 ? "a" : "b" } })).id);
    const dry = await engine.cancelJobs({ filter: { queue: "batch", labels: { team: "a" } }, dryRun: true, sampleSize: 3 });
    expect(dry.matched).toBe(10);
    expect(dry.cancelled).toBe(0);
    expect(dry.sample).toHaveLength(3);
    expect(dry.cancellation).toBeNull();
    expect((await engine.getJob(ids[0] ?? "")).status).toBe("queued");

    const result = await engine.cancelJobs({ filter: { queue: "batch", labels: { team: "a" } }, reason: "batch aborted", idempotencyKey: "k1" });
    expect(result.matched).toBe(10);
    expect(result.cancelled).toBe(10);
    expect(result.cancellation?.scope).toBe("bulk");
    const bulkId = result.cancellation?.id ?? "";
    const bulk = await until(() => engine.getCancellation(bulkId), (r) => r.status !== "in_progress");
    expect(bulk.status).toBe("completed");
    expect(bulk.progress).toEqual({ total: 10, done: 10 });
    const children = await engine.listCancellations({ parentId: bulkId } as never, { limit: 100 });
    expect(children.total).toBe(10);
    const statuses = await Promise.all(ids.map(async (id) => (await engine.getJob(id)).status));
    expect(statuses.filter((s) => s === "cancelled")).toHaveLength(10);
    expect(statuses.filter((s) => s === "queued")).toHaveLength(20);

    const repeat = await engine.cancelJobs({ filter: { queue: "batch" }, idempotencyKey: "k1" });
    expect(repeat.cancellation?.id).toBe(bulkId);
    expect((await engine.getJob(ids[1] ?? "")).status).toBe("queued");
  });

  it("an empty filter is refused", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    await expect(engine.cancelJobs({ filter: {} })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });

  it("cancels running jobs too, and the bulk record finishes when they have", async () => {
    const engine = await openTestEngine();
    const jobs = await Promise.all([1, 2, 3].map(() => engine.submitJob({ command: ["sleep", "30"], labels: { run: "x" } })));
    for (const job of jobs) await untilTaskStatus(engine, job.id, "main", "running");
    const result = await engine.cancelJobs({ filter: { labels: { run: "x" } } });
    expect(result.cancelled).toBe(3);
    for (const job of jobs) await untilJobStatus(engine, job.id, "cancelled");
    const bulk = await until(() => engine.getCancellation(result.cancellation?.id ?? ""), (r) => r.status !== "in_progress");
    expect(bulk.status).toBe("completed");
  });
});

describe("scheduling", () => {
  it("failFast cancels the independent branches and the job fails", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      failFast: true,
      tasks: [
        { key: "long", command: ["sleep", "30"] },
        { key: "bad", command: ["sh", "-c", "sleep 0.2; exit 3"] },
        { key: "after", command: ["true"], dependsOn: ["long"] },
      ],
    });
    const done = await untilJobStatus(engine, job.id, "failed");
    expect(Object.fromEntries(done.tasks.map((t) => [t.key, t.status]))).toEqual({ long: "cancelled", bad: "failed", after: "cancelled" });
    expect(done.tasks.find((t) => t.key === "bad")?.exitCode).toBe(3);
  });

  it("failFast force-kills a branch that ignores SIGTERM once its grace period is over", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      failFast: true,
      graceMs: 300,
      tasks: [
        { key: "stubborn", command: "trap '' TERM; echo ready; while true; do sleep 0.05; done" },
        { key: "bad", command: ["sh", "-c", "sleep 0.3; exit 3"] },
      ],
    });
    const done = await untilJobStatus(engine, job.id, "failed");
    expect(Object.fromEntries(done.tasks.map((t) => [t.key, t.status]))).toEqual({ stubborn: "cancelled", bad: "failed" });
  });

  it("without failFast, independent branches keep running and dependents are skipped", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({
      tasks: [
        { key: "bad", command: ["false"] },
        { key: "dependent", command: ["true"], dependsOn: ["bad"] },
        { key: "independent", command: ["sh", "-c", "sleep 0.2"] },
      ],
    });
    const done = await untilJobStatus(engine, job.id, "failed");
    expect(Object.fromEntries(done.tasks.map((t) => [t.key, t.status]))).toEqual({ bad: "failed", dependent: "skipped", independent: "succeeded" });
  });

  it("retries a failed attempt with attempt + 1", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ tasks: [{ key: "t", handler: "flaky", input: { failures: 2 }, retries: 2 }] });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks[0]?.attempt).toBe(3);
    expect(done.tasks[0]?.output).toEqual({ attempt: 3 });
    const failures = (await engine.getJobEvents(job.id)).filter((e) => e.type === "belay.task.failed");
    expect(failures.map((e) => e.data["retrying"])).toEqual([true, true]);
  });

  it("runs higher priority first", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const low = await engine.submitJob({ handler: "noop", priority: 1 });
    const high = await engine.submitJob({ handler: "noop", priority: 5 });
    await engine.close();
    const again = await openTestEngine({ concurrency: 1, home: engine.store.description.replace(/^sqlite:/, "").replace(/\/belay\.db$/, "") });
    const order: string[] = [];
    again.on("belay.job.started", (e) => order.push(e.subject));
    await untilJobStatus(again, low.id, "succeeded");
    await untilJobStatus(again, high.id, "succeeded");
    expect(order).toEqual([high.id, low.id]);
  });

  it("a resource pool bounds how many tasks hold it; every end gives the slot back", async () => {
    const engine = await openTestEngine({ concurrency: 4, pools: { gpu: 1 } });
    const first = await engine.submitJob({ tasks: [{ key: "t", command: ["sleep", "30"], uses: ["gpu"] }] });
    const second = await engine.submitJob({ tasks: [{ key: "t", handler: "noop", uses: ["gpu"] }] });
    await untilTaskStatus(engine, first.id, "t", "running");
    await new Promise((r) => setTimeout(r, 200));
    expect((await engine.getJob(second.id)).status).toBe("queued");
    expect((await engine.pools())["gpu"]).toEqual({ capacity: 1, holders: [`${first.id}/t`] });
    await engine.cancelJob(first.id);
    await untilJobStatus(engine, second.id, "succeeded");
    expect((await engine.pools())["gpu"]?.holders).toEqual([]);
    await expect(engine.submitJob({ tasks: [{ key: "t", handler: "noop", uses: ["tpu"] }] })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });

  it("an idempotencyKey returns the same job; an invalid spec writes nothing", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const one = await engine.submitJob({ command: ["true"], idempotencyKey: "abc" });
    const two = await engine.submitJob({ command: ["true"], idempotencyKey: "abc" });
    expect(two.id).toBe(one.id);
    await expect(engine.submitJob({ tasks: [{ key: "a", command: ["true"], dependsOn: ["missing"] }] })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await expect(engine.submitJob({ handler: "no_such_handler" })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    expect((await engine.listJobs()).items).toHaveLength(1);
  });
});

describe("cleanup failure", () => {
  it("is retried with backoff and makes the record partial", async () => {
    const engine = await openTestEngine({ cleanupRetryDelaysMs: [10, 20] });
    const job = await engine.submitJob({ command: "touch locked; echo ready; sleep 30" });
    await until(() => engine.getLogs(job.id), (lines) => lines.some((l) => l.line === "ready"));
    const workDir = (await engine.store.jobRunners(job.id))[0]?.workDir ?? "";
    execFileSync("chattr", ["+i", `${workDir}/locked`]);
    try {
      await engine.cancelJob(job.id);
      const done = await untilJobStatus(engine, job.id, "cancelled");
      expect(done.cancellation?.status).toBe("partial");
      const record = await engine.getCancellation(job.id);
      expect(record.status).toBe("partial");
      const cleanup = record.steps.find((s) => s.name === "cleanup");
      expect(cleanup?.status).toBe("failed");
      expect(cleanup?.detail?.["attempts"]).toBe(3);
      expect(record.errors.some((e) => e.startsWith("cleanup:"))).toBe(true);
    } finally {
      execFileSync("chattr", ["-i", `${workDir}/locked`]);
    }
  });
});

describe("concurrency", () => {
  it("100 concurrent cancels of one running job produce one record", async () => {
    const engine = await openTestEngine();
    const job = await engine.submitJob({ command: ["sleep", "30"] });
    await untilTaskStatus(engine, job.id, "main", "running");
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => engine.cancelJob(job.id, { reason: `r${i}`, force: i === 50 })));
    expect(new Set(results.map((r) => r.cancellation.id)).size).toBe(1);
    await untilJobStatus(engine, job.id, "cancelled");
    expect((await engine.listCancellations({ jobId: job.id })).total).toBe(1);
  });

  it("a cancel racing the claim of a queued job: exactly one wins, and a cancelled job never runs", async () => {
    for (let i = 0; i < 20; i += 1) {
      const engine = await openTestEngine({ concurrency: 4 });
      const job = await engine.submitJob({ command: ["true"] });
      const result = await engine.cancelJob(job.id).catch((e: unknown) => e);
      const final = await until(() => engine.getJob(job.id), (j) => ["cancelled", "succeeded"].includes(j.status));
      if (isBelayError(result)) {
        expect(result.code).toBe("JOB_ALREADY_FINISHED");
      } else if (final.status === "cancelled") {
        const started = (await engine.getJobEvents(job.id)).filter((e) => e.type === "belay.task.started");
        const record = await engine.getCancellation(job.id);
        // Either it never started, or it was stopped mid-run: never both cancelled and finished.
        expect(started.length === 0 || record.tasks[0]?.outcome === "mid_run").toBe(true);
      }
      await engine.close();
    }
  });
});
