/**
 * Schedules and queue pauses (DESIGN §7), on a real engine with real processes: overlap
 * policies, pause, the catch-up policy across a restart, queue pause at the claim, and a bulk
 * cancel that quiesces its producers first. The same cases run on PostgreSQL when
 * BELAY_TEST_PG_URL is set, plus two engines on one schema firing a schedule once.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import type { BelayOptions } from "../../src/engine/open.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { openTestEngine, tempHome, until, untilJobStatus, untilTaskStatus } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";

const schemas: string[] = [];

afterEach(async () => {
  for (const schema of schemas.splice(0)) {
    const store = new PostgresStore({ url: pgUrl as string, schema });
    await store.dropSchema().catch(() => undefined);
    await store.close();
  }
});

/** Every second (croner's six-field form, seconds first): a test sees several firings quickly. */
const everySecond = "* * * * * *";

const stores: Array<{ name: string; skip: string | null; db: () => string | undefined }> = [
  { name: "SQLite", skip: null, db: () => undefined },
  {
    name: "PostgreSQL",
    skip: noPostgres,
    db: () => {
      const schema = testSchema();
      schemas.push(schema);
      return `${pgUrl as string}?schema=${schema}`;
    },
  },
];

const jobsOf = async (engine: Belay, scheduleId: string) => (await engine.listJobs({ scheduleId }, { limit: 1000 })).items;

for (const { name, skip, db } of stores) {
  describe(`schedules on ${name}`, skippedIf(skip), () => {
    const open = (options: BelayOptions = {}): Promise<Belay> => {
      const url = db();
      return openTestEngine({ schedulePollMs: 100, ...(url === undefined ? {} : { db: url }), ...options });
    };

    it("overlap cancel_previous: the next firing cancels the running run through the cancel path, with a record by system:schedule", async () => {
      const engine = await open();
      const s = await engine.createSchedule({ name: "replace", cron: everySecond, job: { name: "long", command: ["sleep", "60"] }, overlap: "cancel_previous" });
      const jobs = await until(() => jobsOf(engine, s.id), (j) => j.length >= 2);
      await engine.pauseSchedule(s.id);
      const first = jobs[jobs.length - 1];
      expect(first?.scheduleId).toBe(s.id);
      const cancelled = await untilJobStatus(engine, first?.id ?? "", "cancelled");
      const record = await until(() => engine.getCancellation(cancelled.id), (r) => r.status !== "in_progress");
      expect(record).toMatchObject({ scope: "job", requestedBy: "system:schedule", status: "completed" });
      expect(record.reason).toContain("cancel_previous");
      expect(record.steps.map((st) => st.name)).toContain("signal_runners");
    });

    it("overlap skip: while a run is going, firings make no second run and say why", async () => {
      const engine = await open();
      const s = await engine.createSchedule({ name: "single", cron: everySecond, job: { name: "long", command: ["sleep", "60"] } });
      expect(s.overlap).toBe("skip");
      const [job] = await until(() => jobsOf(engine, s.id), (j) => j.length === 1);
      await untilTaskStatus(engine, job?.id ?? "", "main", "running");
      await until(() => engine.getSchedule(s.id), (x) => x.lastOutcome === "skipped_overlap");
      await until(() => engine.getSchedule(s.id), (x) => Date.parse(x.lastRunAt ?? "") > Date.parse(job?.createdAt ?? "") + 1500);
      expect(await jobsOf(engine, s.id)).toHaveLength(1);
      expect((await engine.getJob(job?.id ?? "")).status).toBe("running");
    });

    it("a paused schedule stops firing and shows no next run; resume brings its next run back", async () => {
      const engine = await open();
      const s = await engine.createSchedule({ name: "pausable", cron: everySecond, job: { name: "quick", command: ["true"] }, overlap: "allow" });
      expect(Date.parse(s.nextRunAt ?? "")).toBeGreaterThan(Date.parse(s.createdAt));
      await until(() => jobsOf(engine, s.id), (j) => j.length >= 1);
      const paused = await engine.pauseSchedule(s.id, { by: "tester" });
      expect(paused).toMatchObject({ paused: true, pausedBy: "tester", nextRunAt: null });
      const count = (await jobsOf(engine, s.id)).length;
      await new Promise((r) => setTimeout(r, 2500));
      expect(await jobsOf(engine, s.id)).toHaveLength(count);
      const resumed = await engine.resumeSchedule(s.id);
      expect(resumed.paused).toBe(false);
      expect(resumed.nextRunAt).not.toBeNull();
      await until(() => jobsOf(engine, s.id), (j) => j.length > count);
    });

    for (const catchUp of ["none", "latest"] as const) {
      it(`catch-up ${catchUp}: firings missed during downtime make ${catchUp === "none" ? "no run" : "exactly one run"}, after a restart`, async () => {
        const home = tempHome();
        const url = db();
        const where = { home, ...(url === undefined ? {} : { db: url }) };
        const first = await openTestEngine({ ...where, fireSchedules: false });
        const s = await first.createSchedule({ name: `daily-${catchUp}`, cron: "0 3 * * *", timeZone: "Europe/Oslo", job: { name: "nightly", command: ["true"] }, catchUp });
        // The downtime: its next firing is moved to three hours ago, as if the nodes had been down since.
        const stored = await first.store.getSchedule(s.id);
        const missedMs = Date.now() - 3 * 3600_000;
        expect(await first.store.claimScheduleFiring(s.id, stored?.nextRunMs ?? 0, missedMs, new Date().toISOString())).toBe(true);
        await first.close();
        const second = await openTestEngine({ ...where, schedulePollMs: 100 });
        const after = await until(() => second.getSchedule(s.id), (x) => x.lastOutcome !== null);
        expect(Date.parse(after.nextRunAt ?? "")).toBeGreaterThan(Date.now());
        if (catchUp === "none") {
          expect(after.lastOutcome).toBe("skipped_missed");
          expect(await jobsOf(second, s.id)).toHaveLength(0);
        } else {
          expect(after.lastOutcome).toBe("submitted");
          const jobs = await jobsOf(second, s.id);
          expect(jobs).toHaveLength(1);
          expect(jobs[0]?.idempotencyKey).toBe(`schedule:${s.id}:${missedMs}`);
        }
      });
    }

    it("a paused queue's tasks are not claimed but can be cancelled; resuming it lets them run", async () => {
      const engine = await open();
      const q = await engine.pauseQueue("batch", { by: "tester", reason: "maintenance" });
      expect(q).toMatchObject({ name: "batch", paused: true, pausedBy: "tester", reason: "maintenance" });
      const held = await engine.submitJob({ name: "held", queue: "batch", command: ["true"] });
      const other = await engine.submitJob({ name: "other", command: ["true"] });
      await untilJobStatus(engine, other.id, "succeeded");
      expect((await engine.getJob(held.id)).status).toBe("queued");
      expect((await engine.listQueues()).find((x) => x.name === "batch")).toMatchObject({ paused: true, pending: 1 });
      await engine.cancelJob(held.id, { reason: "not needed" });
      expect((await untilJobStatus(engine, held.id, "cancelled")).tasks[0]?.status).toBe("cancelled");
      const later = await engine.submitJob({ name: "later", queue: "batch", command: ["true"] });
      const resumed = await engine.resumeQueue("batch");
      expect(resumed.paused).toBe(false);
      await untilJobStatus(engine, later.id, "succeeded");
    });

    it("bulk cancel with quiesce pauses the schedule and queue its filter names before cancelling, and the record lists them", async () => {
      const engine = await open();
      const s = await engine.createSchedule({ name: "producer", cron: everySecond, job: { name: "work", queue: "nightly", command: ["sleep", "60"] }, overlap: "allow" });
      const other = await engine.createSchedule({ name: "bystander", cron: "0 3 * * *", job: { name: "elsewhere", command: ["true"] } });
      const [job] = await until(() => jobsOf(engine, s.id), (j) => j.length >= 1);
      await untilTaskStatus(engine, job?.id ?? "", "main", "running");
      const result = await engine.cancelJobs({ filter: { queue: "nightly" }, quiesce: true, reason: "stop the nightly flood" });
      const record = result.cancellation;
      expect(record?.steps.map((st) => st.name)).toEqual(["quiesce", "cancel_jobs", "finalize"]);
      const quiesce = record?.steps[0];
      expect(quiesce?.status).toBe("completed");
      expect(quiesce?.detail).toEqual({ schedules: [{ id: s.id, name: "producer" }], queues: ["nightly"] });
      // Paused before the cancels: the quiesce step ended before the first job record was requested.
      const children = await until(() => engine.listCancellations({ parentId: record?.id ?? "" }), (c) => c.total >= 1);
      for (const child of children.items) expect(Date.parse(child.requestedAt)).toBeGreaterThanOrEqual(Date.parse(quiesce?.finishedAt ?? ""));
      expect(await engine.getSchedule(s.id)).toMatchObject({ paused: true, nextRunAt: null });
      expect((await engine.getSchedule(other.id)).paused).toBe(false);
      expect((await engine.listQueues()).find((x) => x.name === "nightly")?.paused).toBe(true);
      for (const j of await jobsOf(engine, s.id)) await untilJobStatus(engine, j.id, "cancelled");
      const count = (await jobsOf(engine, s.id)).length;
      await new Promise((r) => setTimeout(r, 2000));
      expect(await jobsOf(engine, s.id)).toHaveLength(count);
    });

    it("refuses a bad cron expression or time zone with INVALID_REQUEST naming the field", async () => {
      const engine = await open();
      const job = { name: "x", command: ["true"] };
      await expect(engine.createSchedule({ name: "a", cron: "61 * * * *", job })).rejects.toMatchObject({ code: "INVALID_REQUEST", details: { field: "cron" } });
      await expect(engine.createSchedule({ name: "b", cron: "0 2 * * *", timeZone: "Mars/Olympus", job })).rejects.toMatchObject({ code: "INVALID_REQUEST", details: { field: "timeZone" } });
      await expect(engine.createSchedule({ name: "c", cron: "0 2 * * *", job: { name: "no tasks" } })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
      await engine.createSchedule({ name: "d", cron: "0 2 * * *", job });
      await expect(engine.createSchedule({ name: "d", cron: "0 2 * * *", job })).rejects.toMatchObject({ code: "SCHEDULE_NAME_TAKEN" });
    });
  });
}

describe("schedules on two PostgreSQL engines", skippedIf(noPostgres), () => {
  it("one firing makes one job: two nodes polling the same schedule never both fire it", async () => {
    const schema = testSchema();
    schemas.push(schema);
    const db = `${pgUrl as string}?schema=${schema}`;
    const a = await openTestEngine({ db, nodeId: "node-a", schedulePollMs: 20 });
    const b = await openTestEngine({ db, nodeId: "node-b", schedulePollMs: 20 });
    const s = await a.createSchedule({ name: "shared", cron: everySecond, job: { name: "tick", command: ["true"] }, overlap: "allow" });
    const jobs = await until(() => jobsOf(b, s.id), (j) => j.length >= 4);
    await a.pauseSchedule(s.id);
    // Each job is one firing (its key names the second it was for), and no second has two.
    const keys = jobs.map((j) => j.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("the firing compare-and-set: of many concurrent claims of one firing from two stores, exactly one wins", async () => {
    const schema = testSchema();
    schemas.push(schema);
    const a = new PostgresStore({ url: pgUrl as string, schema });
    const b = new PostgresStore({ url: pgUrl as string, schema });
    try {
      await a.migrate();
      const engine = await openTestEngine({ db: `${pgUrl as string}?schema=${schema}`, fireSchedules: false });
      const s = await engine.createSchedule({ name: "cas", cron: "0 3 * * *", job: { name: "x", command: ["true"] } });
      const expected = (await a.getSchedule(s.id))?.nextRunMs ?? 0;
      const now = new Date().toISOString();
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).claimScheduleFiring(s.id, expected, expected + 86_400_000, now)));
      expect(wins.filter(Boolean)).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
