/**
 * The PostgreSQL workloads of the benchmark (PW1–PW4), on a PostgreSQL reachable at
 * `BELAY_BENCH_PG_URL` (default postgres://postgres@127.0.0.1:5432/test), one fresh schema
 * per workload, dropped afterwards.
 *
 * The bench process holds an API-only node (`concurrency: 0`, node id `bench-api`); the
 * workers are real `belay worker` processes (`bin/belay.js worker --handlers bench/handlers.ts
 * --concurrency 10`), so everything between the nodes goes through the database: claims,
 * the NOTIFY of a cancel, the event feed. The API node counts completions with `engine.on`,
 * which sees every node's events through its feed.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { Json } from "../src/core/model.ts";
import type { Belay } from "../src/engine/engine.ts";
import { openBelay } from "../src/engine/open.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { countEvents, handlersModule, microsSince, nowMs } from "./engine.ts";
import { fmt, median, percentile } from "./stats.ts";
import type { Row } from "./stats.ts";

export const pgUrl = process.env["BELAY_BENCH_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

/** `pgUrl` without its password, for messages. */
export function shownPgUrl(): string {
  try {
    const url = new URL(pgUrl);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return "(unparsable URL)";
  }
}

export interface PgBenchOptions {
  counts: { pw1Jobs: number; pw2Jobs: number; pw3Jobs: number; pw4Queue: number; pw4Cancels: number };
  rows: Row[];
  log: (message: string) => void;
}

const belayBin = fileURLToPath(new URL("../bin/belay.js", import.meta.url));
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const workerConcurrency = 10;
/** Submits in flight while filling a queue (not timed; sequential submits would take minutes on PostgreSQL). */
const fillLanes = 16;

/** PW2's one-by-one p50 and PW4's figures, for PW4's relative target (settled by `settlePgTargets`). */
const results: { pw2Median: number | null; pw4Median: number | null; pw4Baseline: number | null } = { pw2Median: null, pw4Median: null, pw4Baseline: null };

/** PostgreSQL's version when it answers at `pgUrl`, else why not. */
export async function pgReachable(): Promise<{ version: string } | { error: string }> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 3_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ server_version: string }>("SHOW server_version");
    return { version: result.rows[0]?.server_version ?? "unknown" };
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---- nodes --------------------------------------------------------------------------------

interface WorkerProcess {
  nodeId: string;
  child: ChildProcess;
  home: string;
  stderr: () => string;
}

/** Start `belay worker --json` and resolve once it has printed that it is up. */
async function startWorker(db: string, nodeId: string): Promise<WorkerProcess> {
  const home = mkdtempSync(join(tmpdir(), "belay-bench-worker-"));
  const args = [belayBin, "worker", "--db", db, "--handlers", handlersModule, "--concurrency", String(workerConcurrency), "--node-id", nodeId, "--home", home, "--json"];
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, BELAY_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${nodeId} did not start within 30 s; stderr: ${stderr.slice(-2000)}`)), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
      try {
        JSON.parse(stdout);
        clearTimeout(timer);
        resolve();
      } catch {
        // not all of it yet
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker ${nodeId} exited (${code ?? signal}) before it was up; stderr: ${stderr.slice(-2000)}`));
    });
  });
  return { nodeId, child, home, stderr: () => stderr };
}

/** SIGTERM (graceful stop), SIGKILL after 15 s; then remove its home. */
async function stopWorker(worker: WorkerProcess): Promise<void> {
  const { child } = worker;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(worker.home, { recursive: true, force: true });
}

interface PgCluster {
  api: Belay;
  workers: WorkerProcess[];
  schema: string;
  /** Start `count` more worker processes (stopped with the cluster). */
  startWorkers: (count: number) => Promise<void>;
}

/**
 * A fresh schema, the API-only node in this process and `workers` worker processes on it;
 * always stopped, and the schema dropped, at the end.
 */
async function withCluster<T>(label: string, workers: number, fn: (cluster: PgCluster) => Promise<T>): Promise<T> {
  const schema = `belay_bench_${label.toLowerCase()}_${process.pid}_${Date.now().toString(36)}`;
  const db = `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}`;
  const home = mkdtempSync(join(tmpdir(), "belay-bench-api-"));
  const started: WorkerProcess[] = [];
  let api: Belay | null = null;
  try {
    // The API node migrates the schema before any worker opens it.
    api = await openBelay({ home, db, concurrency: 0, nodeId: "bench-api" });
    const startWorkers = async (count: number): Promise<void> => {
      const first = started.length + 1;
      const opened = await Promise.allSettled(Array.from({ length: count }, (_, i) => startWorker(db, `bench-w${first + i}`)));
      for (const result of opened) if (result.status === "fulfilled") started.push(result.value);
      const failed = opened.find((r) => r.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    };
    await startWorkers(workers);
    return await fn({ api, workers: started, schema, startWorkers });
  } finally {
    for (const worker of started) {
      if (worker.child.exitCode !== null && worker.child.exitCode !== 0) process.stderr.write(`  worker ${worker.nodeId} exited ${worker.child.exitCode}: ${worker.stderr().slice(-2000)}\n`);
    }
    await Promise.all(started.map(stopWorker));
    await api?.close().catch((error: unknown) => process.stderr.write(`  (close failed: ${(error as Error).message})\n`));
    const store = new PostgresStore({ url: pgUrl, schema });
    await store.dropSchema().catch((error: unknown) => process.stderr.write(`  (drop schema ${schema} failed: ${(error as Error).message})\n`));
    await store.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Submit `count` noop jobs, `fillLanes` in flight; ids in submission order. */
async function fillQueued(engine: Belay, count: number, label: string, log: (m: string) => void): Promise<{ ids: string[]; ms: number }> {
  const ids: string[] = new Array<string>(count);
  const started = performance.now();
  let next = 0;
  let done = 0;
  const every = Math.max(10_000, Math.floor(count / 10));
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      ids[i] = (await engine.submitJob({ handler: "noop" })).id;
      done += 1;
      if (count >= 20_000 && done % every === 0) log(`  ${label}: ${done.toLocaleString("en-US")} / ${count.toLocaleString("en-US")} submitted (${fmt((performance.now() - started) / 1000, 1)} s)`);
    }
  };
  await Promise.all(Array.from({ length: fillLanes }, lane));
  return { ids, ms: performance.now() - started };
}

// ---- CPU accounting -------------------------------------------------------------------------

const clockTicksPerSecond = 100; // USER_HZ on Linux

/** utime + stime of a process, in ms; null when it is gone or unreadable. */
function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

/** Pids of the PostgreSQL backends serving this benchmark's nodes (application_name `belay:bench-…`). */
async function benchBackends(client: pg.Client): Promise<number[]> {
  const result = await client.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'belay:bench-%'");
  return result.rows.map((r) => r.pid);
}

/**
 * CPU used during a phase by this process, the worker processes and the PostgreSQL backends
 * of the benchmark's connections (when PostgreSQL runs on this machine and /proc shows them).
 */
class CpuMeter {
  private readonly client = new pg.Client({ connectionString: pgUrl });
  private readonly workers: WorkerProcess[];
  private readonly backendsAtStart = new Map<number, number>();
  private workersAtStart = 0;
  private selfAtStart = process.cpuUsage();
  private wallAtStart = 0;

  constructor(workers: WorkerProcess[]) {
    this.workers = workers;
    this.client.on("error", () => undefined);
  }

  async start(): Promise<void> {
    await this.client.connect();
    for (const pid of await benchBackends(this.client)) {
      const ms = processCpuMs(pid);
      if (ms !== null) this.backendsAtStart.set(pid, ms);
    }
    this.workersAtStart = this.workersCpuMs();
    this.selfAtStart = process.cpuUsage();
    this.wallAtStart = nowMs();
  }

  /** Percent of one core, per group, over the phase. */
  async stop(): Promise<{ self: number; workers: number; backends: number; wallMs: number }> {
    const wallMs = nowMs() - this.wallAtStart;
    const self = process.cpuUsage(this.selfAtStart);
    const workers = this.workersCpuMs() - this.workersAtStart;
    let backends = 0;
    for (const pid of await benchBackends(this.client)) {
      const ms = processCpuMs(pid);
      if (ms !== null) backends += ms - (this.backendsAtStart.get(pid) ?? 0);
    }
    await this.client.end().catch(() => undefined);
    const percent = (ms: number): number => (ms / wallMs) * 100;
    return { self: percent((self.user + self.system) / 1000), workers: percent(workers), backends: percent(backends), wallMs };
  }

  private workersCpuMs(): number {
    return this.workers.reduce((sum, w) => sum + (w.child.pid === undefined ? 0 : (processCpuMs(w.child.pid) ?? 0)), 0);
  }
}

/**
 * Statements this process sends to PostgreSQL (the API node's), counted by wrapping
 * `pg.Client.prototype.query` (the class the store's pool uses) while `counting` is set: a
 * few µs per statement against round trips of a few hundred µs.
 */
const statements = { counting: false, count: 0 };
let statementCounterInstalled = false;

function installStatementCounter(): void {
  if (statementCounterInstalled) return;
  statementCounterInstalled = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]): unknown {
    if (statements.counting) statements.count += 1;
    return original.apply(this, args);
  };
}

/** Count this process's statements while `fn` runs. */
async function countStatements<T>(fn: () => Promise<T>): Promise<{ value: T; statements: number }> {
  installStatementCounter();
  statements.count = 0;
  statements.counting = true;
  try {
    return { value: await fn(), statements: statements.count };
  } finally {
    statements.counting = false;
  }
}

/**
 * The floor under a sequential submitter: p50 of a bare round trip (`SELECT 1`) and of a
 * committed one-row INSERT (autocommit, so one WAL flush each), on a table in `schema`.
 */
async function pgFloor(schema: string, samples = 300): Promise<{ roundTripMs: number; commitMs: number }> {
  const client = new pg.Client({ connectionString: pgUrl });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const time = async (sql: string): Promise<number> => {
      const values: number[] = [];
      for (let i = 0; i < samples; i += 1) {
        const t = process.hrtime.bigint();
        await client.query(sql);
        values.push(microsSince(t) / 1000);
      }
      return median(values);
    };
    await client.query(`CREATE TABLE ${schema}.bench_floor (x integer)`);
    return { roundTripMs: await time("SELECT 1"), commitMs: await time(`INSERT INTO ${schema}.bench_floor VALUES (1)`) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---- PW1 ----------------------------------------------------------------------------------

/** PW1 / PW1x3: n noop jobs submitted on the API node, run by `workers` worker processes. */
export async function pw1(options: PgBenchOptions, workers: number): Promise<void> {
  const { rows, log } = options;
  const name = workers === 1 ? "PW1" : `PW1x${workers}`;
  const n = options.counts.pw1Jobs;
  log(`${name}: throughput on PostgreSQL, ${n} noop jobs submitted on the API node (1 sequential submitter), ${workers} worker process${workers === 1 ? "" : "es"} of concurrency ${workerConcurrency}`);
  await withCluster(name, workers, async ({ api, workers: procs, schema }) => {
    // Warm-up (not timed): connections, the workers' handler threads.
    const warmup = 20 * workers;
    const warm = countEvents(api, ["belay.job.succeeded", "belay.job.failed"], warmup, 60_000);
    for (let i = 0; i < warmup; i += 1) await api.submitJob({ handler: "noop" });
    if ((await warm.done) === null) throw new Error(`warm-up: only ${warm.count()} of ${warmup} jobs ended within 60 s`);
    const floor = await pgFloor(schema);
    await sleep(200);

    const ended = countEvents(api, ["belay.job.succeeded", "belay.job.failed"], n, 600_000);
    const byNode = new Map<string, number>();
    let failed = 0;
    const offFailed = api.on("belay.job.failed", () => (failed += 1));
    const offStarted = api.on("belay.task.started", (event) => {
      const node = (event.data as { nodeId?: unknown } | null)?.nodeId;
      if (typeof node === "string") byNode.set(node, (byNode.get(node) ?? 0) + 1);
    });
    const meter = new CpuMeter(procs);
    await meter.start();
    const started = nowMs();
    const submit = await countStatements(async () => {
      for (let i = 0; i < n; i += 1) await api.submitJob({ handler: "noop" });
    });
    const submitted = nowMs();
    const last = await ended.done;
    const cpu = await meter.stop();
    offFailed();
    offStarted();
    const completed = ended.count();
    const end = last ?? nowMs();
    const rate = (completed / (end - started)) * 1000;
    const submitRate = (n / (submitted - started)) * 1000;
    const split = [...byNode.entries()].sort().map(([node, c]) => `${node} ${c}`).join(", ");
    log(`  submitted in ${fmt(submitted - started, 0)} ms, all ended after ${fmt(end - started, 0)} ms; ${completed} ended, ${failed} failed${last === null ? " (TIMED OUT)" : ""}; tasks per node: ${split || "n/a"}`);
    log(`  CPU (% of one core): bench process ${fmt(cpu.self, 0)}, worker processes ${fmt(cpu.workers, 0)}, their PostgreSQL backends ${fmt(cpu.backends, 0)}; API node statements per submit ${fmt(submit.statements / n, 1)}`);
    const one = workers === 1;
    rows.push(
      {
        workload: name,
        figure: `jobs/s, first submit → last completion seen on the API node (1 sequential submitter, ${workers} worker process${one ? "" : "es"})`,
        value: `${fmt(rate, 0)} jobs/s${last === null ? " (timed out)" : ""}`,
        target: one ? "≥ 4,200 jobs/s (2× graphile-worker)" : "",
        met: one ? last !== null && rate >= 4_200 : null,
        reference: one ? "graphile-worker ≈ 2,100; pg-boss ≈ 800 (same PostgreSQL)" : "",
      },
      { workload: name, figure: "submit phase only (sequential awaits on the API node)", value: `${fmt(submitRate, 0)} jobs/s`, target: "", met: null, reference: "" },
      { workload: name, figure: "last completion seen after the last submit returned", value: `${fmt(end - submitted, 0)} ms`, target: "", met: null, reference: "" },
      {
        workload: name,
        figure: "CPU, % of one core: bench process (API node) / worker processes / their PostgreSQL backends",
        value: `${fmt(cpu.self, 0)} / ${fmt(cpu.workers, 0)} / ${fmt(cpu.backends, 0)}`,
        target: "",
        met: null,
        reference: "",
      },
      {
        workload: name,
        figure: "floor on this PostgreSQL: round trip (SELECT 1) / committed one-row INSERT, p50",
        value: `${fmt(floor.roundTripMs, 3)} / ${fmt(floor.commitMs, 3)} ms`,
        target: "",
        met: null,
        reference: "",
      },
      { workload: name, figure: "statements the API node sends per submitJob (incl. its event-feed reads)", value: fmt(submit.statements / n, 1), target: "", met: null, reference: "" },
    );
    if (!one) rows.push({ workload: name, figure: "tasks run per worker process", value: split || "n/a", target: "", met: null, reference: "" });
    if (failed > 0) rows.push({ workload: name, figure: "jobs failed (should be 0)", value: String(failed), target: "", met: null, reference: "" });
  });
  await drainOnly(options, name, workers, n);
}

/**
 * What the workers drain when the submitter is out of the way: n jobs queued first (no
 * worker yet), then the worker processes started; first task start → last completion, as
 * seen on the API node.
 */
async function drainOnly(options: PgBenchOptions, name: string, workers: number, n: number): Promise<void> {
  const { rows, log } = options;
  await withCluster(`${name}d`, 0, async ({ api, workers: procs, startWorkers }) => {
    const fill = await fillQueued(api, n, `${name} drain fill`, log);
    let firstStart: number | null = null;
    const offStarted = api.on("belay.task.started", () => void (firstStart ??= nowMs()));
    const ended = countEvents(api, ["belay.job.succeeded", "belay.job.failed"], n, 600_000);
    await startWorkers(workers);
    const meter = new CpuMeter(procs);
    await meter.start();
    const last = await ended.done;
    const cpu = await meter.stop();
    offStarted();
    const begin = firstStart ?? nowMs();
    const rate = (ended.count() / ((last ?? nowMs()) - begin)) * 1000;
    log(`  drain only: ${n} jobs queued in ${fmt(fill.ms, 0)} ms, then drained at ${fmt(rate, 0)} jobs/s${last === null ? " (TIMED OUT)" : ""}; CPU after the workers were up: worker processes ${fmt(cpu.workers, 0)}%, their PostgreSQL backends ${fmt(cpu.backends, 0)}%`);
    rows.push({
      workload: name,
      figure: `drain only: ${n} jobs queued beforehand, workers started after; first task start → last completion`,
      value: `${fmt(rate, 0)} jobs/s${last === null ? " (timed out)" : ""}`,
      target: "",
      met: null,
      reference: "",
    });
  });
}

// ---- PW2 ----------------------------------------------------------------------------------

/** PW2: cancel n queued jobs one by one on the API node (no workers). */
export async function pw2(options: PgBenchOptions): Promise<void> {
  const { rows, log } = options;
  const n = options.counts.pw2Jobs;
  log(`PW2: cancel ${n} queued jobs one by one on PostgreSQL; API node only (concurrency 0)`);
  await withCluster("PW2", 0, async ({ api }) => {
    const fill = await fillQueued(api, n, "PW2 fill", log);
    log(`  filled ${n} queued jobs in ${fmt(fill.ms, 0)} ms (${fillLanes} submits in flight)`);
    const samples: number[] = [];
    let notCancelled = 0;
    const cancel = await countStatements(async () => {
      for (const id of fill.ids) {
        const t = process.hrtime.bigint();
        const result = await api.cancelJob(id);
        samples.push(microsSince(t));
        if (result.job.status !== "cancelled") notCancelled += 1;
      }
    });
    const p50 = median(samples);
    const p99 = percentile(samples, 99);
    results.pw2Median = p50;
    log(`  one by one: p50 ${fmt(p50)} µs, p99 ${fmt(p99)} µs, max ${fmt(percentile(samples, 100))} µs; ${fmt(cancel.statements / n, 1)} statements per cancel`);
    rows.push(
      {
        workload: "PW2",
        figure: `cancelJob p50, ${n} queued jobs one by one`,
        value: `${fmt(p50)} µs`,
        target: "≤ 500 µs",
        met: p50 <= 500,
        reference: "graphile-worker 550 µs; pg-boss 840 µs (same PostgreSQL)",
      },
      { workload: "PW2", figure: "cancelJob p99", value: `${fmt(p99)} µs`, target: "", met: null, reference: "" },
      { workload: "PW2", figure: "statements sent per cancelJob (incl. the node's polls)", value: fmt(cancel.statements / n, 1), target: "", met: null, reference: "" },
    );
    if (notCancelled > 0) rows.push({ workload: "PW2", figure: "jobs not cancelled (should be 0)", value: String(notCancelled), target: "", met: null, reference: "" });
  });
}

// ---- PW3 ----------------------------------------------------------------------------------

/** PW3: cancel on the API node a `cooperative` handler running in a worker process, one at a time. */
export async function pw3(options: PgBenchOptions): Promise<void> {
  const { rows, log } = options;
  const n = options.counts.pw3Jobs;
  log(`PW3: cross-node cancel of ${n} running cooperative handlers, one at a time: cancel on the API node, handler in 1 worker process`);
  await withCluster("PW3", 1, async ({ api }) => {
    const call: number[] = [];
    const seen: number[] = [];
    const delivered: number[] = [];
    const cancelled: number[] = [];
    let missing = 0;
    for (let i = 0; i < n; i += 1) {
      // The handler announces itself with a progress event, which reaches the API node through its feed.
      let jobId = "";
      const running = countEvents(api, ["belay.task.progress"], 1, 30_000, (e) => e.subject === jobId);
      jobId = (await api.submitJob({ handler: "cooperative" })).id;
      if ((await running.done) === null) {
        running.stop();
        log(`  job ${i + 1}: handler not running within 30 s`);
        missing += 1;
        continue;
      }
      await sleep(10); // let the handler settle into its polling loop
      let cancelledAt: number | null = null;
      const ended = countEvents(api, ["belay.job.cancelled"], 1, 30_000, (e) => e.subject === jobId);
      void ended.done.then((at) => (cancelledAt = at));
      const t0 = nowMs();
      await api.cancelJob(jobId);
      const returned = nowMs();
      await ended.done;
      const job = await api.getJob(jobId);
      const output = job.tasks[0]?.output as { [key: string]: Json } | null | undefined;
      const sawAbortAt = output?.["sawAbortAt"];
      const abortEventAt = output?.["abortEventAt"];
      if (cancelledAt === null || typeof sawAbortAt !== "number" || typeof abortEventAt !== "number") {
        log(`  job ${i + 1}: ${job.status}, no measurement (cancelled event ${cancelledAt === null ? "not seen" : "seen"}, output ${JSON.stringify(output ?? null)})`);
        missing += 1;
        continue;
      }
      call.push(returned - t0);
      delivered.push(abortEventAt - t0);
      seen.push(sawAbortAt - t0);
      cancelled.push(cancelledAt - t0);
    }
    const both = (values: number[]): string => `${fmt(median(values), 2)} / ${fmt(percentile(values, 99), 2)} ms`;
    log(`  ${seen.length} measured, ${missing} missing; cancelJob returns p50/p99 ${both(call)}; abort event in the worker's thread ${both(delivered)}; seen ${both(seen)}; job cancelled on the API node ${both(cancelled)}`);
    rows.push(
      { workload: "PW3", figure: "cancelJob call returns (API node), p50 / p99", value: both(call), target: "", met: null, reference: "" },
      { workload: "PW3", figure: "cancel → abort event fires in the handler's thread (worker process), p50 / p99", value: both(delivered), target: "", met: null, reference: "" },
      { workload: "PW3", figure: "cancel → handler on the other node sees abort, p50", value: `${fmt(median(seen), 2)} ms`, target: "", met: null, reference: "pg-boss ≈ 5 s; BullMQ: only in the calling process" },
      {
        workload: "PW3",
        figure: `cancel → handler on the other node sees abort, p99 of ${seen.length}`,
        value: `${fmt(percentile(seen, 99), 2)} ms`,
        target: "≤ 20 ms",
        met: seen.length === n && percentile(seen, 99) <= 20,
        reference: "",
      },
      { workload: "PW3", figure: "cancel → belay.job.cancelled seen on the API node, p50 / p99", value: both(cancelled), target: "", met: null, reference: "" },
    );
    if (missing > 0) rows.push({ workload: "PW3", figure: "jobs without a measurement (should be 0)", value: String(missing), target: "", met: null, reference: "" });
  });
}

// ---- PW4 ----------------------------------------------------------------------------------

/** PW4: cancel single jobs out of a big queue on PostgreSQL (as W4). */
export async function pw4(options: PgBenchOptions): Promise<void> {
  const { rows, log } = options;
  const { pw4Queue: size, pw4Cancels: cancels } = options.counts;
  const warmup = 10;
  const baselineQueue = 1_000;
  log(`PW4: cancel ${cancels} jobs, one at a time, out of ${size.toLocaleString("en-US")} queued on PostgreSQL; API node only`);
  await withCluster("PW4", 0, async ({ api }) => {
    const small = await fillQueued(api, baselineQueue + warmup + cancels, "PW4 baseline", log);
    for (let i = 0; i < warmup; i += 1) await api.cancelJob(small.ids[i] as string);
    const baseline: number[] = [];
    for (let i = 0; i < cancels; i += 1) {
      const t = process.hrtime.bigint();
      await api.cancelJob(small.ids[warmup + i * Math.floor(baselineQueue / cancels)] as string);
      baseline.push(microsSince(t));
    }
    results.pw4Baseline = median(baseline);
    log(`  baseline with ${baselineQueue.toLocaleString("en-US")} queued: p50 ${fmt(results.pw4Baseline)} µs`);
    const fill = await fillQueued(api, size, "PW4 fill", log);
    log(`  filled ${size.toLocaleString("en-US")} queued jobs in ${fmt(fill.ms / 1000, 1)} s (${fmt((size / fill.ms) * 1000, 0)} jobs/s, ${fillLanes} submits in flight)`);
    const step = Math.floor(size / cancels);
    for (let i = 0; i < warmup; i += 1) await api.cancelJob(fill.ids[i * step + 1] as string);
    const samples: number[] = [];
    for (let i = 0; i < cancels; i += 1) {
      const t = process.hrtime.bigint();
      await api.cancelJob(fill.ids[i * step + Math.floor(step / 2)] as string);
      samples.push(microsSince(t));
    }
    const p50 = median(samples);
    results.pw4Median = p50;
    // The timeout sweep every node runs each pollIntervalMs (100 ms), with the big queue.
    const sweeps: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const t = process.hrtime.bigint();
      await api.store.expiredJobs(Date.now(), 100);
      sweeps.push(microsSince(t) / 1000);
    }
    log(`  p50 ${fmt(p50)} µs, p99 ${fmt(percentile(samples, 99))} µs; timeout sweep query p50 ${fmt(median(sweeps), 2)} ms`);
    rows.push(
      { workload: "PW4", figure: `fill ${size.toLocaleString("en-US")} queued jobs (${fillLanes} submits in flight)`, value: `${fmt(fill.ms / 1000, 1)} s`, target: "", met: null, reference: "" },
      // `met` is settled by settlePgTargets, against PW2's p50 when PW2 ran.
      { workload: "PW4", figure: `cancelJob p50 of ${cancels} (after ${warmup} warm-up cancels)`, value: `${fmt(p50)} µs`, target: "≤ 2 × PW2 p50", met: null, reference: "" },
      { workload: "PW4", figure: "cancelJob p99", value: `${fmt(percentile(samples, 99))} µs`, target: "", met: null, reference: "" },
      { workload: "PW4", figure: `for comparison: cancelJob p50 on the same schema with ${baselineQueue.toLocaleString("en-US")} queued`, value: `${fmt(results.pw4Baseline)} µs`, target: "", met: null, reference: "" },
      { workload: "PW4", figure: `timeout sweep query (store.expiredJobs), run every 100 ms, with ${size.toLocaleString("en-US")} queued, p50`, value: `${fmt(median(sweeps), 2)} ms`, target: "", met: null, reference: "" },
    );
  });
}

/** PW4's target is relative: 2 × PW2's p50, or 2 × its own p50 with 1,000 queued when PW2 did not run. */
export function settlePgTargets(rows: Row[]): void {
  const { pw2Median, pw4Median, pw4Baseline } = results;
  const row = rows.find((r) => r.workload === "PW4" && r.figure.startsWith("cancelJob p50"));
  if (row === undefined || pw4Median === null) return;
  if (pw2Median !== null) {
    row.target = `≤ 2 × PW2 p50 = ${fmt(2 * pw2Median)} µs`;
    row.met = pw4Median <= 2 * pw2Median;
  } else if (pw4Baseline !== null) {
    row.target = `≤ 2 × p50 with 1,000 queued (PW2 not run) = ${fmt(2 * pw4Baseline)} µs`;
    row.met = pw4Median <= 2 * pw4Baseline;
  }
}
