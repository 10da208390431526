/**
 * graphile-worker on PostgreSQL (`node graphile-worker.ts`), in a fresh schema dropped at the end.
 *
 * Cancel of a queued job: `workerUtils.permanentlyFailJobs([id], reason)` (the job stays, with
 * attempts = max_attempts, and never runs); bulk: the same call with every id. graphile-worker
 * also has `removeJob(jobKey)`, which needs a job key, and `completeJobs(ids)`, which deletes.
 * Cancel of a running job: there is none. permanentlyFailJobs and completeJobs skip locked
 * (running) jobs, removeJob only stops a running job from being retried (the attempt runs on,
 * not told), and a task's `abortSignal` fires only when the worker pool shuts down.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import type { Runner } from "graphile-worker";
import pg from "pg";
import { log, packageVersion, pgUrl, runDriver, uniqueName } from "./harness.ts";
import type { DrainHooks, DrainSession, Driver, NoopSession, QueuedSession } from "./harness.ts";

const schema = uniqueName("belaybench_graphile");
// graphile-worker logs a line per completed job at info level; a log that prints nothing.
const logger = new Logger(() => () => {});
const utils = await makeWorkerUtils({ connectionString: pgUrl, schema, logger });
await utils.migrate();
let taskCount = 0;

/** Jobs of a task still in the table (graphile-worker deletes a job when it completes). */
async function remaining(identifier: string): Promise<number> {
  return utils.withPgClient(async (client) => {
    const result = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}"._private_jobs j JOIN "${schema}"._private_tasks t ON t.id = j.task_id WHERE t.identifier = $1`,
      [identifier],
    );
    return (result.rows[0] as { n: number }).n;
  });
}

async function noop(concurrency: number, ended: (ok: boolean) => void): Promise<NoopSession> {
  taskCount += 1;
  const identifier = `noop${taskCount}`;
  let submitted = 0;
  const runner: Runner = await run({
    connectionString: pgUrl,
    schema,
    logger,
    concurrency,
    noHandleSignals: true,
    pollInterval: 1_000,
    taskList: { [identifier]: async () => {} },
  });
  // job:complete is emitted once the task has returned, before the (unawaited) write that deletes the job.
  runner.events.on("job:complete", ({ error }) => ended(error === undefined || error === null));
  return {
    submit: async () => {
      await runner.addJob(identifier, {});
      submitted += 1;
    },
    stored: (total) => deleted(identifier, submitted - total),
    close: () => runner.stop(),
  };
}

/** W1 drain: `workerUtils.addJobs(jobs)` with no runner, then `run()` as in W1. */
async function drain(concurrency: number, hooks: DrainHooks): Promise<DrainSession> {
  taskCount += 1;
  const identifier = `drain${taskCount}`;
  let inserted = 0;
  let runner: Runner | null = null;
  return {
    insert: async (count) => {
      await utils.addJobs(Array.from({ length: count }, () => ({ identifier, payload: {} })));
      inserted += count;
    },
    start: async () => {
      runner = await run({
        connectionString: pgUrl,
        schema,
        logger,
        concurrency,
        noHandleSignals: true,
        pollInterval: 1_000,
        taskList: { [identifier]: async () => void hooks.began() },
      });
      runner.events.on("job:complete", ({ error }) => hooks.ended(error === undefined || error === null));
    },
    stored: (total) => deleted(identifier, inserted - total),
    close: async () => {
      await runner?.stop();
    },
  };
}

/** Resolves once at most `left` jobs of `identifier` remain (graphile-worker deletes a job when it completes). */
async function deleted(identifier: string, left: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  while ((await remaining(identifier)) > left) {
    if (Date.now() > deadline) throw new Error(`more than ${left} jobs left after 600 s`);
    await sleep(1);
  }
}

async function queued(): Promise<QueuedSession> {
  taskCount += 1;
  const identifier = `queued${taskCount}`;
  return {
    fill: async (count) => {
      const ids: string[] = [];
      for (let done = 0; done < count; done += 1_000) {
        const batch = Array.from({ length: Math.min(1_000, count - done) }, () => ({ identifier, payload: {} }));
        for (const job of await utils.addJobs(batch)) ids.push(job.id);
      }
      return ids;
    },
    cancel: async (id) => (await utils.permanentlyFailJobs([id], "cancelled")).length === 1,
    cancelAll: async (ids) => (await utils.permanentlyFailJobs(ids, "cancelled")).length,
    close: async () => {},
  };
}

// permanentlyFailJobs/completeJobs skip locked jobs, removeJob only stops a running job from being retried,
// and a task's abortSignal fires only on worker shutdown.
const noRunningCancel = "n/a: no running cancel";

await runDriver(
  async (): Promise<Driver> => ({
    system: "graphile-worker",
    label: "graphile-worker",
    store: "postgres",
    version: `graphile-worker ${packageVersion("graphile-worker")}`,
    cancelQueued: "`workerUtils.permanentlyFailJobs([id])`; bulk the same with every id",
    cancelRunning: "none: permanentlyFailJobs and completeJobs skip locked (running) jobs, removeJob only stops a running job from being retried, and a task's `abortSignal` fires only when the worker pool shuts down",
    bulkInsert: "`workerUtils.addJobs(jobs)`",
    noop,
    drain,
    queued,
    running: noRunningCancel,
    runningAcrossNodes: noRunningCancel,
    close: async () => {
      await utils.release();
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
      log(`  dropped schema ${schema}`);
    },
  }),
);
