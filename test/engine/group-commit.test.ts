/**
 * Group commit of the runs' writes (JobWriter.mutateGrouped, issue 19): writes that arrive
 * while one is in flight are written together in one transaction, each caller still gets its
 * own result, its own events on the bus, and its own refusal.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BelayError, isBelayError } from "../../src/core/errors.ts";
import { recordProgress } from "../../src/core/lifecycle.ts";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import { EventBus } from "../../src/engine/event-bus.ts";
import { JobWriter } from "../../src/engine/job-writer.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { Harness, ended } from "../store/harness.ts";

describe("group commit of run writes", () => {
  let dir: string;
  let store: SqliteStore;
  let h: Harness;
  let writer: JobWriter;
  const published: BelayEvent[] = [];
  const transactions = { single: 0, grouped: [] as number[] };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "belay-group-"));
    store = new SqliteStore({ path: join(dir, "belay.db") });
    await store.migrate();
    h = new Harness(store);
    const bus = new EventBus();
    bus.on("*", (e) => published.push(e));
    // Count the transactions the writer asks for.
    const counted = Object.create(store) as SqliteStore;
    counted.mutateJob = (...args) => {
      transactions.single += 1;
      return store.mutateJob(...args);
    };
    counted.mutateJobs = (ids, ...rest) => {
      transactions.grouped.push(ids.length);
      return store.mutateJobs(ids, ...rest);
    };
    writer = new JobWriter({ store: counted, bus, now: () => h.now() });
    published.length = 0;
    transactions.single = 0;
    transactions.grouped = [];
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes concurrent ends in one transaction after the first, each with its own result, events and refusal", async () => {
    const jobs: Job[] = [];
    for (let i = 0; i < 6; i++) jobs.push(await h.submit({ command: ["true"] }));
    await h.claimExactly(jobs.map((j) => `${j.id}/main`));
    const [first, ...rest] = jobs;
    const refused = rest[2]!;
    const writes = [first!, ...rest].map((job) =>
      writer.mutateGrouped(job.id, job === refused ? () => { throw new BelayError("INVALID_REQUEST", "refused on purpose"); } : ended("main", 1)),
    );
    // A second report of the first job's end, grouped with the others: it finds the attempt ended.
    const again = writer.mutateGrouped(first!.id, ended("main", 1));
    const settled = await Promise.allSettled([...writes, again]);

    // The first went alone; the six that arrived while it was in flight went together.
    expect(transactions.single).toBe(1);
    expect(transactions.grouped).toEqual([6]);
    settled.slice(0, 6).forEach((outcome, i) => {
      const job = jobs[i]!;
      if (job === refused) {
        expect(outcome.status).toBe("rejected");
        expect(isBelayError((outcome as PromiseRejectedResult).reason)).toBe(true);
        return;
      }
      expect(outcome.status).toBe("fulfilled");
      const { value, job: written } = (outcome as PromiseFulfilledResult<{ value: { applied: boolean }; job: { status: string } }>).value;
      expect(value.applied).toBe(true);
      expect(written.status).toBe("succeeded");
    });
    // The repeat came second: a late report of an ended attempt changes nothing.
    expect((settled[6] as PromiseFulfilledResult<{ value: { applied: boolean } }>).value.value.applied).toBe(false);
    for (const job of jobs) {
      const stored = await h.job(job.id);
      expect(stored.status).toBe(job === refused ? "running" : "succeeded");
      const events = await store.jobEvents(job.id, 0, 100);
      expect(published.filter((e) => e.subject === job.id)).toEqual(events.filter((e) => !["belay.job.created", "belay.task.started", "belay.job.started"].includes(e.type)));
    }
  });

  it("two writes of one job never share a batch: the second follows, from the first's result", async () => {
    const a = await h.submit({ command: ["true"] });
    const b = await h.submit({ command: ["true"] });
    const c = await h.submit({ command: ["true"] });
    await h.claimExactly([`${a.id}/main`, `${b.id}/main`, `${c.id}/main`]);
    const results = await Promise.all([
      writer.mutateGrouped(c.id, (d) => recordProgress(d, "main", 1, { ratio: 0.1 })),
      writer.mutateGrouped(a.id, (d) => recordProgress(d, "main", 1, { ratio: 0.5 })),
      writer.mutateGrouped(b.id, (d) => recordProgress(d, "main", 1, { ratio: 0.25 })),
      writer.mutateGrouped(a.id, ended("main", 1)),
    ]);
    expect(transactions.single).toBe(2);
    expect(transactions.grouped).toEqual([2]);
    expect(results.map((r) => r.job.status)).toEqual(["running", "running", "running", "succeeded"]);
    expect((await h.job(b.id)).tasks[0]?.progress?.ratio).toBe(0.25);
    const typesOfA = (await store.jobEvents(a.id, 0, 100)).map((e) => e.type);
    expect(typesOfA.slice(-3)).toEqual(["belay.task.progress", "belay.task.succeeded", "belay.job.succeeded"]);
  });
});
