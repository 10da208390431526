/**
 * The Store conformance suite (DESIGN §6, STYLE habit 2): every implementation of `Store`
 * runs it through `describeStoreConformance`, with a factory that opens a fresh, migrated
 * store per test. It exercises every Store method, the rules of src/core through
 * `mutateJob` / `claimTasks`, and the races the store must decide.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { finalizeCancellation, newRecord } from "../../src/core/cancellation.ts";
import { isBelayError } from "../../src/core/errors.ts";
import { claimTask, recordProgress, resumeJob, saveCheckpoint, startCompensation } from "../../src/core/lifecycle.ts";
import type { CancellationRecord, Job } from "../../src/core/model.ts";
import { allJobTransitions, allTaskTransitions, jobStatuses } from "../../src/core/states.ts";
import { newId } from "../../src/engine/ids.ts";
import type { BelayEvent } from "../../src/core/model.ts";
import type { ActiveTask, NodeRecord, RunnerRecord, Store, TokenRecord, WebhookDelivery, WebhookRecord } from "../../src/store/store.ts";
import { Harness, cancelJob, cancelTask, ended, sleep } from "./harness.ts";

export interface OpenedStore {
  /** A fresh, migrated store. */
  store: Store;
  /** Close every store opened for the test and remove what it stored. */
  cleanup(): Promise<void>;
  /** A second, independent instance on the same database (its own connections), closed by `cleanup`. */
  openSibling?: () => Promise<Store>;
}

export type StoreFactory = () => Promise<OpenedStore>;

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await errorOf(promise);
  if (isBelayError(error)) return error.code;
  throw error;
}

const twoTasks = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: "pair",
  tasks: [
    { key: "a", command: ["true"] },
    { key: "b", command: ["true"] },
  ],
  ...extra,
});

const chain = { name: "chain", tasks: [{ key: "a", command: ["true"] }, { key: "b", command: ["true"], dependsOn: ["a"] }] };

export function describeStoreConformance(name: string, factory: StoreFactory): void {
  describe(name, () => {
    let opened: OpenedStore | null = null;
    let store: Store;
    let h: Harness;

    beforeEach(async () => {
      opened = await factory();
      store = opened.store;
      h = new Harness(store);
    });

    afterEach(async () => {
      await opened?.cleanup();
      opened = null;
    });

    async function sibling(): Promise<Store> {
      if (opened?.openSibling === undefined) throw new Error("this store factory cannot open a second instance");
      return opened.openSibling();
    }

    // ---- the scenarios that take the state machines through their transitions -------------

    /** queued → running → succeeded; pending → running → succeeded. */
    async function runToSuccess(): Promise<Job> {
      const job = await h.submit({ command: ["true"], params: { z: 1, a: [true, null, "é"] } });
      const [claim] = await h.claimExactly([`${job.id}/main`]);
      expect(claim?.value?.task.attempt).toBe(1);
      const end = await h.mutate(job.id, ended("main", 1, { output: { rows: 3 } }));
      expect(end.value.applied).toBe(true);
      expect(end.job.status).toBe("succeeded");
      return end.job;
    }

    /** running → pending (retry) → running → failed; pending → skipped; running → failed (job). */
    async function failAfterRetry(): Promise<Job> {
      const job = await h.submit({ name: "retry", tasks: [{ key: "a", command: ["false"], retries: 1 }, { key: "b", command: ["true"], dependsOn: ["a"] }] });
      await h.claimExactly([`${job.id}/a`]);
      const retry = await h.mutate(job.id, ended("a", 1, { outcome: "failed", exitCode: 1, error: "exit 1" }));
      const a = retry.job.tasks[0]!;
      expect([a.status, a.ready, a.retriesUsed, a.attempt]).toEqual(["pending", true, 1, 1]);
      expect(retry.events.map((e) => e.type)).toEqual(["belay.task.failed"]);
      await h.claimExactly([`${job.id}/a`]);
      const failed = await h.mutate(job.id, ended("a", 2, { outcome: "failed", exitCode: 2, error: "exit 2" }));
      expect(failed.job.tasks.map((t) => t.status)).toEqual(["failed", "skipped"]);
      expect(failed.job.status).toBe("failed");
      return failed.job;
    }

    /** queued → cancelling → cancelled; pending → cancelled; a resume; then cancelled while running. */
    async function cancelQueuedThenResume(): Promise<Job> {
      const job = await h.submit({ command: ["sleep", "10"] });
      const cancel = await h.mutate(job.id, cancelJob({ reason: "not needed" }));
      expect(cancel.job.status).toBe("cancelled");
      expect(cancel.value.record.status).toBe("completed");
      expect(cancel.job.cancellation?.id).toBe(cancel.value.record.id);
      await h.claimExactly([]);
      const resumed = await h.mutate(job.id, (d) => resumeJob(d, "tester"));
      expect([resumed.job.status, resumed.job.attempt, resumed.job.tasks[0]?.status, resumed.job.tasks[0]?.ready]).toEqual(["queued", 2, "pending", true]);
      return resumed.job;
    }

    /** running → cancelling → cancelled for the job and its task, the runner signalled. */
    async function cancelRunning(): Promise<Job> {
      const job = await h.submit({ command: ["sleep", "10"] });
      await h.claimExactly([`${job.id}/main`]);
      const cancel = await h.mutate(job.id, cancelJob({ reason: "stop" }));
      expect(cancel.value.toSignal).toEqual(["main"]);
      expect(cancel.job.status).toBe("cancelling");
      expect(cancel.job.tasks[0]?.status).toBe("cancelling");
      const exit = await h.mutate(job.id, ended("main", 1, { outcome: "failed", exitCode: null, signalDelivered: true }));
      expect(exit.job.tasks[0]?.status).toBe("cancelled");
      expect(exit.job.status).toBe("cancelling");
      const fin = await h.mutate(job.id, (d) => finalizeCancellation(d, cancel.value.record.id, { cleanupFailed: false }));
      expect(fin.job.status).toBe("cancelled");
      expect(fin.value.status).toBe("completed");
      expect(fin.value.runnersTerminated).toEqual({ graceful: 1, forced: 0 });
      return fin.job;
    }

    /** cancelling → succeeded / failed: every task finished before the cancel took effect (`too_late`). */
    async function cancelTooLate(outcome: "succeeded" | "failed"): Promise<Job> {
      const job = await h.submit({ command: ["true"] });
      await h.claimExactly([`${job.id}/main`]);
      const cancel = await h.mutate(job.id, cancelJob());
      const exit = await h.mutate(job.id, ended("main", 1, { outcome, exitCode: outcome === "succeeded" ? 0 : 1 }));
      expect(exit.job.tasks[0]?.status).toBe(outcome);
      const fin = await h.mutate(job.id, (d) => finalizeCancellation(d, cancel.value.record.id, { cleanupFailed: false }));
      expect(fin.value.status).toBe("too_late");
      expect(fin.job.status).toBe(outcome);
      return fin.job;
    }

    /** running → partial: a task cancelled on its own (without cascade, its dependent still runs). */
    async function partialAfterTaskCancel(): Promise<Job> {
      const job = await h.submit(chain);
      await h.claimExactly([`${job.id}/a`]);
      const cancel = await h.mutate(job.id, cancelTask("a", { cascade: false }));
      expect(cancel.job.tasks.map((t) => t.status)).toEqual(["cancelling", "pending"]);
      await h.mutate(job.id, ended("a", 1, { outcome: "failed", exitCode: null, signalDelivered: true, forced: true }));
      const fin = await h.mutate(job.id, (d) => finalizeCancellation(d, cancel.value.record.id, { cleanupFailed: false }));
      expect(fin.job.tasks.map((t) => [t.status, t.ready])).toEqual([["cancelled", false], ["pending", true]]);
      await h.claimExactly([`${job.id}/b`]);
      const end = await h.mutate(job.id, ended("b", 1));
      expect(end.job.status).toBe("partial");
      return end.job;
    }

    /** cancelling → partial: one task cancelled on its own earlier, the other finishes before the job cancel. */
    async function cancellingToPartial(): Promise<Job> {
      const job = await h.submit(twoTasks());
      await h.mutate(job.id, cancelTask("b"));
      await h.claimExactly([`${job.id}/a`]);
      const cancel = await h.mutate(job.id, cancelJob());
      await h.mutate(job.id, ended("a", 1));
      const fin = await h.mutate(job.id, (d) => finalizeCancellation(d, cancel.value.record.id, { cleanupFailed: false }));
      expect(fin.job.status).toBe("partial");
      return fin.job;
    }

    /** failFast: a failure moves the other running task to cancelling; it then finishes first (cancelling → succeeded). */
    async function failFastScenario(): Promise<Job> {
      const job = await h.submit(twoTasks({ failFast: true }));
      await h.claimExactly([`${job.id}/a`, `${job.id}/b`]);
      const fail = await h.mutate(job.id, ended("a", 1, { outcome: "failed", exitCode: 3, error: "boom" }));
      expect(fail.value.toStop).toEqual([{ key: "b", graceMs: 10_000 }]);
      expect(fail.job.tasks.map((t) => t.status)).toEqual(["failed", "cancelling"]);
      const end = await h.mutate(job.id, ended("b", 1));
      expect(end.job.tasks[1]?.status).toBe("succeeded");
      expect(end.job.status).toBe("failed");
      return end.job;
    }

    /** A compensation task runs during the cancellation of a queued job. */
    async function compensation(): Promise<Job> {
      const job = await h.submit({ name: "comp", tasks: [{ key: "work", command: ["true"] }, { key: "undo", command: ["true"], runOn: "cancel" }] });
      const cancel = await h.mutate(job.id, cancelJob());
      expect(cancel.value.needsExecution).toBe(true);
      await h.claimExactly([]);
      const start = await h.mutate(job.id, (d) => startCompensation(d, "undo", "node-1"));
      expect(start.job.tasks[1]?.status).toBe("running");
      await h.mutate(job.id, ended("undo", 1, { outcome: "failed", exitCode: 1, error: "could not undo" }));
      const fin = await h.mutate(job.id, (d) => finalizeCancellation(d, cancel.value.record.id, { cleanupFailed: false }));
      expect(fin.job.tasks.map((t) => t.status)).toEqual(["cancelled", "failed"]);
      expect(fin.job.status).toBe("cancelled");
      return fin.job;
    }

    /** A task cancelled while running that ends with a failure before the signal (cancelling → failed). */
    async function cancellingTaskFails(): Promise<Job> {
      const job = await h.submit(twoTasks());
      await h.claimExactly([`${job.id}/a`, `${job.id}/b`]);
      const cancel = await h.mutate(job.id, cancelTask("a"));
      await h.mutate(job.id, ended("a", 1, { outcome: "failed", exitCode: 9 }));
      await h.mutate(job.id, (d) => finalizeCancellation(d, cancel.value.record.id, { cleanupFailed: false }));
      const end = await h.mutate(job.id, ended("b", 1));
      expect(end.job.tasks.map((t) => t.status)).toEqual(["failed", "succeeded"]);
      expect(end.job.status).toBe("failed");
      return end.job;
    }

    describe("jobs", () => {
      it("has a description and migrates idempotently", async () => {
        expect(store.description.length).toBeGreaterThan(0);
        await store.migrate();
        await h.submit({ command: ["true"] });
      });

      it("stores a job with its tasks and returns it as submitted", async () => {
        const job = await h.submit({
          name: "büild ✓",
          queue: "q.1",
          priority: 7,
          labels: { team: "a", "k/x": "v w" },
          params: { z: 1, a: { nested: [1.5, -2, "x\ny", null, false] }, "": "empty key" },
          timeoutMs: 60_000,
          queueTimeoutMs: 5_000,
          graceMs: 250,
          failFast: true,
          tasks: [
            { key: "build", command: ["make", "all"], env: { A: "1" }, retries: 2, uses: ["repo"] },
            { key: "test", handler: "runTests", input: { shard: 1 }, dependsOn: [{ key: "build", onCancel: "skip" }], graceMs: 10 },
            { key: "report", adapter: "http", input: null, dependsOn: ["test"] },
          ],
        });
        const stored = await h.job(job.id);
        expect(stored.tasks.map((t) => [t.key, t.kind, t.ready])).toEqual([["build", "process", true], ["test", "handler", false], ["report", "remote", false]]);
        // The documents are kept exactly as written, key order included.
        expect(JSON.stringify(stored.params)).toBe(JSON.stringify(job.params));
        expect(JSON.stringify(stored.tasks.map((t) => t.spec))).toBe(JSON.stringify(job.tasks.map((t) => t.spec)));
        expect(await store.getJob(newId())).toBeNull();
      });

      it("keeps everything a runner produces: outputs, checkpoints, progress, errors", async () => {
        const job = await h.submit({ command: ["true"] });
        await h.claimExactly([`${job.id}/main`]);
        const output = { b: "\u0000 and \ud800 kept", a: ["𝄞", 1e21, 0.1, 1 / 3], z: { deep: { deeper: [] } } };
        await h.mutate(job.id, (d) => saveCheckpoint(d, "main", 1, { step: 3, text: "nul \u0000" }));
        await h.mutate(job.id, (d) => recordProgress(d, "main", 1, { ratio: 1 / 3, message: "a third", data: { point: [1, 2] } }));
        // Not through the harness: the stored error may differ (U+FFFD), which it would refuse.
        const end = await store.mutateJob(job.id, h.now(), ended("main", 1, { output, error: "error with a \u0000 inside" }));
        expect(end.job.status).toBe("succeeded");
        const stored = (await h.job(job.id)).tasks[0]!;
        expect(JSON.stringify(stored.output)).toBe(JSON.stringify(output));
        expect(stored.checkpoint).toEqual({ step: 3, text: "nul \u0000" });
        // PostgreSQL text cannot hold U+0000: the store may keep it as U+FFFD, and must keep the rest.
        expect(stored.error?.replaceAll("\uFFFD", "\u0000")).toBe("error with a \u0000 inside");
      });

      it("returns the first job for a repeated idempotency key of the same owner, and nothing is written", async () => {
        const first = await h.insert({ command: ["true"], idempotencyKey: "k1" });
        expect(first.created).toBe(true);
        const again = await h.insert({ command: ["false"], idempotencyKey: "k1" });
        expect(again.created).toBe(false);
        expect(again.job).toEqual(await h.job(first.job.id));
        const other = await h.insert({ command: ["true"], idempotencyKey: "k1" }, { owner: "bob" });
        expect(other.created).toBe(true);
        expect((await store.listJobs({}, { limit: 10 })).items.map((j) => j.id)).toEqual([other.job.id, first.job.id]);
        expect(await store.jobEvents(first.job.id, 0, 100)).toHaveLength(1);
      });

      it("concurrent submits with one idempotency key create one job", async () => {
        const results = await Promise.all(Array.from({ length: 10 }, () => h.insert({ command: ["true"], idempotencyKey: "same" })));
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
        expect((await store.listJobs({}, { limit: 100 })).items).toHaveLength(1);
      });

      it("bulk-inserts jobs with their tasks and events, in order, every event numbered once", async () => {
        const specs = Array.from({ length: 120 }, (_, i) => ({ name: `bulk-${i}`, tasks: [{ key: "a", command: ["true"] }, { key: "b", command: ["true"], dependsOn: ["a"] }] }));
        const results = await h.insertMany(specs);
        expect(results.map((r) => r.job.name)).toEqual(specs.map((s) => s.name));
        expect(results.every((r) => r.created)).toBe(true);
        const seqs = results.flatMap((r) => r.events.map((e) => e.seq));
        expect(new Set(seqs).size).toBe(seqs.length);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        expect((await store.countJobs()).queued).toBe(120);
        // Their tasks are claimable like any submitted job's.
        expect(await h.claim({ max: 200 })).toHaveLength(120);
      });

      it("bulk insert honours idempotency keys within a batch, across batches and against single submits", async () => {
        const single = await h.insert({ command: ["true"], idempotencyKey: "before" });
        const first = await h.insertMany([
          { name: "x", command: ["true"], idempotencyKey: "k" },
          { name: "y", command: ["true"], idempotencyKey: "k" },
          { name: "z", command: ["true"], idempotencyKey: "before" },
          { name: "w", command: ["true"] },
        ]);
        expect(first.map((r) => r.created)).toEqual([true, false, false, true]);
        expect(first[1]!.job).toEqual(first[0]!.job);
        expect(first[2]!.job.id).toBe(single.job.id);
        const second = await h.insertMany([{ name: "again", command: ["true"], idempotencyKey: "k" }, { name: "again, twice", command: ["true"], idempotencyKey: "k" }]);
        expect(second[0]!.created).toBe(false);
        expect(second[0]!.job.id).toBe(first[0]!.job.id);
        // Keys are per owner: bob's "k" is a new job.
        const bobs = await h.insertMany([{ name: "bob", command: ["true"], idempotencyKey: "k" }], { owner: "bob" });
        expect(bobs[0]!.created).toBe(true);
        const names = (await store.listJobs({}, { limit: 100 })).items.map((j) => j.name).sort();
        expect(names).toEqual(["bob", "true", "w", "x"].sort());
        // No event of a refused spec was written.
        const events = await store.eventsAfter(0, 1000);
        expect(events.filter((e) => e.type === "belay.job.created")).toHaveLength(4);
      });

      it("a bulk insert that fails stores none of its jobs", async () => {
        const existing = await h.submit({ command: ["true"] });
        const before = await store.eventsAfter(0, 1000);
        // The third job reuses an existing id: the database refuses it, and with it the batch.
        await expect(h.insertMany([{ name: "a", command: ["true"] }, { name: "b", command: ["true"] }, { name: "c", command: ["true"] }], { ids: ["n1", "n2", existing.id] })).rejects.toThrow();
        expect(await store.getJob("n1")).toBeNull();
        expect(await store.getJob("n2")).toBeNull();
        expect((await store.listJobs({}, { limit: 10 })).items.map((j) => j.id)).toEqual([existing.id]);
        expect(await store.eventsAfter(0, 1000)).toEqual(before);
      });

      it("lists jobs newest first, by every filter", async () => {
        const j1 = await h.submit({ command: ["true"], labels: { team: "a", env: "prod", "app.kubernetes.io/name": "web" } });
        const j2 = await h.submit({ name: "Nightly_Train 100%", command: ["true"], queue: "q2", labels: { team: "b" } }, { owner: "bob" });
        const j3 = await h.submit({ command: ["true"], queue: "q2", labels: { team: "a", env: "dev" } });
        await h.mutate(j3.id, cancelJob());
        const ids = async (filter: Parameters<Store["listJobs"]>[0]): Promise<string[]> =>
          (await store.listJobs(filter, { limit: 100 })).items.map((j) => j.id);
        expect(await ids({})).toEqual([j3.id, j2.id, j1.id]);
        expect(await ids({ owner: "alice" })).toEqual([j3.id, j1.id]);
        expect(await ids({ queue: "q2" })).toEqual([j3.id, j2.id]);
        expect(await ids({ labels: { team: "a" } })).toEqual([j3.id, j1.id]);
        expect(await ids({ labels: { team: "a", env: "prod" } })).toEqual([j1.id]);
        expect(await ids({ labels: { missing: "x" } })).toEqual([]);
        expect(await ids({ labels: { "app.kubernetes.io/name": "web" } })).toEqual([j1.id]);
        expect(await ids({ labels: { "app.kubernetes.io/name": "api" } })).toEqual([]);
        expect(await ids({ status: ["cancelled"] })).toEqual([j3.id]);
        expect(await ids({ status: ["queued", "cancelled"] })).toEqual([j3.id, j2.id, j1.id]);
        expect(await ids({ status: [] })).toEqual([j3.id, j2.id, j1.id]);
        expect(await ids({ ids: [j1.id, j2.id, newId()] })).toEqual([j2.id, j1.id]);
        expect(await ids({ ids: [] })).toEqual([]);
        expect(await ids({ createdBefore: j2.createdAt })).toEqual([j1.id]);
        expect(await ids({ createdAfter: j2.createdAt })).toEqual([j3.id, j2.id]);
        // A case-insensitive substring; % and _ are plain characters, not patterns.
        expect(await ids({ nameContains: "nightly_train" })).toEqual([j2.id]);
        expect(await ids({ nameContains: "0%" })).toEqual([j2.id]);
        expect(await ids({ nameContains: "y_T" })).toEqual([j2.id]);
        expect(await ids({ nameContains: "_x" })).toEqual([]);
        expect(await ids({ owner: "alice", queue: "q2", status: ["cancelled"], labels: { env: "dev" } })).toEqual([j3.id]);
        const listed = (await store.listJobs({ ids: [j3.id] }, { limit: 1 })).items[0];
        expect(listed).toEqual(await h.job(j3.id));
      });

      it("pages through jobs with a cursor", async () => {
        const submitted: string[] = [];
        for (let i = 0; i < 7; i++) submitted.push((await h.submit({ command: ["true"], queue: i % 2 === 0 ? "even" : "odd" })).id);
        const pages: string[][] = [];
        let cursor: string | null = null;
        do {
          const page = await store.listJobs({}, { limit: 3, cursor });
          pages.push(page.items.map((j) => j.id));
          cursor = page.nextCursor;
        } while (cursor !== null);
        expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
        expect(pages.flat()).toEqual([...submitted].reverse());
        const exact = await store.listJobs({}, { limit: 7 });
        expect(exact.nextCursor).toBeNull();
        const first = await store.listJobs({ queue: "even" }, { limit: 2 });
        const second = await store.listJobs({ queue: "even" }, { limit: 2, cursor: first.nextCursor });
        expect([...first.items, ...second.items].map((j) => j.id)).toEqual([submitted[6], submitted[4], submitted[2], submitted[0]]);
        expect(second.nextCursor).toBeNull();
        expect(await codeOf(store.listJobs({}, { limit: 3, cursor: "not-a-cursor" }))).toBe("INVALID_REQUEST");
      });

      it("finds the ids of unfinished jobs, oldest first, with the total", async () => {
        const j1 = await h.submit({ command: ["true"] });
        const j2 = await h.submit({ command: ["true"] }, { owner: "bob" });
        const j3 = await h.submit({ command: ["true"] });
        await h.mutate(j3.id, cancelJob());
        const j4 = await h.submit({ command: ["true"] });
        await h.claimExactly([`${j1.id}/main`, `${j2.id}/main`, `${j4.id}/main`]);
        await h.mutate(j4.id, ended("main", 1));
        expect(await store.findJobIds({}, 10)).toEqual({ ids: [j1.id, j2.id], total: 2 });
        expect(await store.findJobIds({}, 1)).toEqual({ ids: [j1.id], total: 2 });
        expect(await store.findJobIds({ owner: "bob" }, 10)).toEqual({ ids: [j2.id], total: 1 });
        expect(await store.findJobIds({ status: ["cancelled"] }, 10)).toEqual({ ids: [], total: 0 });
        expect(await store.findJobIds({ ids: [j2.id, j3.id] }, 10)).toEqual({ ids: [j2.id], total: 1 });
      });

      it("counts jobs by status, every status present", async () => {
        expect(await store.countJobs()).toEqual(Object.fromEntries(jobStatuses.map((s) => [s, 0])));
        await runToSuccess();
        await cancelRunning();
        const queued = await h.submit({ command: ["true"] });
        await h.submit({ command: ["true"] });
        await h.mutate(queued.id, cancelJob());
        expect(await store.countJobs()).toEqual({ queued: 1, running: 0, cancelling: 0, succeeded: 1, failed: 0, partial: 0, cancelled: 2 });
      });
    });

    describe("mutations", () => {
      it("throws JOB_NOT_FOUND for an unknown job", async () => {
        expect(await codeOf(store.mutateJob(newId(), h.now(), () => 1))).toBe("JOB_NOT_FOUND");
      });

      it("a mutator that throws writes nothing", async () => {
        const job = await h.submit({ command: ["true"] });
        await h.claimExactly([`${job.id}/main`]);
        const before = await h.job(job.id);
        const events = await store.jobEvents(job.id, 0, 100);
        const error = await errorOf(
          store.mutateJob(job.id, h.now(), (d) => {
            recordProgress(d, "main", 1, { ratio: 0.5, message: "half" });
            cancelJob()(d);
            throw new Error("refused half-way");
          }),
        );
        expect((error as Error).message).toBe("refused half-way");
        expect(await h.job(job.id)).toEqual(before);
        expect(await store.jobEvents(job.id, 0, 100)).toEqual(events);
        expect(await store.listCancellations({ jobId: job.id }, { limit: 10, offset: 0 })).toEqual({ items: [], total: 0 });
      });

      it("an illegal transition is rolled back with nothing written", async () => {
        const job = await h.submit({ command: ["true"] });
        await h.claimExactly([`${job.id}/main`]);
        const before = await h.job(job.id);
        const events = await store.eventsAfter(0, 1000);
        expect(
          await codeOf(
            store.mutateJob(job.id, h.now(), (d) => {
              recordProgress(d, "main", 1, { ratio: 0.9 });
              d.setTaskStatus("main", "succeeded");
              d.setJobStatus("queued");
            }),
          ),
        ).toBe("ILLEGAL_TRANSITION");
        expect(await h.job(job.id)).toEqual(before);
        expect(await store.eventsAfter(0, 1000)).toEqual(events);
        // The job is still usable.
        expect((await h.mutate(job.id, ended("main", 1))).job.status).toBe("succeeded");
      });

      it("takes every job and task transition the rules of core make", async () => {
        await runToSuccess();
        await failAfterRetry();
        const resumed = await cancelQueuedThenResume();
        await h.claimExactly([`${resumed.id}/main`]);
        await cancelRunning();
        await cancelTooLate("succeeded");
        await cancelTooLate("failed");
        await partialAfterTaskCancel();
        await cancellingToPartial();
        await failFastScenario();
        await compensation();
        await cancellingTaskFails();
        // Allowed by the state machine, but no rule of core takes it (a queued job is cancelled through `cancelling`).
        const unused = new Set(["queued→cancelled"]);
        const jobTransitions = allJobTransitions().map(([from, to]) => `${from}→${to}`).filter((t) => !unused.has(t));
        const taskTransitions = allTaskTransitions().map(([from, to]) => `${from}→${to}`);
        expect(jobTransitions.filter((t) => !h.seen.job.has(t))).toEqual([]);
        expect(taskTransitions.filter((t) => !h.seen.task.has(t))).toEqual([]);
      });

      it("an attempt interrupted by a shutdown goes back to pending, ready", async () => {
        const job = await h.submit({ command: ["true"] });
        await h.claimExactly([`${job.id}/main`]);
        const end = await h.mutate(job.id, ended("main", 1, { outcome: "failed", exitCode: null, interrupted: true }));
        expect([end.job.tasks[0]?.status, end.job.tasks[0]?.ready, end.job.tasks[0]?.retriesUsed]).toEqual(["pending", true, 0]);
        const [again] = await h.claimExactly([`${job.id}/main`]);
        expect(again?.value?.task.attempt).toBe(2);
        // A late report of the first attempt changes nothing.
        expect((await h.mutate(job.id, ended("main", 1))).value.applied).toBe(false);
      });

      it("mutates many jobs, each result its own, the refusals beside the rest", async () => {
        const running = await h.submit({ command: ["true"] });
        const done = await h.submit({ command: ["true"] });
        await h.claimExactly([`${running.id}/main`, `${done.id}/main`]);
        const queued = await h.submit({ command: ["true"] });
        await h.mutate(done.id, ended("main", 1));
        const unknown = newId();
        const bulk = newRecord({
          id: newId(), jobId: null, taskKey: null, scope: "bulk", parentId: null, reason: "cleanup", requestedBy: "ops",
          force: false, cascade: true, graceMs: 0, now: h.now(), steps: ["cancel_jobs", "finalize"], idempotencyKey: "bulk-1",
        });
        await store.insertCancellation(bulk);
        const results = await store.mutateJobs([queued.id, unknown, done.id, running.id], h.now(), cancelJob({ parentId: bulk.id }));
        expect(results.map((r) => ("error" in r ? (isBelayError(r.error) ? r.error.code : "?") : r.job.status))).toEqual([
          "cancelled",
          "JOB_NOT_FOUND",
          "JOB_ALREADY_FINISHED",
          "cancelling",
        ]);
        expect(results.map((r) => ("error" in r ? r.jobId : r.job.id))).toEqual([queued.id, unknown, done.id, running.id]);
        for (const r of results) {
          if ("error" in r) continue;
          expect(await h.job(r.job.id)).toEqual(r.job);
          expect(await store.jobEvents(r.job.id, r.events[0]!.seq - 1, r.events.length)).toEqual(r.events);
        }
        const children = await store.listCancellations({ parentId: bulk.id }, { limit: 10, offset: 0 });
        expect(children.total).toBe(2);
        expect(children.items.map((c) => c.jobId)).toEqual([running.id, queued.id]);
      });

      it("mutates more jobs than fit in one chunk", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 130; i++) ids.push((await h.submit({ command: ["true"] })).id);
        const results = await store.mutateJobs(ids, h.now(), cancelJob());
        expect(results.every((r) => !("error" in r) && r.job.status === "cancelled")).toBe(true);
        expect((await store.countJobs()).cancelled).toBe(130);
      });

      it("a job named twice in one bulk is changed twice, the second time from the first's result, and stored as the last left it", async () => {
        const job = await h.submit({ command: ["true"] });
        await h.claimExactly([`${job.id}/main`]);
        const other = await h.submit({ command: ["true"] });
        let n = 0;
        const results = await store.mutateJobs([job.id, other.id, job.id], h.now(), (d) => {
          if (d.job.id !== job.id) return null;
          n += 1;
          return recordProgress(d, "main", 1, { ratio: n / 10, message: `step ${n}` });
        });
        expect(results).toHaveLength(3);
        const stored = await h.job(job.id);
        expect(stored.tasks[0]?.progress).toMatchObject({ ratio: 0.2, message: "step 2" });
        const last = results[2];
        expect(last !== undefined && !("error" in last) ? last.job : null).toEqual(stored);
        const events = (await store.jobEvents(job.id, 0, 100)).filter((e) => e.type === "belay.task.progress");
        expect(events.map((e) => e.data["message"])).toEqual(["step 1", "step 2"]);
      });

      it("writes a bulk record's progress in each chunk's transaction and hands over each chunk once it has committed", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 130; i++) ids.push((await h.submit({ command: ["true"] })).id);
        const bulk = newRecord({
          id: newId(), jobId: null, taskKey: null, scope: "bulk", parentId: null, reason: "all", requestedBy: "ops",
          force: false, cascade: true, graceMs: 0, now: h.now(), steps: ["cancel_jobs", "finalize"], idempotencyKey: null,
        });
        bulk.progress = { total: ids.length, done: 0 };
        await store.insertCancellation(bulk);
        let done = 0;
        const handed: string[] = [];
        const doneAfterChunk: number[] = [];
        const reads: Array<Promise<CancellationRecord | null>> = [];
        const results = await store.mutateJobs(ids, h.now(), cancelJob({ parentId: bulk.id }), {
          progress: (chunk) => ({ ...bulk, progress: { total: ids.length, done: done + chunk.length } }),
          afterChunk: (chunk) => {
            done += chunk.length;
            doneAfterChunk.push(done);
            handed.push(...chunk.map((r) => ("error" in r ? r.jobId : r.job.id)));
            // The chunk has committed: its progress is there for any reader now.
            reads.push(store.getCancellation(bulk.id));
          },
        });
        expect(results.every((r) => !("error" in r) && r.job.status === "cancelled")).toBe(true);
        expect(handed).toEqual(ids);
        const seen = await Promise.all(reads);
        seen.forEach((record, i) => {
          // At least what had committed when the read was sent (a later chunk may have committed since).
          expect(record?.progress?.done).toBeGreaterThanOrEqual(doneAfterChunk[i]!);
          expect(doneAfterChunk).toContain(record?.progress?.done);
        });
        expect((await store.getCancellation(bulk.id))?.progress).toEqual({ total: ids.length, done: ids.length });
      });
    });

    describe("events", () => {
      it("numbers events across jobs and lists them by job and after a sequence number", async () => {
        const a = await h.submit({ command: ["true"] });
        const b = await h.submit({ command: ["true"] });
        await h.claimExactly([`${a.id}/main`, `${b.id}/main`]);
        await h.mutate(a.id, ended("main", 1));
        await h.mutate(b.id, (d) => recordProgress(d, "main", 1, { ratio: 0.25, message: "quarter", data: { loss: 0.5 } }));
        const all = await store.eventsAfter(0, 1000);
        expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((x, y) => x - y));
        expect(new Set(all.map((e) => e.seq)).size).toBe(all.length);
        const ofA = await store.jobEvents(a.id, 0, 1000);
        expect(ofA.map((e) => e.type)).toEqual(["belay.job.created", "belay.task.started", "belay.job.started", "belay.task.succeeded", "belay.job.succeeded"]);
        expect(all.filter((e) => e.subject === a.id)).toEqual(ofA);
        const progress = all.at(-1)!;
        expect(progress).toEqual({
          specversion: "1.0",
          id: String(progress.seq),
          seq: progress.seq,
          source: "belay",
          type: "belay.task.progress",
          subject: b.id,
          time: progress.time,
          datacontenttype: "application/json",
          data: { attempt: 1, ratio: 0.25, message: "quarter", data: { loss: 0.5 }, jobId: b.id, taskKey: "main" },
        });
        expect(await store.jobEvents(a.id, ofA[1]!.seq, 2)).toEqual(ofA.slice(2, 4));
        expect(await store.eventsAfter(all[2]!.seq, 3)).toEqual(all.slice(3, 6));
        expect(await store.eventsAfter(all.at(-1)!.seq, 10)).toEqual([]);
      });
    });

    describe("logs", () => {
      it("appends log lines and reads them by task, after a sequence number, with a limit or a tail", async () => {
        const job = await h.submit(twoTasks());
        await store.appendLogs([]);
        const line = (key: string, i: number, stream: "stdout" | "stderr" = "stdout") => ({ jobId: job.id, taskKey: key, attempt: 1, stream, line: `${key} line ${i}`, time: h.now() });
        await store.appendLogs([line("a", 1), line("b", 1, "stderr"), line("a", 2)]);
        await store.appendLogs([line("a", 3), line("b", 2)]);
        const all = await store.getLogs(job.id, {});
        expect(all.map((l) => l.line)).toEqual(["a line 1", "b line 1", "a line 2", "a line 3", "b line 2"]);
        expect(all[1]).toEqual({ seq: all[1]!.seq, jobId: job.id, taskKey: "b", attempt: 1, stream: "stderr", line: "b line 1", time: all[1]!.time });
        expect(all.map((l) => l.seq)).toEqual([...all.map((l) => l.seq)].sort((x, y) => x - y));
        expect((await store.getLogs(job.id, { taskKey: "a" })).map((l) => l.line)).toEqual(["a line 1", "a line 2", "a line 3"]);
        expect((await store.getLogs(job.id, { afterSeq: all[2]!.seq })).map((l) => l.line)).toEqual(["a line 3", "b line 2"]);
        expect((await store.getLogs(job.id, { limit: 2 })).map((l) => l.line)).toEqual(["a line 1", "b line 1"]);
        expect((await store.getLogs(job.id, { tail: 2 })).map((l) => l.line)).toEqual(["a line 3", "b line 2"]);
        expect((await store.getLogs(job.id, { taskKey: "a", tail: 2 })).map((l) => l.line)).toEqual(["a line 2", "a line 3"]);
        expect(await store.getLogs(newId(), {})).toEqual([]);
        // A NUL in a line does not lose the line (PostgreSQL keeps it as U+FFFD).
        await store.appendLogs([{ ...line("a", 4), line: "binary \u0000 output" }]);
        expect((await store.getLogs(job.id, { tail: 1 }))[0]?.line.replaceAll("\uFFFD", "\u0000")).toBe("binary \u0000 output");
      });
    });

    describe("runners", () => {
      it("records runners, their end, the live ones (per node) and a job's history", async () => {
        const job = await h.submit(twoTasks());
        const runner = (key: string, attempt: number, nodeId: string): RunnerRecord => ({
          jobId: job.id, taskKey: key, attempt, kind: "process", nodeId, pid: 4242 + attempt, pidStartTime: "123456",
          remoteId: null, workDir: `/tmp/w/${key}`, startedAt: h.now(), endedAt: null, exitCode: null, outcome: null,
        });
        const a1 = runner("a", 1, "n1");
        const b1 = runner("b", 1, "n2");
        const a2 = { ...runner("a", 2, "n1"), kind: "remote", pid: null, pidStartTime: null, remoteId: "r-9", workDir: null };
        await store.insertRunner(a1);
        await store.insertRunner(b1);
        expect(await store.liveRunners()).toHaveLength(2);
        expect(await store.liveRunners()).toEqual(expect.arrayContaining([a1, b1]));
        expect(await store.liveRunners("n1")).toEqual([a1]);
        expect(await store.liveRunners("n3")).toEqual([]);
        const end = { endedAt: h.now(), exitCode: 143, outcome: "cancelled" };
        await store.endRunner(job.id, "a", 1, end);
        await store.insertRunner(a2);
        expect(await store.liveRunners("n1")).toEqual([a2]);
        expect(await store.jobRunners(job.id)).toEqual([{ ...a1, ...end }, b1, a2]);
        // A second start of one attempt replaces its record.
        const restarted = { ...b1, pid: 99, startedAt: h.now() };
        await store.insertRunner(restarted);
        expect(await store.jobRunners(job.id)).toEqual([{ ...a1, ...end }, a2, restarted]);
        expect(await store.jobRunners(newId())).toEqual([]);
      });
    });

    describe("cancellations", () => {
      it("keeps each record, lists them newest first with filters and offsets, and knows the open ones", async () => {
        const running = await h.submit(twoTasks());
        await h.claimExactly([`${running.id}/a`, `${running.id}/b`]);
        const queued = await h.submit({ command: ["true"] });
        const c1 = (await h.mutate(queued.id, cancelJob({ reason: "r1" }))).value.record;
        const c2 = (await h.mutate(running.id, cancelTask("a", { reason: "r2" }))).value.record;
        const c3 = (await h.mutate(running.id, cancelJob({ reason: "r3" }))).value.record;
        expect(await store.getCancellation(c1.id)).toEqual(c1);
        expect(await store.getCancellation(newId())).toBeNull();
        const page = (filter: Parameters<Store["listCancellations"]>[0], limit = 10, offset = 0) => store.listCancellations(filter, { limit, offset });
        expect(await page({})).toEqual({ items: [c3, c2, c1], total: 3 });
        expect(await page({}, 1, 1)).toEqual({ items: [c2], total: 3 });
        expect(await page({}, 10, 5)).toEqual({ items: [], total: 3 });
        expect(await page({ jobId: running.id })).toEqual({ items: [c3, c2], total: 2 });
        expect(await page({ status: "completed" })).toEqual({ items: [c1], total: 1 });
        expect(await page({ status: "in_progress", jobId: running.id }, 1)).toEqual({ items: [c3], total: 2 });
        expect(await store.openCancellations()).toEqual([c2, c3]);
        expect((await h.job(running.id)).cancellation?.id).toBe(c3.id);

        const bulk = newRecord({
          id: newId(), jobId: null, taskKey: null, scope: "bulk", parentId: null, reason: "all", requestedBy: "ops", force: true,
          cascade: true, graceMs: 0, now: h.now(), steps: ["cancel_jobs", "finalize"], idempotencyKey: "key-1",
        });
        bulk.progress = { total: 2, done: 0 };
        await store.insertCancellation(bulk);
        expect(await store.getCancellationByIdempotencyKey("key-1")).toEqual(bulk);
        expect(await store.getCancellationByIdempotencyKey("key-2")).toBeNull();
        expect(await store.openCancellations()).toEqual([c2, c3, bulk]);
        const done: CancellationRecord = { ...bulk, status: "completed", progress: { total: 2, done: 2 }, completedAt: h.now(), durationMs: 1 };
        await store.updateCancellation(done);
        expect(await store.getCancellation(bulk.id)).toEqual(done);
        expect(await store.openCancellations()).toEqual([c2, c3]);
        expect((await page({ status: "completed" })).items).toEqual([done, c1]);
      });

      it("100 concurrent cancels of one running job make exactly one record, which every caller gets", async () => {
        const job = await h.submit({ command: ["sleep", "10"] });
        await h.claimExactly([`${job.id}/main`]);
        const outcomes = await Promise.all(Array.from({ length: 100 }, () => store.mutateJob(job.id, h.now(), cancelJob({ reason: "stop" }))));
        expect(new Set(outcomes.map((o) => o.value.record.id)).size).toBe(1);
        expect(outcomes.filter((o) => !o.value.alreadyCancelled)).toHaveLength(1);
        expect((await store.listCancellations({ jobId: job.id }, { limit: 10, offset: 0 })).total).toBe(1);
        const requested = (await store.jobEvents(job.id, 0, 1000)).filter((e) => e.type === "belay.job.cancel_requested");
        expect(requested).toHaveLength(1);
      });
    });

    describe("claims", () => {
      it("claims by priority, then age, then task order, within the queues asked for and up to max", async () => {
        const low = await h.submit({ command: ["true"], priority: -1 });
        const first = await h.submit(twoTasks());
        const high1 = await h.submit({ command: ["true"], priority: 5 });
        const high2 = await h.submit({ command: ["true"], priority: 5 });
        const other = await h.submit({ command: ["true"], priority: 100, queue: "other" });
        const order = [`${high1.id}/main`, `${high2.id}/main`, `${first.id}/a`, `${first.id}/b`, `${low.id}/main`];
        const claimed: string[] = [];
        for (let i = 0; i < order.length; i++) {
          const [c] = await h.claim({ max: 1, queues: ["default"] });
          claimed.push(`${c?.jobId}/${c?.taskKey}`);
        }
        expect(claimed).toEqual(order);
        await h.claimExactly([], { queues: ["default"] });
        await h.claimExactly([`${other.id}/main`], { queues: ["default", "other"] });
      });

      it("claims only tasks whose dependencies are satisfied, and max of them", async () => {
        const c = await h.submit(chain);
        const pair = await h.submit(twoTasks());
        await h.claimExactly([`${c.id}/a`, `${pair.id}/a`], { max: 2 });
        await h.claimExactly([`${pair.id}/b`]);
        expect(await store.claimTasks({ nodeId: "n", max: 0, pools: {}, now: h.now() }, () => null)).toEqual([]);
        await h.mutate(c.id, ended("a", 1));
        await h.claimExactly([`${c.id}/b`]);
      });

      it("a task whose claim returns null is not claimed, and nothing of it is written", async () => {
        const job = await h.submit(twoTasks());
        const before = await store.eventsAfter(0, 1000);
        await h.claimExactly([`${job.id}/b`], { claim: (d, key) => (key === "a" ? null : claimTask(d, key, "node-1")) });
        const stored = await h.job(job.id);
        expect(stored.tasks.map((t) => t.status)).toEqual(["pending", "running"]);
        expect((await store.eventsAfter(0, 1000)).slice(0, before.length)).toEqual(before);
        await h.claimExactly([`${job.id}/a`]);
      });

      it("holds a pool slot per running task, never more than the pool's capacity, and every end gives it back", async () => {
        const jobs: Job[] = [];
        for (let i = 0; i < 3; i++) jobs.push(await h.submit({ name: `gpu-${i}`, tasks: [{ key: "main", command: ["true"], uses: ["gpu", "repo"] }] }));
        const free = await h.submit({ command: ["true"] });
        const unknownPool = await h.submit({ name: "tpu", tasks: [{ key: "main", command: ["true"], uses: ["tpu"] }], priority: 9 });
        const pools = { gpu: 1, repo: 4 };
        await h.claimExactly([`${jobs[0]!.id}/main`, `${free.id}/main`], { pools });
        expect(await store.poolHolders()).toEqual({ gpu: [`${jobs[0]!.id}/main`], repo: [`${jobs[0]!.id}/main`] });
        await h.claimExactly([], { pools });
        // A success gives the slot back.
        await h.mutate(jobs[0]!.id, ended("main", 1));
        expect(await store.poolHolders()).toEqual({});
        await h.claimExactly([`${jobs[1]!.id}/main`], { pools });
        // So does a cancel, once the runner has exited.
        await h.mutate(jobs[1]!.id, cancelJob());
        expect(Object.keys(await store.poolHolders())).toEqual(["gpu", "repo"]);
        await h.mutate(jobs[1]!.id, ended("main", 1, { outcome: "failed", exitCode: null, signalDelivered: true }));
        expect(await store.poolHolders()).toEqual({});
        // And a retry.
        await h.claimExactly([`${jobs[2]!.id}/main`], { pools });
        await h.mutate(jobs[2]!.id, ended("main", 1, { outcome: "failed", exitCode: null, interrupted: true }));
        expect(await store.poolHolders()).toEqual({});
        await h.claimExactly([`${jobs[2]!.id}/main`], { pools: { gpu: 1, repo: 1 } });
        expect(await store.poolHolders()).toEqual({ gpu: [`${jobs[2]!.id}/main`], repo: [`${jobs[2]!.id}/main`] });
        // A pool the node does not have: never claimed.
        expect((await h.job(unknownPool.id)).tasks[0]?.status).toBe("pending");
      });

      it("a claim and a cancel of one job never both win", async () => {
        const wins = { claim: 0, cancel: 0 };
        for (let i = 0; i < 30; i++) {
          const job = await h.submit({ command: ["sleep", "10"] });
          const claim = () => store.claimTasks({ nodeId: "n1", max: 1, pools: {}, now: h.now() }, (d, key) => claimTask(d, key, "n1"));
          const cancel = () => store.mutateJob(job.id, h.now(), cancelJob());
          let claims: Awaited<ReturnType<typeof claim>>;
          let cancelled: Awaited<ReturnType<typeof cancel>>;
          // Start them in both orders, the second after a jitter of 0–2 ms; either may commit first.
          const later = <T>(start: () => Promise<T>): Promise<T> => sleep(i % 3).then(start);
          if (i % 2 === 0) [claims, cancelled] = await Promise.all([claim(), later(cancel)]);
          else [cancelled, claims] = await Promise.all([cancel(), later(claim)]);
          const stored = await h.job(job.id);
          const record = cancelled.value.record;
          if (claims.length === 1) {
            // The claim committed first: the cancel found the task running and must stop it.
            wins.claim += 1;
            expect(claims[0]?.jobId).toBe(job.id);
            expect(cancelled.value.toSignal).toEqual(["main"]);
            expect(record.status).toBe("in_progress");
            expect(record.tasks).toEqual([expect.objectContaining({ key: "main", attempt: 1, outcome: "mid_run" })]);
            expect([stored.status, stored.tasks[0]?.status]).toEqual(["cancelling", "cancelling"]);
          } else {
            // The cancel committed first: nothing was claimed, and nothing ever will be.
            wins.cancel += 1;
            expect(claims).toEqual([]);
            expect(record.status).toBe("completed");
            expect(record.tasks).toEqual([expect.objectContaining({ key: "main", attempt: 0, outcome: "before_start" })]);
            expect([stored.status, stored.tasks[0]?.status, stored.tasks[0]?.attempt]).toEqual(["cancelled", "cancelled", 0]);
          }
        }
        // Both outcomes happened: the test saw each side of the race win.
        expect(wins.claim).toBeGreaterThan(0);
        expect(wins.cancel).toBeGreaterThan(0);
        await h.claimExactly([]);
      });

      it("two store instances claiming at once never claim one task twice", async () => {
        const other = await sibling();
        const jobs = new Set<string>();
        for (let i = 0; i < 40; i++) jobs.add((await h.submit({ command: ["true"] })).id);
        const claims: Array<{ task: string; nodeId: string }> = [];
        const drain = async (s: Store, nodeId: string): Promise<void> => {
          for (let empty = 0; empty < 3; ) {
            const got = await s.claimTasks({ nodeId, max: 3, pools: {}, now: h.now() }, (d, key) => claimTask(d, key, nodeId));
            for (const c of got) claims.push({ task: `${c.jobId}/${c.taskKey}`, nodeId });
            if (got.length === 0) {
              empty += 1;
              await sleep(2);
            } else empty = 0;
          }
        };
        await Promise.all([drain(store, "a1"), drain(other, "b1"), drain(store, "a2"), drain(other, "b2")]);
        await drain(store, "z");
        expect(claims).toHaveLength(40);
        expect(new Set(claims.map((c) => c.task)).size).toBe(40);
        for (const c of claims) {
          const job = await h.job(c.task.split("/")[0]!);
          expect([job.status, job.tasks[0]?.status, job.tasks[0]?.attempt, job.tasks[0]?.nodeId]).toEqual(["running", "running", 1, c.nodeId]);
        }
      });

      it("two store instances claiming at once never overfill a pool", async () => {
        const other = await sibling();
        const pools = { gpu: 2 };
        const claim = (s: Store, nodeId: string, queue: string) =>
          s.claimTasks({ nodeId, max: 5, pools, queues: [queue], now: h.now() }, (d, key) => claimTask(d, key, nodeId));
        // Each instance claims from its own queue, so neither passes over the other's (locked)
        // jobs: both must count the one pool's slots, and only one may take the last ones.
        for (let round = 0; round < 8; round++) {
          for (let i = 0; i < 3; i++) {
            for (const queue of ["q1", "q2"]) await h.submit({ name: `gpu-${queue}`, queue, tasks: [{ key: "main", command: ["true"], uses: ["gpu"] }] });
          }
          const claimed = (await Promise.all([claim(store, "a", "q1"), claim(other, "b", "q2")])).flat();
          expect(claimed).toHaveLength(2);
          expect((await store.poolHolders())["gpu"]).toHaveLength(2);
          for (const c of claimed) await store.mutateJob(c.jobId, h.now(), ended("main", 1));
        }
        expect(await store.poolHolders()).toEqual({});
      });
    });

    describe("concurrency", () => {
      it("a reader following the event log never misses an event committed concurrently", async () => {
        const jobs: Job[] = [];
        for (let i = 0; i < 8; i++) jobs.push(await h.submit({ command: ["true"] }));
        await h.claim();
        const start = (await store.eventsAfter(0, 10_000)).at(-1)!.seq;
        let last = start;
        const seen: number[] = [];
        let writing = true;
        const follow = async (): Promise<void> => {
          const page: BelayEvent[] = await store.eventsAfter(last, 1000);
          for (const e of page) {
            seen.push(e.seq);
            last = e.seq;
          }
        };
        const follower = (async () => {
          while (writing) {
            await follow();
            await sleep(0);
          }
        })();
        await Promise.all(
          jobs.map(async (job) => {
            for (let i = 1; i <= 15; i++) await store.mutateJob(job.id, h.now(), (d) => recordProgress(d, "main", 1, { ratio: i / 20 }));
          }),
        );
        writing = false;
        await follower;
        await follow();
        expect(seen).toEqual((await store.eventsAfter(start, 10_000)).map((e) => e.seq));
        expect(seen).toHaveLength(8 * 15);
      });

      it("bulk mutations, single mutations and claims of the same jobs at once all complete (no deadlock)", async () => {
        const running: string[] = [];
        for (let i = 0; i < 20; i++) running.push((await h.submit(twoTasks())).id);
        await h.claim({ max: 40 });
        // Priorities opposite to submission (and id) order: claims lock jobs in the opposite
        // order to the bulk mutations, which lock by id.
        const queued: string[] = [];
        for (let i = 0; i < 20; i++) queued.push((await h.submit({ command: ["true"], priority: i })).id);
        const progress = (key: string, ratio: number) => (d: Parameters<typeof recordProgress>[0]) => recordProgress(d, key, 1, { ratio });
        const claimer = async (nodeId: string): Promise<void> => {
          for (let i = 0; i < 10; i++) {
            await store.claimTasks({ nodeId, max: 2, pools: {}, now: h.now() }, (d, key) => claimTask(d, key, nodeId));
          }
        };
        const results = await Promise.allSettled([
          store.mutateJobs([...running, ...queued], h.now(), progress("a", 0.1)),
          store.mutateJobs([...running, ...queued].reverse(), h.now(), progress("b", 0.2)),
          store.mutateJobs([...queued].reverse(), h.now(), cancelJob()),
          ...running.map((id, i) => (i % 3 === 0 ? store.mutateJob(id, h.now(), cancelJob()) : store.mutateJob(id, h.now(), progress("a", 0.3)))),
          claimer("c1"),
          claimer("c2"),
        ]);
        expect(results.filter((r) => r.status === "rejected")).toEqual([]);
        // Every queued job was either claimed (and then found running by the bulk cancel) or cancelled before it started.
        for (const id of queued) {
          const job = await h.job(id);
          expect(["cancelling", "cancelled"]).toContain(job.status);
          if (job.status === "cancelled") expect(job.tasks[0]?.attempt).toBe(0);
        }
      });
    });

    describe("sweeps", () => {
      it("finds jobs past their queue timeout or run timeout", async () => {
        const waits = await h.submit({ command: ["true"], queueTimeoutMs: 1000 });
        const runs = await h.submit({ command: ["true"], timeoutMs: 2000, priority: 1 });
        const forever = await h.submit({ command: ["true"] });
        const created = Date.parse(waits.createdAt);
        expect(await store.expiredJobs(created + 999, 10)).toEqual([]);
        expect(await store.expiredJobs(created + 1000, 10)).toEqual([{ jobId: waits.id, kind: "queue_timeout" }]);
        const [claim] = await h.claim({ max: 1 });
        expect(claim?.jobId).toBe(runs.id);
        const started = Date.parse(claim!.job.startedAt!);
        expect(await store.expiredJobs(started + 1999, 10)).toEqual([{ jobId: waits.id, kind: "queue_timeout" }]);
        expect(await store.expiredJobs(started + 2000, 10)).toEqual([
          { jobId: waits.id, kind: "queue_timeout" },
          { jobId: runs.id, kind: "timeout" },
        ]);
        await h.mutate(waits.id, cancelJob());
        await h.mutate(runs.id, ended("main", 1));
        expect(await store.expiredJobs(started + 1_000_000, 10)).toEqual([]);
        expect((await h.job(forever.id)).status).toBe("queued");
      });

      it("limits the expired jobs returned", async () => {
        for (let i = 0; i < 5; i++) await h.submit({ command: ["true"], queueTimeoutMs: 1 });
        expect(await store.expiredJobs(h.nowMs + 10, 3)).toHaveLength(3);
      });

      it("stores a running attempt's stall deadline, never moved back, and lists the tasks past it", async () => {
        const job = await h.submit({ command: ["true"], stallTimeoutMs: 1000 });
        const [claim] = await h.claim({ max: 1 });
        expect(claim?.jobId).toBe(job.id);
        const t0 = h.nowMs;
        expect(await store.stalledTasks(t0 + 1_000_000, 10)).toEqual([]);
        await store.setStallDeadline(job.id, "main", 1, t0 + 1000);
        // A late write of an older deadline (writes may land out of order) does not move it back.
        await store.setStallDeadline(job.id, "main", 1, t0 + 500);
        expect(await store.stalledTasks(t0 + 999, 10)).toEqual([]);
        expect(await store.stalledTasks(t0 + 1000, 10)).toEqual([{ jobId: job.id, taskKey: "main" }]);
        await store.setStallDeadline(job.id, "main", 1, t0 + 3000);
        expect(await store.stalledTasks(t0 + 2999, 10)).toEqual([]);
        // A write for another attempt changes nothing; an ended task is never stalled.
        await store.setStallDeadline(job.id, "main", 2, t0 + 10);
        expect(await store.stalledTasks(t0 + 3000, 10)).toEqual([{ jobId: job.id, taskKey: "main" }]);
        await h.mutate(job.id, ended("main", 1));
        expect(await store.stalledTasks(t0 + 1_000_000, 10)).toEqual([]);
        await store.setStallDeadline(job.id, "main", 1, t0 + 10);
        expect(await store.stalledTasks(t0 + 1_000_000, 10)).toEqual([]);
      });

      it("lists the running or cancelling tasks, of every node or of one", async () => {
        const idle = await h.submit({ command: ["true"] });
        const busy = await h.submit(twoTasks());
        const stopping = await h.submit({ command: ["true"] });
        expect(await store.activeTasks()).toEqual([]);
        await h.claimExactly([`${busy.id}/a`, `${busy.id}/b`, `${stopping.id}/main`], {
          queues: ["default"],
          claim: (d, key) => (d.job.id === idle.id ? null : claimTask(d, key, key === "b" ? "node-2" : "node-1")),
        });
        await h.mutate(stopping.id, cancelJob());
        const sorted = (tasks: ActiveTask[]): string[] => tasks.map((t) => `${t.jobId}/${t.taskKey}@${t.attempt}:${t.status}:${t.nodeId}`).sort();
        expect(sorted(await store.activeTasks())).toEqual(
          [`${busy.id}/a@1:running:node-1`, `${busy.id}/b@1:running:node-2`, `${stopping.id}/main@1:cancelling:node-1`].sort(),
        );
        expect(sorted(await store.activeTasks("node-2"))).toEqual([`${busy.id}/b@1:running:node-2`]);
        await h.mutate(stopping.id, ended("main", 1, { signalDelivered: true }));
        expect(sorted(await store.activeTasks("node-1"))).toEqual([`${busy.id}/a@1:running:node-1`]);
      });

      it("tells the highest event seq", async () => {
        expect(await store.maxEventSeq()).toBe(0);
        const job = await h.submit({ command: ["true"] });
        const events = await store.jobEvents(job.id, 0, 100);
        expect(events.length).toBeGreaterThan(0);
        expect(await store.maxEventSeq()).toBe(events.at(-1)?.seq);
      });
    });

    describe("nodes", () => {
      const node = (id: string, heartbeatMs: number, leaseMs = 1000): NodeRecord => ({
        id, hostname: "host-a", pid: 4242, pidStartTime: "123", role: "worker", startedAt: "2026-01-01T00:00:00.000Z", heartbeatMs, leaseMs, stoppedAt: null, deadAt: null,
      });

      it("registers nodes, renews leases and finds the expired ones", async () => {
        await store.registerNode(node("n1", 10_000));
        await store.registerNode(node("n2", 10_000));
        expect((await store.listNodes()).map((n) => n.id).sort()).toEqual(["n1", "n2"]);
        expect(await store.expiredNodes(10_500)).toEqual([]);
        expect(await store.heartbeat("n1", 10_800)).toBe(true);
        expect((await store.expiredNodes(11_500)).map((n) => n.id)).toEqual(["n2"]);
        const [n1] = (await store.listNodes()).filter((n) => n.id === "n1");
        expect(n1).toEqual(node("n1", 10_800));
      });

      it("lets exactly one caller declare a node dead, after which its heartbeat fails until it registers again", async () => {
        await store.registerNode(node("n1", 10_000));
        const wins = await Promise.all([store.markNodeDead("n1", h.now()), store.markNodeDead("n1", h.now()), store.markNodeDead("n1", h.now())]);
        expect(wins.filter(Boolean)).toHaveLength(1);
        expect(await store.heartbeat("n1", 20_000)).toBe(false);
        expect(await store.expiredNodes(50_000)).toEqual([]);
        await store.registerNode(node("n1", 30_000));
        expect(await store.heartbeat("n1", 30_100)).toBe(true);
        expect((await store.listNodes())[0]?.deadAt).toBeNull();
      });

      it("never declares a stopped node dead", async () => {
        await store.registerNode(node("n1", 10_000));
        await store.markNodeStopped("n1", h.now());
        expect(await store.expiredNodes(50_000)).toEqual([]);
        expect(await store.markNodeDead("n1", h.now())).toBe(false);
        expect((await store.listNodes())[0]?.stoppedAt).not.toBeNull();
      });
    });

    describe("tokens", () => {
      it("stores tokens by hash, lists, counts and revokes them", async () => {
        const token = (id: string, role: TokenRecord["role"]): TokenRecord => ({ id, name: `t-${id}`, principal: `p-${id}`, role, createdAt: h.now(), lastUsedAt: null, revokedAt: null, expiresAt: null });
        expect(await store.countTokens()).toBe(0);
        const admin = token("t1", "admin");
        const viewer = token("t2", "viewer");
        await store.insertToken(admin, "hash-1");
        await store.insertToken(viewer, "hash-2");
        expect(await store.findToken("hash-1")).toEqual(admin);
        expect(await store.findToken("hash-3")).toBeNull();
        expect(await store.listTokens()).toEqual([admin, viewer]);
        expect(await store.countTokens()).toBe(2);
        const at = h.now();
        expect(await store.revokeToken("t2", at)).toBe(true);
        expect(await store.revokeToken("t2", h.now())).toBe(true);
        expect(await store.revokeToken("nope", at)).toBe(false);
        expect(await store.findToken("hash-2")).toBeNull();
        expect(await store.listTokens()).toEqual([admin, { ...viewer, revokedAt: at }]);
        expect(await store.countTokens()).toBe(2);
        expect(await errorOf(store.insertToken(token("t3", "user"), "hash-1"))).toBeInstanceOf(Error);
        // An expiring token keeps its expiry; findToken still returns it once expired (the caller refuses it, saying why).
        const expiring = { ...token("t4", "user"), expiresAt: "2001-02-03T04:05:06.789Z" };
        await store.insertToken(expiring, "hash-4");
        expect(await store.findToken("hash-4")).toEqual(expiring);
      });
    });

    describe("webhooks", () => {
      it("registers, lists and deletes webhooks", async () => {
        const hook = (id: string, eventTypes: string[]): WebhookRecord => ({ id, url: `https://example.test/${id}`, eventTypes, secret: `s-${id}`, createdBy: "admin", createdAt: h.now() });
        const all = hook("w1", []);
        const some = hook("w2", ["belay.job.cancelled", "belay.cancellation.step"]);
        await store.insertWebhook(all);
        await store.insertWebhook(some);
        expect(await store.listWebhooks()).toEqual([all, some]);
        expect(await store.deleteWebhook("w1", h.now())).toBe(true);
        expect(await store.deleteWebhook("w1", h.now())).toBe(false);
        expect(await store.deleteWebhook("nope", h.now())).toBe(false);
        expect(await store.listWebhooks()).toEqual([some]);
      });

      it("queues each event once per webhook, hands out due deliveries and records attempts", async () => {
        const job = await h.submit({ command: ["true"] });
        await h.claim();
        const [created, started] = await store.jobEvents(job.id, 0, 2);
        await store.insertWebhook({ id: "w1", url: "https://example.test/1", eventTypes: [], secret: "s", createdBy: "admin", createdAt: h.now() });
        await store.insertWebhook({ id: "w2", url: "https://example.test/2", eventTypes: [], secret: "s", createdBy: "admin", createdAt: h.now() });
        const t0 = h.nowMs;
        await store.enqueueDelivery("w1", created!, t0 + 10, h.now());
        await store.enqueueDelivery("w1", created!, t0 + 99, h.now());
        await store.enqueueDelivery("w1", started!, t0 + 5, h.now());
        await store.enqueueDelivery("w2", created!, t0 + 20, h.now());
        expect(await store.claimDueDeliveries(t0, 10, 500)).toEqual([]);
        const due = await store.claimDueDeliveries(t0 + 20, 10, 500);
        expect(due.map((d) => [d.webhookId, d.eventSeq])).toEqual([["w1", started!.seq], ["w1", created!.seq], ["w2", created!.seq]]);
        expect(due[1]).toEqual({
          seq: due[1]!.seq, webhookId: "w1", eventSeq: created!.seq, event: created, status: "pending", attempts: 0, nextAttemptMs: t0 + 10,
          lastStatusCode: null, lastError: null, createdAt: due[1]!.createdAt, deliveredAt: null,
        });
        // Claimed: not handed out again until the lease runs out, then again.
        expect(await store.claimDueDeliveries(t0 + 20, 10, 500)).toEqual([]);
        const again = await store.claimDueDeliveries(t0 + 521, 1, 500);
        expect(again.map((d) => [d.seq, d.nextAttemptMs])).toEqual([[Math.min(...due.map((d) => d.seq)), t0 + 520]]);
        const failed: WebhookDelivery = { ...due[0]!, attempts: 1, nextAttemptMs: t0 + 1000, lastStatusCode: 503, lastError: "unavailable" };
        const delivered: WebhookDelivery = { ...due[1]!, status: "delivered", attempts: 1, nextAttemptMs: null, lastStatusCode: 200, deliveredAt: h.now() };
        await store.updateDelivery(failed);
        await store.updateDelivery(delivered);
        expect(await store.claimDueDeliveries(t0 + 999, 10, 500)).toEqual([{ ...due[2], nextAttemptMs: t0 + 520 }]);
        expect(await store.claimDueDeliveries(t0 + 1000, 10, 500)).toEqual([failed]);
        // The last claim holds `failed` until its lease runs out.
        const held = { ...failed, nextAttemptMs: t0 + 1500 };
        expect(await store.listDeliveries("w1", 10)).toEqual([held, delivered]);
        expect(await store.listDeliveries("w1", 1)).toEqual([held]);
        expect(await store.listDeliveries("w3", 10)).toEqual([]);
      });

      it("hands each due delivery to exactly one of several servers claiming at once", async () => {
        const job = await h.submit({ command: ["true"] });
        const [created] = await store.jobEvents(job.id, 0, 1);
        const t0 = h.nowMs;
        for (let i = 0; i < 24; i++) {
          await store.insertWebhook({ id: `w${i}`, url: `https://example.test/${i}`, eventTypes: [], secret: "s", createdBy: "admin", createdAt: h.now() });
          await store.enqueueDelivery(`w${i}`, created!, t0, h.now());
        }
        const claims = await Promise.all([1, 2, 3, 4].map(() => store.claimDueDeliveries(t0, 10, 60_000)));
        const seqs = claims.flat().map((d) => d.seq);
        expect(new Set(seqs).size).toBe(seqs.length);
        expect(seqs).toHaveLength(24);
      });
    });
  });
}
