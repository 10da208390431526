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
/** Smoke-test sizes (a few hundred jobs, 5 running handlers): checks the code runs, measures nothing worth keeping. */
export const tiny = process.argv.includes("--tiny") || process.env["BELAY_BENCH_TINY"] === "1";

const tinyCounts = { w1Jobs: 200, w2Jobs: 200, w3Jobs: 5, w4Queue: 1_000, w4Cancels: 20 };

/**
 * The counts of bench/run.ts, plus the untimed warm-ups the peers need, the largest bulk
 * insert call (Belay's `submitJobs` takes at most 10,000 specs; every system gets the same
 * calls) and the signal check interval of the W3 burst's handlers (issue 19's definition).
 */
export const counts = { ...workloadCounts(quick), ...(tiny ? tinyCounts : {}), w1Warmup: 10, w4Warmup: 10, bulkInsertBatch: 10_000, w3BurstPollMs: 10 };

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

export interface DrainHooks {
  /** A job's handler was called (its first start starts W1 drain's clock). */
  began(): void;
  /** A job ended (as NoopSession's `ended`). */
  ended(ok: boolean): void;
}

/** W1 drain: jobs put in the queue with the system's bulk insert first, workers started after. */
export interface DrainSession {
  /** Put `count` (≤ counts.bulkInsertBatch) noop jobs in the queue in one bulk insert call; nothing consumes them yet. */
  insert(count: number): Promise<void>;
  /** Start the workers (at the concurrency given to `drain`). */
  start(): Promise<void>;
  /** As NoopSession's `stored`: for systems whose "done" callback precedes the write. */
  stored?(total: number): Promise<void>;
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
  /** Submit one cooperative job whose handler checks its signal every `pollMs`. */
  submit(pollMs: number): Promise<string>;
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
  /** W1 drain: the system's own bulk insert (named in `bulkInsert`), then workers at `concurrency`. */
  drain(concurrency: number, hooks: DrainHooks): Promise<DrainSession>;
  /** What the bulk insert of W1 drain is in this system. */
  bulkInsert: string;
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

export interface W1DrainResult {
  /** Jobs drained: the timed bulk insert's plus the untimed warm-up insert's. */
  jobs: number;
  /** Jobs drained per second, from the first handler start to the last completion stored. */
  jobsPerSec: number;
  /** The same, from the call that starts the workers (their start-up included). */
  jobsPerSecFromStart: number;
  failed: number;
  /** The timed bulk insert: its jobs, calls, time and rate. */
  inserted: number;
  insertCalls: number;
  insertMs: number;
  insertPerSec: number;
  drainMs: number;
  /** From the call that starts the workers to the first handler start. */
  startupMs: number;
  /**
   * From the first handler start to the first completion: a cold start inside the drain
   * (e.g. Belay's handler threads starting) shows here; it is counted in `jobsPerSec`.
   */
  firstEndedMs: number;
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
  /** How the cancels were issued: one at a time (awaited, a loop turn between) or all at once. */
  mode?: W3Mode;
  /** How often the handlers checked their signal, ms. */
  pollMs?: number;
}

export type W3Mode = "one-at-a-time" | "burst";

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
  /** What the bulk insert of W1 drain is (absent in results written before it existed). */
  bulkInsert?: string;
  w1: Outcome<W1Result>;
  /** W1 drain (pre-queued with the bulk insert); absent in results written before it existed. */
  w1d?: Outcome<W1DrainResult>;
  w2: Outcome<W2Result>;
  w3: Outcome<W3Result>;
  w3x: Outcome<W3Result>;
  /** W3 burst: all cancels at once, in the handlers' process / across nodes. */
  w3b?: Outcome<W3Result>;
  w3xb?: Outcome<W3Result>;
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

/**
 * W1 drain: an untimed warm-up insert of a few jobs, then n one-task noop jobs put in the
 * queue with the system's bulk insert (calls of at most counts.bulkInsertBatch, timed: the
 * bulk insert rate), nothing consuming; then the workers start at concurrency 10 and drain
 * everything. jobs/s from the first handler start to the last completion stored (the
 * workers' start-up is reported beside it, not counted).
 */
async function w1Drain(driver: Driver): Promise<W1DrainResult> {
  const n = counts.w1Jobs;
  const total = n + counts.w1Warmup;
  const ended = counter();
  let failed = 0;
  let firstBegan: number | null = null;
  let firstEnded: number | null = null;
  const session = await driver.drain(counts.w1Concurrency, {
    began: () => void (firstBegan ??= nowMs()),
    ended: (ok) => {
      firstEnded ??= nowMs();
      if (!ok) failed += 1;
      ended.tick();
    },
  });
  try {
    // Warm-up (not timed): connections and prepared statements of the insert path.
    await session.insert(counts.w1Warmup);
    let insertCalls = 0;
    const insertStart = nowMs();
    for (let done = 0; done < n; done += counts.bulkInsertBatch) {
      await session.insert(Math.min(counts.bulkInsertBatch, n - done));
      insertCalls += 1;
    }
    const insertMs = nowMs() - insertStart;
    if (firstBegan !== null || ended.count() > 0) throw new Error("a job ran before the workers were started");
    const startCalled = nowMs();
    await session.start();
    let last = await ended.reached(total, 600_000);
    if (last === null) throw new Error(`only ${ended.count()} of ${total} jobs ended within 600 s`);
    if (session.stored !== undefined) {
      await session.stored(total);
      last = nowMs();
    }
    const began = firstBegan ?? startCalled;
    const result: W1DrainResult = {
      jobs: total,
      jobsPerSec: (total / (last - began)) * 1000,
      jobsPerSecFromStart: (total / (last - startCalled)) * 1000,
      failed,
      inserted: n,
      insertCalls,
      insertMs,
      insertPerSec: (n / insertMs) * 1000,
      drainMs: last - began,
      startupMs: began - startCalled,
      firstEndedMs: (firstEnded ?? last) - began,
    };
    log(
      `  W1 drain: bulk insert of ${n} in ${insertCalls} call(s): ${fmt(insertMs, 0)} ms, ${fmt(result.insertPerSec, 0)} jobs/s; ` +
        `drained ${total} at ${fmt(result.jobsPerSec, 0)} jobs/s (${fmt(result.drainMs, 0)} ms from the first start; workers' start-up ${fmt(result.startupMs, 0)} ms, then ${fmt(result.firstEndedMs, 0)} ms to the first completion; ${failed} failed)`,
    );
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
 * W3: n running cooperative handlers (each checks its signal every `pollMs`), cancelled
 * - `one-at-a-time`: each call awaited and then one turn of the event loop (run.ts's "W3"
 *   round; handlers check every ~1 ms);
 * - `burst`: all n cancels issued at once, then awaited together (run.ts's "W3 burst";
 *   handlers check every 10 ms, issue 19's definition).
 * Measured: cancel call → handler sees the abort, and → the job is cancelled (or failed, for
 * systems with no cancelled state).
 */
async function w3(open: (concurrency: number, hooks: RunningHooks) => Promise<RunningSession>, label: string, mode: W3Mode, pollMs: number): Promise<W3Result> {
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
      const id = await session.submit(pollMs);
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
    if (mode === "burst") {
      const pending: Array<Promise<void>> = [];
      for (const id of ids) {
        const t0 = nowMs();
        calledAt.set(id, t0);
        pending.push(session.cancel(id).then(() => void calls.push(nowMs() - t0)));
      }
      await Promise.all(pending);
    } else {
      for (const id of ids) {
        const t0 = nowMs();
        calledAt.set(id, t0);
        await session.cancel(id);
        calls.push(nowMs() - t0);
        await new Promise((resolve) => setImmediate(resolve));
      }
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
      mode,
      pollMs,
    };
    log(
      `  ${label} (${mode}, handlers check every ${pollMs} ms): ${result.measured} of ${n} measured; sees abort p50/p99 ${fmt(result.seenP50Ms, 2)} / ${fmt(result.seenP99Ms, 2)} ms; ` +
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

/** The workloads one can name: W1, W1D (drain), W2, W3, W3B (burst), W3X, W3XB (across nodes), W4. */
export const workloadPattern = /^W(1D?|2|3X?B?|4)$/i;
const workloadArgs = process.argv.slice(2).filter((a) => workloadPattern.test(a)).map((a) => a.toUpperCase());
const wanted = (name: string): boolean => workloadArgs.length === 0 || workloadArgs.includes(name);
const skipped: NotAvailable = { na: "not run" };

/** Run every workload on `driver`; progress on stderr, the result as one JSON line on stdout. */
export async function runDriver(make: () => Promise<Driver>): Promise<void> {
  const started = performance.now();
  const driver = await make();
  log(`${driver.label} ${driver.version}${tiny ? " (tiny)" : quick ? " (quick)" : ""}; node ${process.version}, ${availableParallelism()} CPUs`);
  const unavailable = driver.unavailable === undefined ? null : { na: driver.unavailable };
  const result: PeerResult = {
    system: driver.system,
    label: driver.label,
    store: driver.store,
    version: driver.version,
    cancelQueued: driver.cancelQueued,
    cancelRunning: driver.cancelRunning,
    quick: quick || tiny,
    bulkInsert: driver.bulkInsert,
    w1: unavailable ?? (wanted("W1") ? await attempt("W1", () => w1(driver)) : skipped),
    w1d: unavailable ?? (wanted("W1D") ? await attempt("W1 drain", () => w1Drain(driver)) : skipped),
    w2: unavailable ?? (wanted("W2") ? await attempt("W2", () => w2(driver)) : skipped),
    w3: unavailable ?? skipped,
    w3x: unavailable ?? skipped,
    w3b: unavailable ?? skipped,
    w3xb: unavailable ?? skipped,
    w4: skipped,
    seconds: 0,
  };
  if (unavailable === null) {
    const running = driver.running;
    const across = driver.runningAcrossNodes;
    const round = async (name: string, open: Driver["running"], mode: W3Mode): Promise<Outcome<W3Result>> =>
      typeof open === "string" ? { na: open } : attempt(name, () => w3(open, name, mode, mode === "burst" ? counts.w3BurstPollMs : 1));
    if (wanted("W3")) result.w3 = await round("W3", running, "one-at-a-time");
    if (wanted("W3B")) result.w3b = await round("W3 burst", running, "burst");
    if (driver.w3AcrossNodesIsW3 === true) {
      result.w3x = result.w3;
      result.w3xb = result.w3b ?? skipped;
    } else {
      if (wanted("W3X")) result.w3x = await round("W3 across nodes", across, "one-at-a-time");
      if (wanted("W3XB")) result.w3xb = await round("W3 burst across nodes", across, "burst");
    }
    if (wanted("W4")) result.w4 = await attempt("W4", () => w4(driver));
  } else {
    result.w4 = unavailable;
    log(`  not run: ${driver.unavailable}`);
  }
  await driver.close?.();
  result.seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
