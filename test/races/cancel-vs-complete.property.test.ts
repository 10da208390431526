/**
 * A job cancel and the task's completion at the same instant (DESIGN §3: "the store decides
 * the race; whichever transaction commits first wins"). Whatever the order, the outcome is
 * one of the defined ones, and the record says the same thing as the job:
 * - cancel wins: the job is `cancelled`, the record `completed`, and it shows the task
 *   stopped mid-run (signalled, then exited: `graceful`, or `forced`);
 * - completion wins: the job is `succeeded`, with the task's output, and either the cancel
 *   was refused with 409 JOB_ALREADY_FINISHED (no record), or the record is `too_late` and
 *   shows the task `finished_first`.
 *
 * 10 000 runs at the store + core level — the very mutations the engine makes (claimTask,
 * requestJobCancel, endAttempt, finalizeCancellation), each side's steps released in an order
 * fast-check draws — on SQLite, and with BELAY_TEST_PG_URL 300 on PostgreSQL,
 * where in half the runs the two transactions really overlap and the row lock decides; then
 * 100 runs through a real engine, with a handler that returns at the moment the cancel is sent.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { finalizeCancellation, requestJobCancel } from "../../src/core/cancellation.ts";
import type { CancelOutcome } from "../../src/core/cancellation.ts";
import { BelayError, isBelayError } from "../../src/core/errors.ts";
import { claimTask, endAttempt, newJob } from "../../src/core/lifecycle.ts";
import { settle } from "../../src/core/settle.ts";
import type { Job } from "../../src/core/model.ts";
import { parseJobSpec } from "../../src/core/spec.ts";
import { newId } from "../../src/engine/ids.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import type { Store } from "../../src/store/store.ts";
import { openTestEngine, until } from "../helpers.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";

type Outcome = "cancel won" | "completion won: 409" | "completion won: too_late";

/** What one run left in the store, checked against DESIGN §3; returns which outcome it was. */
function judge(job: Job, records: Awaited<ReturnType<Store["listCancellations"]>>, cancelError: unknown, output: unknown): Outcome {
  const task = job.tasks[0];
  if (cancelError !== null) {
    expect(isBelayError(cancelError, "JOB_ALREADY_FINISHED"), String(cancelError)).toBe(true);
    expect(job.status).toBe("succeeded");
    expect(task?.status).toBe("succeeded");
    expect(task?.output).toEqual(output);
    expect(job.cancellation).toBeNull();
    expect(records.total).toBe(0);
    return "completion won: 409";
  }
  // Exactly one record (invariant 5), finished, and the job's summary is that record.
  expect(records.total).toBe(1);
  const record = records.items[0];
  expect(job.cancellation?.id).toBe(record?.id);
  expect(job.cancellation?.status).toBe(record?.status);
  const report = record?.tasks.find((r) => r.key === "main");
  expect(report?.stoppedAt).not.toBeNull();
  if (job.status === "cancelled") {
    expect(record?.status).toBe("completed");
    expect(task?.status).toBe("cancelled");
    expect(report?.outcome).toBe("mid_run");
    expect(["graceful", "forced"]).toContain(report?.mode);
    expect((record?.runnersTerminated.graceful ?? 0) + (record?.runnersTerminated.forced ?? 0)).toBe(1);
    expect(record?.affectedTasks).toContainEqual({ key: "main", from: "running", to: "cancelled" });
    return "cancel won";
  }
  expect(job.status).toBe("succeeded");
  expect(record?.status).toBe("too_late");
  expect(task?.status).toBe("succeeded");
  // Nothing produced before the stop is lost (invariant 6).
  expect(task?.output).toEqual(output);
  expect(report?.outcome).toBe("finished_first");
  expect(record?.runnersTerminated).toEqual({ graceful: 0, forced: 0 });
  return "completion won: too_late";
}

/**
 * Releases the waiting steps of the two sides one at a time, picking each by the next of
 * `choices` (drawn by fast-check, so a failing order is found, shrunk and replayed). Without
 * `overlap`, a released step runs until its side waits at its next step or ends — its store
 * call committed — before the next is picked. With it, the next step is released at once,
 * while the call may still be running (on PostgreSQL the two transactions then overlap and
 * the row lock decides).
 */
class Turns {
  readonly order: string[] = [];
  private readonly waiting: Array<{ label: string; go: () => void }> = [];
  private inflight = 0;
  private readonly choices: readonly number[];

  constructor(choices: readonly number[]) {
    this.choices = choices;
  }

  /** A side waits here for its turn. */
  turn(label: string): Promise<void> {
    return new Promise((go) => this.waiting.push({ label, go }));
  }

  /** A store call, counted while it runs. */
  call<T>(promise: Promise<T>): Promise<T> {
    this.inflight += 1;
    return promise.finally(() => (this.inflight -= 1));
  }

  async run<T>(sides: Promise<T>, overlap: boolean): Promise<T> {
    let ended = false;
    const settled = sides.finally(() => (ended = true));
    settled.catch(() => undefined);
    for (let picked = 0; ; ) {
      await new Promise((r) => setImmediate(r));
      if (ended) return settled;
      if (this.waiting.length === 0 || (!overlap && this.inflight > 0)) continue;
      const [next] = this.waiting.splice((this.choices[picked++] ?? 0) % this.waiting.length, 1);
      if (next === undefined) continue;
      this.order.push(next.label);
      next.go();
    }
  }
}

/**
 * One race on `store`: a running one-task job; the runner's side (it exits, then its end is
 * stored — reading, as Runs does, whether the signal had been sent) against the cancel's side
 * (the request's transaction, the signal if there is a runner to signal, then, once the
 * runner's end is stored, the finalize step).
 */
async function race(store: Store, turns: Turns, force: boolean, overlap: boolean, clock: () => string): Promise<Outcome> {
  const job = newJob(parseJobSpec({ command: ["true"], graceMs: 1000 }), { id: newId(), owner: "racer", now: clock() });
  await store.insertJob((d) => settle(d), job);
  const claimed = await store.mutateJob(job.id, clock(), (d) => claimTask(d, "main", "node-1"));
  const attempt = claimed.value?.task.attempt ?? 0;
  expect(attempt).toBe(1);
  const output = { result: job.id };
  const run = { signalSent: false, forced: false };

  const completion = (async () => {
    await turns.turn("the runner exits");
    const end = { outcome: "succeeded" as const, exitCode: 0, error: null, output, signalDelivered: run.signalSent, forced: run.forced };
    await turns.turn("its end is stored");
    await turns.call(store.mutateJob(job.id, clock(), (d) => endAttempt(d, "main", attempt, end)));
  })();

  const cancel = (async (): Promise<unknown> => {
    await turns.turn("the cancel is requested");
    let outcome: CancelOutcome;
    try {
      const request = { reason: "race", requestedBy: "racer", force, graceMs: null, onlyIfPending: false, parentId: null };
      outcome = (await turns.call(store.mutateJob(job.id, clock(), (d) => requestJobCancel(d, newId(), request)))).value;
    } catch (error) {
      return error;
    }
    if (outcome.toSignal.includes("main")) {
      await turns.turn(force ? "the runner is killed" : "the runner is signalled");
      run.signalSent = true;
      run.forced = force;
    }
    // The executor finalizes once every runner's end is stored (invariant 3).
    await completion;
    if (outcome.needsExecution) await store.mutateJob(job.id, clock(), (d) => finalizeCancellation(d, outcome.record.id, { cleanupFailed: false }));
    return null;
  })();

  const [, cancelError] = await turns.run(Promise.all([completion, cancel]), overlap);
  const stored = await store.getJob(job.id);
  if (stored === null) throw new Error("job vanished");
  try {
    return judge(stored, await store.listCancellations({ jobId: job.id }, { limit: 10, offset: 0 }), cancelError, output);
  } catch (error) {
    throw new Error(`after ${turns.order.join(" → ")} (force ${force}, overlap ${overlap}): ${(error as Error).message}`, { cause: error });
  }
}

async function runRaces(store: Store, numRuns: number): Promise<Record<Outcome, number>> {
  let ms = Date.parse("2030-01-01T00:00:00.000Z");
  const clock = (): string => new Date((ms += 1)).toISOString();
  const seen: Record<Outcome, number> = { "cancel won": 0, "completion won: 409": 0, "completion won: too_late": 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(), { minLength: 4, maxLength: 4 }), fc.boolean(), fc.boolean(), async (choices, force, overlap) => {
      seen[await race(store, new Turns(choices), force, overlap, clock)] += 1;
    }),
    { numRuns },
  );
  return seen;
}

describe("cancel vs completion at the same instant", () => {
  it("10 000 random orders on SQLite: always a defined outcome, and the record agrees with the job", { timeout: 300_000 }, async () => {
    const store = new SqliteStore({ path: ":memory:" });
    await store.migrate();
    try {
      const seen = await runRaces(store, 10_000);
      console.log("SQLite store, 10 000 races:", seen);
      // Every outcome was reached, so no branch went untested.
      for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it("300 random orders on PostgreSQL, the two transactions overlapping", { ...skippedIf(noPostgres), timeout: 300_000 }, async () => {
    const store = new PostgresStore({ url: pgUrl ?? "", schema: testSchema(), poolSize: 4 });
    await store.migrate();
    try {
      const seen = await runRaces(store, 300);
      console.log("PostgreSQL store, 300 races:", seen);
      for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
    } finally {
      await store.dropSchema();
      await store.close();
    }
  });

  describe("through a real engine", () => {
    const dir = mkdtempSync(join(tmpdir(), "belay-race-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("100 times, a handler returns at the moment the cancel is sent: a defined outcome, the record agrees", { timeout: 300_000 }, async () => {
      const engine = await openTestEngine({ handlers: new URL("./race-handlers.ts", import.meta.url).pathname, concurrency: 4, pollIntervalMs: 5 });
      const seen: Record<Outcome, number> = { "cancel won": 0, "completion won: 409": 0, "completion won: too_late": 0 };
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), async (triggerDelay, cancelDelay, force) => {
          const trigger = join(dir, newId());
          const job = await engine.submitJob({ handler: "returnOnTrigger", input: { trigger }, graceMs: 2000 });
          await until(() => engine.getJob(job.id), (j) => j.tasks[0]?.progress?.message === "armed");
          const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
          const [, cancelError] = await Promise.all([
            wait(triggerDelay).then(() => writeFileSync(trigger, "")),
            wait(cancelDelay).then(() => engine.cancelJob(job.id, { force, reason: "race" }).then(() => null, (error: unknown) => error)),
          ]);
          if (cancelError !== null && !(cancelError instanceof BelayError)) throw cancelError;
          const finished = await engine.waitForJob(job.id, { timeoutMs: 20_000 });
          const records = await engine.listCancellations({ jobId: job.id });
          if (records.items[0] !== undefined) await until(() => engine.getCancellation(job.id), (r) => r.status !== "in_progress");
          const settled = await engine.getJob(job.id);
          expect(settled.status).toBe(finished.status);
          const output = { triggered: true, aborted: false };
          seen[judge(settled, await engine.listCancellations({ jobId: job.id }), cancelError, output)] += 1;
        }),
        { numRuns: 100 },
      );
      // Which side wins depends on timing: the counts are reported, not asserted.
      console.log("engine, 100 races:", seen);
    });
  });
});
