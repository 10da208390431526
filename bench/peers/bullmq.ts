/**
 * BullMQ on Redis (`node bullmq.ts redis`) or on BullMQ's own PostgreSQL backend
 * (`node bullmq.ts postgres`, `createPostgresBackend`, BullMQ ≥ 6).
 *
 * Cancel of a waiting job: `queue.remove(id)` (what `job.remove()` calls); bulk: `queue.drain()`.
 * Cancel of an active job: `worker.cancelJob(id)`, which aborts the AbortSignal the processor
 * gets as its third argument. It exists only on the Worker object that runs the job, so it can
 * only be called in the worker's own process; the job then fails (BullMQ has no cancelled state).
 * Redis keys live under a prefix unique to the run, deleted at the end; the PostgreSQL backend
 * gets a fresh schema, dropped at the end.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Queue, Worker, createPostgresBackend } from "bullmq";
import type { Job } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { log, nowMs, packageVersion, pgUrl, redisUrl, runDriver, uniqueName } from "./harness.ts";
import type { DrainHooks, DrainSession, Driver, NoopSession, QueuedSession, RunningHooks, RunningSession } from "./harness.ts";

const backend = process.argv[2] === "postgres" ? "postgres" : "redis";
const prefix = uniqueName("belaybench_bullmq");
let queueCount = 0;

function redisOptions(): { host: string; port: number; maxRetriesPerRequest: null } {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

// The classes are generic in their backend; the calls below are the same on both, so the
// PostgreSQL-backed ones are typed as the default (Redis) ones.

/** A Queue on a fresh queue name, on the chosen backend. */
function makeQueue(): Queue {
  queueCount += 1;
  const name = `q${queueCount}`;
  if (backend === "postgres") return new Queue(name, { connection: { connectionString: pgUrl, schema: prefix, migrate: true } }, createPostgresBackend) as unknown as Queue;
  return new Queue(name, { connection: redisOptions(), prefix });
}

function makeWorker(name: string, processor: (job: Job, token?: string, signal?: AbortSignal) => Promise<unknown>, concurrency: number): Worker {
  if (backend === "postgres") return new Worker(name, processor, { connection: { connectionString: pgUrl, schema: prefix }, concurrency }, createPostgresBackend) as unknown as Worker;
  return new Worker(name, processor, { connection: redisOptions(), prefix, concurrency });
}

async function fill(queue: Queue, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < count; done += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, count - done) }, () => ({ name: "noop", data: {} }));
    for (const job of await queue.addBulk(batch)) ids.push(job.id as string);
  }
  return ids;
}

async function noop(concurrency: number, ended: (ok: boolean) => void): Promise<NoopSession> {
  const queue = makeQueue();
  await queue.waitUntilReady();
  const worker = makeWorker(queue.name, async () => null, concurrency);
  worker.on("completed", () => ended(true));
  worker.on("failed", () => ended(false));
  await worker.waitUntilReady();
  return {
    submit: async () => void (await queue.add("noop", {})),
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}

/** W1 drain: `queue.addBulk` with nobody consuming, then a Worker at `concurrency`. */
async function drain(concurrency: number, hooks: DrainHooks): Promise<DrainSession> {
  const queue = makeQueue();
  await queue.waitUntilReady();
  let worker: Worker | null = null;
  return {
    insert: async (count) => void (await queue.addBulk(Array.from({ length: count }, () => ({ name: "noop", data: {} })))),
    start: async () => {
      worker = makeWorker(
        queue.name,
        async () => {
          hooks.began();
          return null;
        },
        concurrency,
      );
      worker.on("completed", () => hooks.ended(true));
      worker.on("failed", () => hooks.ended(false));
      await worker.waitUntilReady();
    },
    close: async () => {
      await worker?.close();
      await queue.close();
    },
  };
}

async function queued(): Promise<QueuedSession> {
  const queue = makeQueue();
  await queue.waitUntilReady();
  return {
    fill: (count) => fill(queue, count),
    cancel: async (id) => (await queue.remove(id)) === 1,
    cancelAll: async () => {
      // drain() returns nothing; the count is read after the timed call returns.
      const before = await queue.getWaitingCount();
      await queue.drain();
      return before - (await queue.getWaitingCount());
    },
    close: () => queue.close(),
  };
}

async function running(concurrency: number, hooks: RunningHooks): Promise<RunningSession> {
  const queue = makeQueue();
  await queue.waitUntilReady();
  // The third parameter must be declared: BullMQ passes a signal only to processors that take one.
  const processor = async (job: Job, _token?: string, signal?: AbortSignal): Promise<unknown> => {
    if (signal === undefined) throw new Error("no AbortSignal passed to the processor");
    hooks.started(job.id as string);
    const pollMs = (job.data as { pollMs: number }).pollMs;
    while (!signal.aborted) await sleep(pollMs);
    hooks.sawAbort(job.id as string, nowMs());
    throw new Error("cancelled");
  };
  const worker = makeWorker(queue.name, processor, concurrency);
  worker.on("failed", (job) => {
    if (job !== undefined) hooks.ended(job.id as string, nowMs());
  });
  await worker.waitUntilReady();
  return {
    submit: async (pollMs) => (await queue.add("cooperative", { pollMs })).id as string,
    cancel: async (id) => {
      if (!worker.cancelJob(id, "cancelled by the benchmark")) log(`  worker.cancelJob(${id}) found no such active job`);
    },
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}

/** Delete every key of this run (Redis) or its schema (PostgreSQL). */
async function cleanUp(): Promise<void> {
  if (backend === "postgres") {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${prefix}" CASCADE`);
    await client.end();
    return;
  }
  const redis = new Redis(redisUrl);
  let deleted = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== "0");
  await redis.quit();
  log(`  deleted ${deleted} Redis keys under ${prefix}:`);
}

await runDriver(
  async (): Promise<Driver> => ({
    system: backend === "postgres" ? "bullmq-pg" : "bullmq-redis",
    label: backend === "postgres" ? "BullMQ (PostgreSQL backend)" : "BullMQ (Redis)",
    store: backend,
    version: `bullmq ${packageVersion("bullmq")}`,
    cancelQueued: "`queue.remove(id)` (the backend call of `job.remove()`); bulk `queue.drain()`",
    cancelRunning: "`worker.cancelJob(id)` aborts the processor's AbortSignal; only on the Worker object running the job, i.e. in its own process; the job ends failed",
    bulkInsert: "`queue.addBulk(jobs)`",
    noop,
    drain,
    queued,
    running,
    // `worker.cancelJob` exists only in the worker's process, and `job.remove()` refuses a locked (active) job.
    runningAcrossNodes: "n/a: in-process only",
    close: cleanUp,
  }),
);
