/**
 * Belay embedded (`node belay.ts sqlite`: a SQLite file under os.tmpdir(), as bench/run.ts)
 * or on PostgreSQL (`node belay.ts postgres`: `openBelay({ db: "postgres://…?schema=…" })`,
 * a fresh schema per workload, dropped after it). The handlers are bench/handlers.ts's.
 *
 * W3 across nodes (PostgreSQL only): the jobs run on a second Belay node, a child process of
 * this one (`node belay.ts --worker-node`), and this process submits and cancels them
 * through its own engine on the same database; the handler's thread on the other node
 * records when it sees the abort.
 */
import { execFileSync, fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Json } from "../../src/core/model.ts";
import type { Belay } from "../../src/engine/engine.ts";
import { openBelay } from "../../src/engine/open.ts";
import type { BelayOptions } from "../../src/engine/open.ts";
import { fillQueued, handlersModule } from "../engine.ts";
import { log, nowMs, pgUrl, runDriver, uniqueName } from "./harness.ts";
import type { DrainHooks, DrainSession, Driver, NoopSession, QueuedSession, RunningHooks, RunningSession } from "./harness.ts";

const workerNode = process.argv.includes("--worker-node");
const backend = process.argv[2] === "postgres" ? "postgres" : "sqlite";
const schemaBase = uniqueName("belaybench_belay");
let schemaCount = 0;

/**
 * A fresh engine: a temporary home, and a SQLite file in it or a fresh PostgreSQL schema.
 * `close` closes the engine and removes both; `dispose` only removes them (the engine is closed already).
 */
async function open(options: BelayOptions, db?: string): Promise<{ engine: Belay; db: string; home: string; close: () => Promise<void>; dispose: () => Promise<void> }> {
  const home = mkdtempSync(join(tmpdir(), `belay-bench-peers-${process.pid}-`));
  let schema: string | null = null;
  if (db === undefined) {
    if (backend === "postgres") {
      schemaCount += 1;
      schema = `${schemaBase}_${schemaCount}`;
      db = `${pgUrl}?schema=${schema}`;
    } else db = `sqlite:${join(home, "belay.db")}`;
  }
  const engine = await openBelay({ home, db, handlers: handlersModule, ...options });
  const dispose = async (): Promise<void> => {
    rmSync(home, { recursive: true, force: true });
    if (schema !== null) await dropSchema(schema);
  };
  return {
    engine,
    db,
    home,
    dispose,
    close: async () => {
      await engine.close().catch((error: unknown) => log(`  (close failed: ${(error as Error).message})`));
      await dispose();
    },
  };
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

async function noop(concurrency: number, ended: (ok: boolean) => void): Promise<NoopSession> {
  const { engine, close } = await open({ concurrency });
  engine.on("belay.job.succeeded", () => ended(true));
  engine.on("belay.job.failed", () => ended(false));
  return { submit: async () => void (await engine.submitJob({ handler: "noop" })), close };
}

/**
 * W1 drain: an API-only node (concurrency 0) puts the jobs in with `submitJobs` (bulk submit,
 * one transaction per call) and closes; then a node with workers opens on the same database
 * (SQLite file or PostgreSQL schema) and drains it, as a worker node started after the fill.
 */
async function drain(concurrency: number, hooks: DrainHooks): Promise<DrainSession> {
  const filler = await open({ concurrency: 0 });
  let worker: Belay | null = null;
  return {
    insert: async (count) => void (await filler.engine.submitJobs(Array.from({ length: count }, () => ({ handler: "noop" })))),
    start: async () => {
      await filler.engine.close();
      worker = await openBelay({ home: filler.home, db: filler.db, handlers: handlersModule, concurrency });
      worker.on("belay.task.started", () => hooks.began());
      worker.on("belay.job.succeeded", () => hooks.ended(true));
      worker.on("belay.job.failed", () => hooks.ended(false));
    },
    close: async () => {
      if (worker === null) await filler.engine.close().catch(() => undefined);
      else await worker.close().catch((error: unknown) => log(`  (close failed: ${(error as Error).message})`));
      await filler.dispose();
    },
  };
}

async function queued(): Promise<QueuedSession> {
  const { engine, close } = await open({ concurrency: 0 });
  return {
    fill: async (count) => {
      // As bench/run.ts: sequential submits (progress every 10,000). On PostgreSQL a submit
      // is a network round trip, so the fill runs several submitters at once to save time.
      if (backend === "sqlite") return (await fillQueued(engine, count, count >= 50_000 ? 10_000 : 0, "fill")).ids;
      return fillConcurrently(engine, count, pgFillLanes);
    },
    cancel: async (id) => (await engine.cancelJob(id)).job.status === "cancelled",
    cancelAll: async () => (await engine.cancelJobs({ filter: { status: ["queued"] } })).cancelled,
    close,
  };
}

const pgFillLanes = 16;

/** Submit `count` noop jobs from `lanes` submitters at once; ids in submission order. */
async function fillConcurrently(engine: Belay, count: number, lanes: number): Promise<string[]> {
  const ids: string[] = new Array<string>(count);
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      ids[index] = (await engine.submitJob({ handler: "noop" })).id;
      if ((index + 1) % 10_000 === 0) log(`  fill: ${(index + 1).toLocaleString("en-US")} / ${count.toLocaleString("en-US")} submitted (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return ids;
}

/**
 * Once every submitted job is cancelled, read when each handler saw its abort (its output, as
 * bench/run.ts does after the round), so that no read runs between the cancels.
 */
function abortReader(engine: Belay, hooks: RunningHooks): { submitted: (id: string) => void; ended: (id: string, at: number) => void } {
  const ids: string[] = [];
  const endedIds = new Set<string>();
  return {
    submitted: (id) => void ids.push(id),
    ended: (id, at) => {
      if (endedIds.has(id)) return;
      endedIds.add(id);
      hooks.ended(id, at);
      if (endedIds.size !== ids.length) return;
      void (async () => {
        for (const jobId of ids) {
          const output = (await engine.getJob(jobId)).tasks[0]?.output as { [key: string]: Json } | null | undefined;
          const seen = output?.["sawAbortAt"];
          if (typeof seen === "number") hooks.sawAbort(jobId, seen);
          else log(`  job ${jobId}: no sawAbortAt in its output`);
        }
      })();
    },
  };
}

async function running(concurrency: number, hooks: RunningHooks): Promise<RunningSession> {
  const { engine, close } = await open({ concurrency, maxHandlerThreads: concurrency });
  const reader = abortReader(engine, hooks);
  engine.on("belay.task.progress", (event) => hooks.started(event.subject));
  engine.on("belay.job.cancelled", (event) => reader.ended(event.subject, nowMs()));
  return {
    submit: async (pollMs) => {
      const id = (await engine.submitJob({ handler: "cooperative", input: { pollMs } })).id;
      reader.submitted(id);
      return id;
    },
    cancel: async (id) => void (await engine.cancelJob(id)),
    close,
  };
}

type NodeMessage = { type: "ready" } | { type: "started"; id: string } | { type: "cancelled"; id: string; at: number };

/** W3 across nodes: the handlers run on a second node (a child process); this node cancels. */
async function runningAcrossNodes(concurrency: number, hooks: RunningHooks): Promise<RunningSession> {
  const { engine, db, close } = await open({ concurrency: 0 });
  const reader = abortReader(engine, hooks);
  const child: ChildProcess = fork(new URL(import.meta.url).pathname, ["--worker-node"], {
    env: { ...process.env, BELAY_BENCH_NODE_DB: db, BELAY_BENCH_NODE_CONCURRENCY: String(concurrency) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the worker node exited with ${code}`)));
    child.on("message", (message: NodeMessage) => {
      if (message.type === "ready") resolve();
      else if (message.type === "started") hooks.started(message.id);
      else reader.ended(message.id, message.at);
    });
  });
  await ready;
  // Whichever node's bus reports the cancelled job first.
  engine.on("belay.job.cancelled", (event) => reader.ended(event.subject, nowMs()));
  return {
    submit: async (pollMs) => {
      const id = (await engine.submitJob({ handler: "cooperative", input: { pollMs } })).id;
      reader.submitted(id);
      return id;
    },
    cancel: async (id) => void (await engine.cancelJob(id)),
    close: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send({ type: "stop" });
      await exited;
      await close();
    },
  };
}

/** The child side of `runningAcrossNodes`: a worker node on the parent's database. */
async function serveAsWorkerNode(): Promise<void> {
  const db = process.env["BELAY_BENCH_NODE_DB"] as string;
  const concurrency = Number(process.env["BELAY_BENCH_NODE_CONCURRENCY"]);
  const home = mkdtempSync(join(tmpdir(), `belay-bench-peers-${process.ppid}-node-`));
  const engine = await openBelay({ home, db, handlers: handlersModule, concurrency, maxHandlerThreads: concurrency });
  const send = (message: NodeMessage): void => void process.send?.(message);
  engine.on("belay.task.progress", (event) => send({ type: "started", id: event.subject }));
  engine.on("belay.job.cancelled", (event) => send({ type: "cancelled", id: event.subject, at: nowMs() }));
  const stop = (): void =>
    void engine.close().finally(() => {
      rmSync(home, { recursive: true, force: true });
      process.exit(0);
    });
  process.on("message", (message: { type: string }) => {
    if (message.type === "stop") stop();
  });
  // The parent died (the bench was interrupted): do not outlive it.
  process.on("disconnect", stop);
  send({ type: "ready" });
}

/** The package version and the commit of this tree (`+` when it has uncommitted changes). */
function belayVersion(): string {
  const root = new URL("../../", import.meta.url).pathname;
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: root, encoding: "utf8" }).trim() !== "";
    return `belay-jobs ${version} @ ${commit}${dirty ? "+" : ""}`;
  } catch {
    return `belay-jobs ${version}`;
  }
}

/** Is `postgres://` accepted by openBelay (the lead is wiring it)? */
async function postgresUnavailable(): Promise<string | null> {
  try {
    const probe = await open({ concurrency: 0 });
    await probe.close();
    return null;
  } catch (error) {
    const message = (error as Error).message;
    log(`  Belay on PostgreSQL: ${message}`);
    return /unsupported database URL/.test(message) ? "n/a (not wired)" : "n/a (could not open)";
  }
}

if (workerNode) await serveAsWorkerNode();
else
  await runDriver(async (): Promise<Driver> => {
    const pgNote = "the cancel is a row change in the shared database; the node running the task learns of it through LISTEN/NOTIFY and signals the handler's thread";
    const base = {
      version: belayVersion(),
      cancelQueued: "`engine.cancelJob(id)`; bulk `engine.cancelJobs({ filter: { status: [\"queued\"] } })`",
      bulkInsert: "`engine.submitJobs(specs)` (bulk submit: all or none, one transaction per call)",
      noop,
      drain,
      queued,
      running,
    };
    if (backend === "sqlite") {
      return {
        ...base,
        system: "belay-sqlite",
        label: "Belay (SQLite, embedded)",
        store: "embedded",
        cancelRunning: "`engine.cancelJob(id)` aborts the handler's AbortSignal (in its worker thread) and ends the job `cancelled`",
        runningAcrossNodes: "n/a: one node",
      };
    }
    const unavailable = await postgresUnavailable();
    return {
      ...base,
      system: "belay-pg",
      label: "Belay (PostgreSQL)",
      store: "postgres",
      cancelRunning: `\`engine.cancelJob(id)\` from any node; ${pgNote}`,
      runningAcrossNodes,
      ...(unavailable === null ? {} : { unavailable }),
    };
  });
