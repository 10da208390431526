/**
 * DESIGN §2 invariants 1–6 (and the cancel table of §3) under random interleavings of
 * submit / claim / progress / runner exits / cancels / resume / finalize on 1–3 jobs of
 * 1–4 tasks, against a real SQLite store (in memory), checked after every step. The
 * interpreter and the checks live in `invariants-model.ts`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { requestJobCancel } from "../../src/core/cancellation.ts";
import type { CancelOutcome } from "../../src/core/cancellation.ts";
import { claimTask, newJob } from "../../src/core/lifecycle.ts";
import { settle } from "../../src/core/settle.ts";
import { parseJobSpec } from "../../src/core/spec.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { InvariantViolation, specOf, World } from "./invariants-model.ts";
import type { JobPlan, Op, RunStats, TaskPlan } from "./invariants-model.ts";

/** 1000 on CI and locally alike (about 15 s on two cores). */
const numRuns = 1000;

// ---------------------------------------------------------------------------------------
// Arbitraries

const taskPlan = fc.record({
  deps: fc.array(fc.record({ on: fc.nat({ max: 3 }), skip: fc.boolean() }), { maxLength: 2 }),
  retries: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 1 }),
});

const jobPlan: fc.Arbitrary<JobPlan> = fc.record({
  tasks: fc.array(taskPlan, { minLength: 1, maxLength: 4 }),
  compensation: fc.oneof({ arbitrary: fc.constant<TaskPlan[]>([]), weight: 3 }, { arbitrary: fc.array(taskPlan, { minLength: 1, maxLength: 2 }), weight: 1 }),
  failFast: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
});

const idx = fc.nat({ max: 11 });
const outcome = fc.constantFrom("succeeded" as const, "failed" as const);

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ t: "submit" as const }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant("claim" as const), max: fc.integer({ min: 1, max: 3 }) }), weight: 5 },
  { arbitrary: fc.record({ t: fc.constant("claimOne" as const), job: idx, task: idx }), weight: 1 },
  {
    arbitrary: fc.record({ t: fc.constant("progress" as const), runner: idx, ratio: fc.integer({ min: -20, max: 120 }).map((n) => n / 100), late: fc.boolean() }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      t: fc.constant("exit" as const),
      runner: idx,
      outcome,
      interrupted: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ t: fc.constant("signal" as const), runner: idx }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant("exitAfterSignal" as const), runner: idx, outcome, forced: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant("late" as const), runner: idx, outcome }), weight: 1 },
  {
    arbitrary: fc.record({
      t: fc.constant("cancelJob" as const),
      job: idx,
      onlyIfPending: fc.boolean(),
      force: fc.boolean(),
      graceMs: fc.option(fc.integer({ min: 0, max: 5000 })),
      repeat: fc.boolean(),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      t: fc.constant("cancelTask" as const),
      job: idx,
      task: idx,
      cascade: fc.constantFrom(true, false, null),
      force: fc.boolean(),
      repeat: fc.boolean(),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ t: fc.constant("bulkCancel" as const), force: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant("compensate" as const), job: idx }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant("resume" as const), job: idx }), weight: 2 },
  {
    arbitrary: fc.record({
      t: fc.constant("finalize" as const),
      job: idx,
      record: idx,
      cleanupFailed: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
    }),
    weight: 3,
  },
);

/** Situations 1000 runs reach dozens of times or more; reaching none means the generator has gone blind. */
const mustReach = [
  "exit cancelling→cancelled",
  "exit cancelling→succeeded (finished first)",
  "exit cancelling→failed (finished first)",
  "exit running→pending",
  "new job record completed",
  "new job record in_progress",
  "new task record completed",
  "new task record in_progress",
  "repeat returns job record (escalated)",
  "repeat returns task record",
  "finalize job completed (job cancelled)",
  "finalize job too_late (job failed)",
  "finalize task completed (job partial)",
  "compensation started",
  "resume cancelled",
  "resume partial",
  "resume failed",
  "refusal JOB_ALREADY_FINISHED",
  "refusal JOB_NOT_PENDING",
  "refusal JOB_NOT_RESUMABLE",
  "refusal TASK_ALREADY_FINISHED",
];

/**
 * Counterexamples found so far, replayed first on every run. The first is a bug in
 * `requestTaskCancel` (still open): after a resume, cancelling a task that this attempt
 * cancelled by cascade returns the task-cancel record of the previous attempt as
 * `alreadyCancelled` (without the resume the same request is TASK_ALREADY_FINISHED).
 */
const knownCases: Array<[{ jobs: JobPlan[]; ops: Op[] }]> = [
  [
    {
      jobs: [{ tasks: [{ deps: [], retries: 0 }, { deps: [{ on: 0, skip: false }], retries: 0 }], compensation: [], failFast: false }],
      ops: [
        { t: "cancelTask", job: 0, task: 1, cascade: true, force: false, repeat: false },
        { t: "cancelJob", job: 0, onlyIfPending: false, force: false, graceMs: null, repeat: false },
        { t: "resume", job: 0 },
        { t: "claim", max: 1 },
        { t: "cancelTask", job: 0, task: 0, cascade: true, force: false, repeat: false },
        { t: "cancelTask", job: 0, task: 1, cascade: true, force: false, repeat: false },
      ],
    },
  ],
];

const scenario = fc.record({
  jobs: fc.array(jobPlan, { minLength: 1, maxLength: 3 }),
  ops: fc.array(op, { minLength: 1, maxLength: 40, size: "medium" }),
});

// ---------------------------------------------------------------------------------------

const totals: RunStats = { steps: 0, claims: 0, cancels: 0, resumes: 0, finalized: 0, refusals: 0, reached: {} };

async function play(jobs: JobPlan[], ops: Op[]): Promise<void> {
  const world = new World(jobs);
  await world.open();
  try {
    await world.run({ t: "submit" });
    for (const o of ops) await world.run(o);
    await world.drain();
  } catch (error) {
    // The trace says what the ops meant (which job, task and runner each one hit, and what came back).
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new InvariantViolation(`${message}\n--- trace ---\n${world.trace.join("\n")}`, { cause: error });
  } finally {
    await world.close();
    const { reached, ...counts } = world.stats;
    for (const k of Object.keys(counts) as Array<keyof typeof counts>) totals[k] += counts[k];
    for (const [label, n] of Object.entries(reached)) totals.reached[label] = (totals.reached[label] ?? 0) + n;
  }
}

describe("DESIGN §2 invariants under random interleavings (SQLite store)", () => {
  it("invariants 1–6 hold after every step, and every job can still finish", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ jobs, ops }) => {
        await play(jobs, ops);
      }),
      { numRuns, examples: knownCases },
    );
    // The generator must actually reach the interesting states, not just refuse.
    expect(totals.claims).toBeGreaterThan(numRuns);
    expect(totals.cancels).toBeGreaterThan(numRuns / 2);
    expect(totals.resumes).toBeGreaterThan(numRuns / 10);
    expect(totals.finalized).toBeGreaterThan(numRuns / 4);
    for (const label of mustReach) expect(totals.reached[label] ?? 0, label).toBeGreaterThan(0);
  }, 120_000);

  it("100 concurrent cancels of one running job produce one record", async () => {
    await fc.assert(
      fc.asyncProperty(
        jobPlan,
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ force: fc.boolean(), graceMs: fc.option(fc.integer({ min: 0, max: 5000 })) }), { minLength: 100, maxLength: 100 }),
        async (plan, claims, requests) => {
          const store = new SqliteStore({ path: ":memory:" });
          await store.migrate();
          try {
            const jobId = "00000000-0000-7000-8000-000000000001";
            const now = "2030-01-01T00:00:00.000Z";
            await store.insertJob((d) => {
              d.emit("belay.job.created", null, {});
              settle(d);
            }, newJob(parseJobSpec(specOf(plan)), { id: jobId, owner: "t", now }));
            const claimed = await store.claimTasks({ nodeId: "n1", max: claims, pools: {}, now }, (d, key) => claimTask(d, key, "n1"));
            expect(claimed.length).toBeGreaterThan(0);
            expect((await store.getJob(jobId))?.status).toBe("running");

            const ids = requests.map((_, i) => `00000000-0000-7000-8000-${(i + 2).toString(16).padStart(12, "0")}`);
            const results = await Promise.all(
              requests.map((req, i) =>
                store.mutateJob(jobId, now, (d) =>
                  requestJobCancel(d, ids[i] ?? "missing", { reason: `r${i}`, requestedBy: "test", force: req.force, graceMs: req.graceMs, onlyIfPending: false, parentId: null }),
                ),
              ),
            );
            const outcomes: CancelOutcome[] = results.map((r) => r.value);
            const fresh = outcomes.filter((o) => !o.alreadyCancelled);
            expect(fresh).toHaveLength(1);
            const recordId = fresh[0]?.record.id;
            expect(ids).toContain(recordId);
            expect(new Set(outcomes.map((o) => o.record.id))).toEqual(new Set([recordId]));
            // A later `force` escalates the graceful cancel once, and only once.
            const accepted = ids.indexOf(recordId ?? "");
            const laterForce = requests.some((r, i) => i !== accepted && r.force);
            const expectedEscalations = requests[accepted]?.force === false && laterForce ? 1 : 0;
            expect(outcomes.filter((o) => o.escalated)).toHaveLength(expectedEscalations);
            expect(outcomes.filter((o) => o.needsExecution)).toHaveLength(1);

            const listed = await store.listCancellations({ jobId }, { limit: 1000, offset: 0 });
            expect(listed.total).toBe(1);
            expect(listed.items.map((r) => r.id)).toEqual([recordId]);
            const job = await store.getJob(jobId);
            expect(job?.status).toBe("cancelling");
            expect(job?.cancellation?.id).toBe(recordId);
            const events = await store.jobEvents(jobId, 0, 100_000);
            expect(events.filter((e) => e.type === "belay.job.cancel_requested")).toHaveLength(1);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
