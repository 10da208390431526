/**
 * Round trips to the database per store operation (`npm run bench -- RT`, or
 * `node bench/round-trips.ts` alone). The counts are deterministic, so unlike the timing
 * workloads they can be compared between any two runs on any machine.
 *
 * Each operation is driven through the `Store` interface the way the engine drives it (jobs
 * from `newJob` + `settle`, changes by the pure functions of src/core), one at a time on an
 * otherwise idle store, and the store's own counter is read before and after:
 * - SQLite: statements executed (in-process, so a "round trip" is one call into SQLite);
 * - PostgreSQL: statements sent and round trips waited for (pipelined statements share one).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emitStep, endStep, finalizeCancellation, requestJobCancel } from "../src/core/cancellation.ts";
import type { CancelOutcome } from "../src/core/cancellation.ts";
import { claimTask, endAttempt, newJob } from "../src/core/lifecycle.ts";
import { settle } from "../src/core/settle.ts";
import type { AttemptEnd } from "../src/core/lifecycle.ts";
import type { Job } from "../src/core/model.ts";
import { parseJobSpec } from "../src/core/spec.ts";
import { EventBus } from "../src/engine/event-bus.ts";
import { newId } from "../src/engine/ids.ts";
import { JobWriter } from "../src/engine/job-writer.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import type { Mutator, Store } from "../src/store/store.ts";
import { table } from "./stats.ts";

interface Counted {
  statements: number;
  roundTrips: number;
}

type CountingStore = Store & { roundTrips(): Counted };

/** The operations measured, in the order printed. */
export const operations = [
  "submit (1 task)",
  "submit, idempotency key already used",
  "bulk submit, 100 jobs",
  "claim 1 task",
  "claim 10 tasks",
  "complete a task",
  "complete 10 tasks at once (group commit)",
  "cancel a queued job",
  "cancel a running job: request",
  "cancel step: signal written",
  "cancel step: runner exited",
  "cancel step: finalize",
  "bulk cancel, 100 queued jobs",
] as const;
export type Operation = (typeof operations)[number];

const nodeId = "bench-node";
let clockMs = Date.parse("2030-01-01T00:00:00.000Z");
const now = (): string => new Date((clockMs += 1)).toISOString();

function spec(idempotencyKey?: string): unknown {
  return { name: "rt", tasks: [{ key: "t", kind: "handler", handler: "noop" }], ...(idempotencyKey === undefined ? {} : { idempotencyKey }) };
}

function build(s: unknown): { job: Job; build: (d: Parameters<Parameters<Store["insertJob"]>[0]>[0]) => void } {
  const job = newJob(parseJobSpec(s), { id: newId(), owner: "bench", now: now() });
  return {
    job,
    build: (d) => {
      d.emit("belay.job.created", null, { status: "queued", name: job.name, queue: job.queue, owner: job.owner });
      settle(d);
    },
  };
}

async function submit(store: Store, s: unknown = spec()): Promise<Job> {
  const b = build(s);
  return (await store.insertJob(b.build, b.job)).job;
}

const cancel: Mutator<CancelOutcome> = (d) =>
  requestJobCancel(d, newId(), { reason: null, requestedBy: "bench", force: false, graceMs: null, onlyIfPending: false, parentId: null, nodeId });

const success: AttemptEnd = { outcome: "succeeded", exitCode: 0, error: null, output: null, signalDelivered: false, forced: false };

async function claimAll(store: Store, max: number): Promise<void> {
  await store.claimTasks({ nodeId, max, pools: {}, now: now() }, (d, key) => claimTask(d, key, nodeId));
}

/** Run each operation once on `store`, counting what it costs. */
export async function measure(store: CountingStore): Promise<Map<Operation, Counted>> {
  const out = new Map<Operation, Counted>();
  const counted = async (op: Operation, fn: () => Promise<unknown>): Promise<void> => {
    const before = store.roundTrips();
    await fn();
    const after = store.roundTrips();
    out.set(op, { statements: after.statements - before.statements, roundTrips: after.roundTrips - before.roundTrips });
  };
  // Warm up: prepared statements and the pool's first connection are not what is measured.
  const warm = await submit(store, spec("warm"));
  await submit(store, spec("warm"));
  await claimAll(store, 1);
  await store.mutateJob(warm.id, now(), (d) => endAttempt(d, "t", 1, success));
  await store.mutateJob((await submit(store)).id, now(), cancel);

  await counted("submit (1 task)", () => submit(store));
  await submit(store, spec("key-1"));
  await counted("submit, idempotency key already used", () => submit(store, spec("key-1")));
  await counted("bulk submit, 100 jobs", () => store.insertJobs(Array.from({ length: 100 }, () => build(spec()))));
  // Leave nothing claimable but what the claims below submit.
  await claimAll(store, 1000);
  const one = await submit(store);
  await counted("claim 1 task", () => claimAll(store, 1));
  for (let i = 0; i < 10; i += 1) await submit(store);
  await counted("claim 10 tasks", () => claimAll(store, 10));
  await counted("complete a task", () => store.mutateJob(one.id, now(), (d) => endAttempt(d, "t", 1, success)));

  // Ten runs ending at once, written as the engine's runs write them: the first alone, the
  // nine that arrive while it is in flight in one transaction.
  const ending: Job[] = [];
  for (let i = 0; i < 10; i += 1) ending.push(await submit(store));
  await claimAll(store, 10);
  const writer = new JobWriter({ store, bus: new EventBus(), now });
  await counted("complete 10 tasks at once (group commit)", () =>
    Promise.all(ending.map((job) => writer.mutateGrouped(job.id, (d) => endAttempt(d, "t", 1, success)))),
  );

  const queued = await submit(store);
  await counted("cancel a queued job", () => store.mutateJob(queued.id, now(), cancel));

  const running = await submit(store);
  await claimAll(store, 1);
  let recordId = "";
  await counted("cancel a running job: request", async () => {
    recordId = (await store.mutateJob(running.id, now(), cancel)).value.record.id;
  });
  await counted("cancel step: signal written", () =>
    store.mutateJob(running.id, now(), (d) => {
      const record = d.cancellation(recordId);
      if (record === undefined) throw new Error("record missing");
      emitStep(d, record, endStep(record, "signal_runners", d.now, "completed", { signalled: 1 }));
      d.putCancellation(record);
    }),
  );
  await counted("cancel step: runner exited", () =>
    store.mutateJob(running.id, now(), (d) => endAttempt(d, "t", 1, { ...success, outcome: "failed", exitCode: null, signalDelivered: true })),
  );
  await counted("cancel step: finalize", () => store.mutateJob(running.id, now(), (d) => finalizeCancellation(d, recordId, { cleanupFailed: false })));

  const ids: string[] = [];
  for (let i = 0; i < 100; i += 1) ids.push((await submit(store)).id);
  await counted("bulk cancel, 100 queued jobs", () => store.mutateJobs(ids, now(), cancel));
  return out;
}

export const defaultPgUrl = process.env["BELAY_BENCH_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

/** Both stores' counts (PostgreSQL's null when it does not answer), printed as one table. */
export async function roundTripReport(log: (message: string) => void, pgUrl: string | null = defaultPgUrl): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "belay-rt-"));
  const sqlite = new SqliteStore({ path: join(dir, "belay.db") });
  let sqliteCounts: Map<Operation, Counted>;
  try {
    await sqlite.migrate();
    sqliteCounts = await measure(sqlite);
  } finally {
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
  let pgCounts: Map<Operation, Counted> | null = null;
  if (pgUrl !== null) {
    const pg = new PostgresStore({ url: pgUrl, schema: `bench_rt_${process.pid}`, poolSize: 2 });
    try {
      await pg.migrate();
      pgCounts = await measure(pg);
    } catch (error) {
      log(`round trips on PostgreSQL skipped: ${(error as Error).message}`);
    } finally {
      await pg.dropSchema().catch(() => undefined);
      await pg.close();
    }
  }
  const cell = (c: Counted | undefined, withTrips: boolean): string =>
    c === undefined ? "—" : withTrips ? `${c.statements} / ${c.roundTrips}` : String(c.statements);
  const rows = operations.map((op) => [op, cell(sqliteCounts.get(op), false), pgCounts === null ? "not reachable" : cell(pgCounts.get(op), true)]);
  return table(["operation", "SQLite statements", "PostgreSQL statements / round trips"], rows);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${await roundTripReport((m) => process.stderr.write(`${m}\n`))}\n`);
}
