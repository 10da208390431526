/**
 * pg-boss on PostgreSQL (`node pg-boss.ts`), in a fresh schema dropped at the end.
 *
 * Cancel of a queued job: `boss.cancel(name, id)`; bulk: `boss.cancel(name, ids)` with every id.
 * Cancel of an active job: the same `boss.cancel`, which only changes the job's row. The
 * running handler learns of it through the job's heartbeat: every `heartbeatRefreshSeconds`
 * the worker refreshes its claim, and aborts `job.signal` of a job it no longer holds. Without
 * `heartbeatSeconds` on the queue (the default) a running handler never learns. Here the queue
 * has `heartbeatSeconds: 10` (the least pg-boss accepts) and the default refresh, half of it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { PgBoss } from "pg-boss";
import type { Job } from "pg-boss";
import pg from "pg";
import { log, nowMs, packageVersion, pgUrl, runDriver, uniqueName } from "./harness.ts";
import type { DrainHooks, DrainSession, Driver, NoopSession, QueuedSession, RunningHooks, RunningSession } from "./harness.ts";

const schema = uniqueName("belaybench_pgboss");
const heartbeatSeconds = 10;
/** W1 drain's workers, each fetching a batch of concurrency ÷ this many jobs: of 1 × 10, 2 × 5 and 5 × 2 the fastest in a --quick run. */
const drainWorkers = 1;
let queueCount = 0;

const boss = new PgBoss({
  connectionString: pgUrl,
  schema,
  useListenNotify: true,
  schedule: false,
  supervise: false,
  max: 20,
});
boss.on("error", (error) => log(`  pg-boss error: ${(error as Error).message}`));
await boss.start();

async function newQueue(options: { notify?: boolean; heartbeatSeconds?: number } = {}): Promise<string> {
  queueCount += 1;
  const name = `q${queueCount}`;
  await boss.createQueue(name, options);
  return name;
}

async function countInState(name: string, state: string): Promise<number> {
  const result = await boss.getDb().executeSql(`SELECT count(*)::int AS n FROM "${schema}".job WHERE name = $1 AND state = $2`, [name, state]);
  return (result.rows[0] as { n: number }).n;
}

async function noop(concurrency: number, ended: (ok: boolean) => void): Promise<NoopSession> {
  const name = await newQueue({ notify: true });
  // Ten workers, one job each (pg-boss's per-job concurrency), woken by NOTIFY when a job
  // is sent, and polling at the shortest interval pg-boss allows otherwise.
  await boss.work(name, { localConcurrency: concurrency, batchSize: 1, pollingIntervalSeconds: 0.5 }, async (jobs: Job[]) => {
    for (const _ of jobs) ended(true);
    return null;
  });
  return {
    submit: async () => void (await boss.send(name, {})),
    // The handler returning is not the job being completed: pg-boss completes it afterwards.
    stored: (total) => completed(name, total),
    close: () => boss.offWork(name),
  };
}

/**
 * W1 drain: `boss.insert(name, jobs)` on a queue nobody works, then workers. Not W1's
 * settings: a worker of batch 1 waits for a NOTIFY (sent only by a new job) or its polling
 * interval (≥ 0.5 s) after every job, so on a backlog 10 of them drain 20 jobs/s. pg-boss's
 * own way to drain a backlog is burst mode: `burstWhenBatchFull` fetches again at once while
 * each fetch comes back full (it needs `batchSize` > 1). Here the 10 jobs in flight are
 * `localConcurrency` × `batchSize` (`drainWorkers` × the rest), each batch completed together.
 */
async function drain(concurrency: number, hooks: DrainHooks): Promise<DrainSession> {
  const name = await newQueue({ notify: true });
  let working = false;
  return {
    insert: async (count) => void (await boss.insert(name, Array.from({ length: count }, () => ({ data: {} })))),
    start: async () => {
      working = true;
      const options = { localConcurrency: drainWorkers, batchSize: concurrency / drainWorkers, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 };
      await boss.work(name, options, async (jobs: Job[]) => {
        for (const _ of jobs) {
          hooks.began();
          hooks.ended(true);
        }
        return null;
      });
    },
    stored: (total) => completed(name, total),
    close: async () => {
      if (working) await boss.offWork(name);
    },
  };
}

/** Resolves once `total` jobs of queue `name` are stored as completed. */
async function completed(name: string, total: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  while ((await countInState(name, "completed")) < total) {
    if (Date.now() > deadline) throw new Error(`fewer than ${total} jobs completed within 600 s`);
    await sleep(1);
  }
}

async function queued(): Promise<QueuedSession> {
  const name = await newQueue();
  return {
    fill: async (count) => {
      const ids: string[] = [];
      for (let done = 0; done < count; done += 1_000) {
        const batch = Array.from({ length: Math.min(1_000, count - done) }, () => ({ data: {} }));
        const inserted = await boss.insert(name, batch, { returnId: true });
        if (inserted === null) throw new Error("insert returned no ids");
        ids.push(...inserted);
      }
      return ids;
    },
    cancel: async (id) => affected(await boss.cancel(name, id)) === 1,
    cancelAll: async (ids) => affected(await boss.cancel(name, ids)),
    close: async () => {},
  };
}

function affected(response: object): number {
  return (response as { affected?: number }).affected ?? Number.NaN;
}

async function running(concurrency: number, hooks: RunningHooks): Promise<RunningSession> {
  const name = await newQueue({ notify: true, heartbeatSeconds });
  await boss.work(name, { localConcurrency: concurrency, batchSize: 1, pollingIntervalSeconds: 0.5 }, async (jobs: Job[]) => {
    const job = jobs[0] as Job;
    hooks.started(job.id);
    const pollMs = (job.data as { pollMs: number }).pollMs;
    while (!job.signal.aborted) await sleep(pollMs);
    hooks.sawAbort(job.id, nowMs());
    // The row has said `cancelled` since boss.cancel returned; the work ends here.
    hooks.ended(job.id, nowMs());
    return null;
  });
  return {
    submit: async (pollMs) => {
      const id = await boss.send(name, { pollMs });
      if (id === null) throw new Error("send returned no id");
      return id;
    },
    cancel: async (id) => {
      if (affected(await boss.cancel(name, id)) !== 1) log(`  boss.cancel(${id}) changed no row`);
    },
    close: () => boss.offWork(name),
  };
}

await runDriver(
  async (): Promise<Driver> => ({
    system: "pg-boss",
    label: "pg-boss",
    store: "postgres",
    version: `pg-boss ${packageVersion("pg-boss")}`,
    cancelQueued: "`boss.cancel(name, id)`; bulk `boss.cancel(name, ids)`",
    cancelRunning: `\`boss.cancel(name, id)\` from any process; the handler learns of it at its next heartbeat refresh (job.signal aborted), here every ${heartbeatSeconds / 2} s (\`heartbeatSeconds: ${heartbeatSeconds}\`, the least allowed; without a heartbeat, never)`,
    bulkInsert: "`boss.insert(name, jobs)`",
    noop,
    drain,
    queued,
    running,
    // The cancel goes through the job's row and the worker's heartbeat, whichever process calls it.
    runningAcrossNodes: "same as W3",
    w3AcrossNodesIsW3: true,
    close: async () => {
      await boss.stop({ graceful: false });
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  }),
);
