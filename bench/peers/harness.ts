/**
 * The workloads W1–W4 of bench/run.ts, written once against a small driver interface so that
 * Belay and every peer are measured by the same code: the same counts, the same clocks, the
 * same order of calls. Each peer file builds a `Driver` and hands it to `runDriver`, which
 * prints progress on stderr and the results as one JSON line on stdout (read by run.ts).
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { workloadCounts } from "../counts.ts";
import { fmt, median, percentile } from "../stats.ts";

export const quick = process.argv.includes("--quick") || process.env["BELAY_BENCH_QUICK"] === "1";

/** The counts of bench/run.ts, plus the untimed warm-ups the peers need. */
export const counts = { ...workloadCounts(quick), w1Warmup: 10, w4Warmup: 10 };

export const redisUrl = process.env["BELAY_BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6379";
export const pgUrl = process.env["BELAY_BENCH_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

/** A name unique to this process, for Redis key prefixes, PostgreSQL schemas and queue names. */
export function uniqueName(base: string): string {
  return `${base}_${process.pid}_${Date.now().toString(36)}`;
}

/** The installed version of a package of bench/peers (from its package.json). */
export function packageVersion(name: string): string {
  const file = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/** Wall-clock time in ms with sub-ms precision, comparable across threads and processes of this machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function microsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1000;
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

// ---- the driver interface -----------------------------------------------------------------

export interface NoopSession {
  /** Submit one noop job (resolves when the system has accepted it). */
  submit(): Promise<void>;
  /**
   * For systems whose "job done" callback fires before the completion is written (pg-boss,
   * graphile-worker): resolves once `total` completions are stored. Absent when the callback
   * already follows the write.
   */
  stored?(total: number): Promise<void>;
  close(): Promise<void>;
}

export interface QueuedSession {
  /** Put `count` jobs in the queue (nobody consumes them); any way the system allows. */
  fill(count: number): Promise<string[]>;
  /** Cancel one queued job; true when the system says it was cancelled/removed. */
  cancel(id: string): Promise<boolean>;
  /** Cancel every queued job (`ids` are all of them, for systems that need them); how many. */
  cancelAll(ids: string[]): Promise<number>;
  close(): Promise<void>;
}

export interface RunningHooks {
  /** The handler of `id` is running (and polling its signal). */
  started(id: string): void;
  /** The handler of `id` saw the abort at `atMs` (nowMs clock). */
  sawAbort(id: string, atMs: number): void;
  /** The job `id` reached its final cancelled/failed state at `atMs`. */
  ended(id: string, atMs: number): void;
}

export interface RunningSession {
  submit(): Promise<string>;
  cancel(id: string): Promise<void>;
  close(): Promise<void>;
}

export interface Driver {
  /** Stable key: belay-sqlite, belay-pg, bullmq-redis, bullmq-pg, pg-boss, graphile-worker. */
  system: string;
  label: string;
  store: "embedded" | "redis" | "postgres";
  version: string;
  /** What "cancel a queued job" is in this system. */
  cancelQueued: string;
  /** What "cancel a running job" is, and where it can be called from. */
  cancelRunning: string;
  /** Why a workload cannot run at all (e.g. Belay on PostgreSQL not wired yet). */
  unavailable?: string;
  noop(concurrency: number, ended: (ok: boolean) => void): Promise<NoopSession>;
  queued(label: string): Promise<QueuedSession>;
  /** A string says why the system cannot cancel a running handler. */
  running: ((concurrency: number, hooks: RunningHooks) => Promise<RunningSession>) | string;
  /** Cancel of a running handler from another process (another node); a string says why not. */
  runningAcrossNodes: ((concurrency: number, hooks: RunningHooks) => Promise<RunningSession>) | string;
  /** The running cancel takes the same path whichever process calls it: W3's figure is also the across-nodes one. */
  w3AcrossNodesIsW3?: boolean;
  close?(): Promise<void>;
}

// ---- results ------------------------------------------------------------------------------

export interface NotAvailable {
  na: string;
}

export interface W1Result {
  jobsPerSec: number;
  jobs: number;
  failed: number;
  submitPerSec: number;
  totalMs: number;
}

export interface W2Result {
  n: number;
  p50Us: number;
  p99Us: number;
  notCancelled: number;
  bulkMs: number;
  bulkCancelled: number;
}

export interface W3Result {
  n: number;
  measured: number;
  seenP50Ms: number;
  seenP99Ms: number;
  endedP50Ms: number;
  endedP99Ms: number;
  callP50Ms: number;
  cpuPercent: number;
}

export interface W4Result {
  queue: number;
  p50Us: number;
  p99Us: number;
  fillS: number;
  notCancelled: number;
}

export type Outcome<T> = T | NotAvailable;

export interface PeerResult {
  system: string;
  label: string;
  store: Driver["store"];
  version: string;
  cancelQueued: string;
  cancelRunning: string;
  quick: boolean;
  w1: Outcome<W1Result>;
  w2: Outcome<W2Result>;
  w3: Outcome<W3Result>;
  w3x: Outcome<W3Result>;
  w4: Outcome<W4Result>;
  seconds: number;
  /** 1-minute load average of the machine when the system's run started and ended (set by run.ts). */
  loadAverage?: [number, number];
}

export function isNa<T extends object>(value: Outcome<T>): value is NotAvailable {
  return "na" in value;
}

// ---- the workloads ------------------------------------------------------------------------

/** A counter whose `reached(target)` resolves with the time of the target-th tick, or null after `timeoutMs`. */
function counter(): { tick: () => void; count: () => number; reached: (target: number, timeoutMs: number) => Promise<number | null> } {
  let count = 0;
  let waiter: { target: number; resolve: (at: number | null) => void } | null = null;
  return {
    tick: () => {
      count += 1;
      if (waiter !== null && count >= waiter.target) {
        const w = waiter;
        waiter = null;
        w.resolve(nowMs());
      }
    },
    count: () => count,
    reached: (target, timeoutMs) =>
      new Promise((resolve) => {
        if (count >= target) return resolve(nowMs());
        const timer = setTimeout(() => {
          waiter = null;
          resolve(null);
        }, timeoutMs);
        waiter = {
          target,
          resolve: (at) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
      }),
  };
}

/** W1: n one-task noop jobs at concurrency 10, one sequential submitter; first submit → last completion. */
async function w1(driver: Driver): Promise<W1Result> {
  const n = counts.w1Jobs;
  const ended = counter();
  let failed = 0;
  const session = await driver.noop(counts.w1Concurrency, (ok) => {
    if (!ok) failed += 1;
    ended.tick();
  });
  try {
    // Warm-up (not timed): connections, prepared statements, the workers' first fetch.
    for (let i = 0; i < counts.w1Warmup; i += 1) await session.submit();
    if ((await ended.reached(counts.w1Warmup, 60_000)) === null) throw new Error("warm-up jobs did not finish within 60 s");
    await session.stored?.(counts.w1Warmup);
    failed = 0;
    const started = nowMs();
    for (let i = 0; i < n; i += 1) await session.submit();
    const submitted = nowMs();
    let last = await ended.reached(counts.w1Warmup + n, 600_000);
    if (last === null) throw new Error(`only ${ended.count() - counts.w1Warmup} of ${n} jobs ended within 600 s`);
    if (session.stored !== undefined) {
      await session.stored(counts.w1Warmup + n);
      last = nowMs();
    }
    const totalMs = last - started;
    const result = { jobsPerSec: (n / totalMs) * 1000, jobs: n, failed, submitPerSec: (n / (submitted - started)) * 1000, totalMs };
    log(`  W1: ${fmt(result.jobsPerSec, 0)} jobs/s (submit phase ${fmt(result.submitPerSec, 0)} jobs/s, all ended after ${fmt(totalMs, 0)} ms, ${failed} failed)`);
    return result;
  } finally {
    await session.close();
  }
}

/** W2: cancel n queued jobs one by one (µs per call), then n more in bulk. */
async function w2(driver: Driver): Promise<W2Result> {
  const n = counts.w2Jobs;
  const session = await driver.queued("w2");
  try {
    const ids = await session.fill(n);
    const samples: number[] = [];
    let notCancelled = 0;
    for (const id of ids) {
      const t = process.hrtime.bigint();
      const ok = await session.cancel(id);
      samples.push(microsSince(t));
      if (!ok) notCancelled += 1;
    }
    const more = await session.fill(n);
    const t = process.hrtime.bigint();
    const bulkCancelled = await session.cancelAll(more);
    const bulkMs = microsSince(t) / 1000;
    const result = { n, p50Us: median(samples), p99Us: percentile(samples, 99), notCancelled, bulkMs, bulkCancelled };
    log(`  W2: one by one p50 ${fmt(result.p50Us)} µs, p99 ${fmt(result.p99Us)} µs (${notCancelled} not cancelled); bulk ${bulkCancelled} in ${fmt(bulkMs)} ms`);
    return result;
  } finally {
    await session.close();
  }
}

/**
 * W3: n running cooperative handlers (each checks its signal every ~1 ms), cancelled one at a
 * time, each call awaited and then one turn of the event loop (run.ts's "W3" round):
 * cancel call → handler sees the abort, and → the job is cancelled (or failed, for systems
 * with no cancelled state).
 */
async function w3(open: (concurrency: number, hooks: RunningHooks) => Promise<RunningSession>, label: string): Promise<W3Result> {
  const n = counts.w3Jobs;
  const started = counter();
  const idSet = new Set<string>();
  const seenAt = new Map<string, number>();
  const endedAt = new Map<string, number>();
  const done = counter();
  const complete = (id: string): void => {
    if (seenAt.has(id) && endedAt.has(id)) done.tick();
  };
  const hooks: RunningHooks = {
    started: () => started.tick(),
    sawAbort: (id, at) => {
      if (seenAt.has(id)) return;
      seenAt.set(id, at);
      complete(id);
    },
    ended: (id, at) => {
      if (endedAt.has(id)) return;
      endedAt.set(id, at);
      complete(id);
    },
  };
  const session = await open(n + 10, hooks);
  try {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const id = await session.submit();
      ids.push(id);
      idSet.add(id);
    }
    if ((await started.reached(n, 120_000)) === null) throw new Error(`only ${started.count()} of ${n} handlers started within 120 s`);
    await sleep(200);
    const cpuBefore = process.cpuUsage();
    const wallBefore = nowMs();
    await sleep(500);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / (nowMs() - wallBefore)) * 100;

    const calledAt = new Map<string, number>();
    const calls: number[] = [];
    for (const id of ids) {
      const t0 = nowMs();
      calledAt.set(id, t0);
      await session.cancel(id);
      calls.push(nowMs() - t0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if ((await done.reached(n, 60_000)) === null) log(`  ${label}: only ${done.count()} of ${n} cancels fully observed within 60 s`);
    const seen: number[] = [];
    const ended: number[] = [];
    for (const id of ids) {
      const t0 = calledAt.get(id) as number;
      const s = seenAt.get(id);
      const e = endedAt.get(id);
      if (s === undefined || e === undefined) continue;
      seen.push(s - t0);
      ended.push(e - t0);
    }
    const result = {
      n,
      measured: seen.length,
      seenP50Ms: median(seen),
      seenP99Ms: percentile(seen, 99),
      endedP50Ms: median(ended),
      endedP99Ms: percentile(ended, 99),
      callP50Ms: median(calls),
      cpuPercent,
    };
    log(
      `  ${label}: ${result.measured} of ${n} measured; sees abort p50/p99 ${fmt(result.seenP50Ms, 2)} / ${fmt(result.seenP99Ms, 2)} ms; ` +
        `ended p50/p99 ${fmt(result.endedP50Ms, 2)} / ${fmt(result.endedP99Ms, 2)} ms; cancel call p50 ${fmt(result.callP50Ms, 2)} ms; CPU while polling ${fmt(cpuPercent, 0)}%`,
    );
    return result;
  } finally {
    await session.close();
  }
}

/** W4: cancel one job out of a queue of 100,000 (median of 100, after 10 warm-up cancels), spread over the queue. */
async function w4(driver: Driver): Promise<W4Result> {
  const size = counts.w4Queue;
  const session = await driver.queued("w4");
  try {
    const t = performance.now();
    const ids = await session.fill(size);
    const fillS = (performance.now() - t) / 1000;
    log(`  W4: filled ${size.toLocaleString("en-US")} in ${fmt(fillS, 1)} s`);
    const step = Math.floor(size / counts.w4Cancels);
    for (let i = 0; i < counts.w4Warmup; i += 1) await session.cancel(ids[i * step + 1] as string);
    const samples: number[] = [];
    let notCancelled = 0;
    for (let i = 0; i < counts.w4Cancels; i += 1) {
      const id = ids[i * step + Math.floor(step / 2)] as string;
      const t0 = process.hrtime.bigint();
      const ok = await session.cancel(id);
      samples.push(microsSince(t0));
      if (!ok) notCancelled += 1;
    }
    const result = { queue: size, p50Us: median(samples), p99Us: percentile(samples, 99), fillS, notCancelled };
    log(`  W4: p50 ${fmt(result.p50Us)} µs, p99 ${fmt(result.p99Us)} µs (${notCancelled} not cancelled)`);
    return result;
  } finally {
    await session.close();
  }
}

async function attempt<T extends object>(name: string, fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return await fn();
  } catch (error) {
    log(`  ${name} failed: ${(error as Error).stack ?? String(error)}`);
    return { na: `error: ${(error as Error).message}` };
  }
}

const workloadArgs = process.argv.slice(2).filter((a) => /^W[1-4]X?$/i.test(a)).map((a) => a.toUpperCase());
const wanted = (name: string): boolean => workloadArgs.length === 0 || workloadArgs.includes(name);
const skipped: NotAvailable = { na: "not run" };

/** Run every workload on `driver`; progress on stderr, the result as one JSON line on stdout. */
export async function runDriver(make: () => Promise<Driver>): Promise<void> {
  const started = performance.now();
  const driver = await make();
  log(`${driver.label} ${driver.version}${quick ? " (quick)" : ""}; node ${process.version}, ${availableParallelism()} CPUs`);
  const unavailable = driver.unavailable === undefined ? null : { na: driver.unavailable };
  const result: PeerResult = {
    system: driver.system,
    label: driver.label,
    store: driver.store,
    version: driver.version,
    cancelQueued: driver.cancelQueued,
    cancelRunning: driver.cancelRunning,
    quick,
    w1: unavailable ?? (wanted("W1") ? await attempt("W1", () => w1(driver)) : skipped),
    w2: unavailable ?? (wanted("W2") ? await attempt("W2", () => w2(driver)) : skipped),
    w3: unavailable ?? skipped,
    w3x: unavailable ?? skipped,
    w4: skipped,
    seconds: 0,
  };
  if (unavailable === null) {
    const running = driver.running;
    const across = driver.runningAcrossNodes;
    if (wanted("W3")) result.w3 = typeof running === "string" ? { na: running } : await attempt("W3", () => w3(running, "W3"));
    if (driver.w3AcrossNodesIsW3 === true) result.w3x = result.w3;
    else if (wanted("W3X")) result.w3x = typeof across === "string" ? { na: across } : await attempt("W3 across nodes", () => w3(across, "W3 across nodes"));
    if (wanted("W4")) result.w4 = await attempt("W4", () => w4(driver));
  } else {
    result.w4 = unavailable;
    log(`  not run: ${driver.unavailable}`);
  }
  await driver.close?.();
  result.seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
