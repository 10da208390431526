/**
 * Belay benchmark (`npm run bench`). Prints figures; it is not a test and asserts nothing.
 *
 *   node bench/run.ts [RT BC W1 W2 W3 W4 W1S W2S H0 H1 H2 H3 PW1 PW1x3 PW2 PW3 PW4 PBC] [--quick] [--markdown] [--cpu-prof[=DIR]]
 *
 * RT   round trips to the database per store operation, on SQLite and PostgreSQL (deterministic
 *      counts, printed as their own table; bench/round-trips.ts).
 * BC   bulk cancel of 10,000 queued jobs on SQLite with the statement count (bench/bulk-cancel.ts);
 *      PBC the same on PostgreSQL, with statements and round trips (they include the node's polling).
 * W1   throughput: one-task noop jobs, concurrency 10, first submit → last completion.
 * W2   cancel queued jobs one by one (µs per cancelJob) and in bulk (cancelJobs by status).
 * W3   cancel 50 running cooperative handlers: cancel call → handler sees abort, → job cancelled;
 *      four rounds: cancels one at a time with a loop turn between (the W3 figure), in a tight
 *      awaited loop, all at once, and a diagnostic round whose handlers do not poll.
 * W4   cancel one job out of a queue of 100,000 (median of 100).
 * W1S, W2S   W1 and W2 with `durability: "strict"` (synchronous=FULL).
 * H0–H3  over HTTP on loopback, the server in a child process (bench/http.ts): H0 the floor
 *      (a bare node:http round trip), H1 cancel of a queued job (1,000), H2 submit throughput
 *      with 10 concurrent clients, H3 cancel of a running process task (50). H1 needs H0's
 *      figure, so naming H1 runs H0 too.
 * PW1–PW4  on PostgreSQL (bench/postgres.ts; BELAY_BENCH_PG_URL, default
 *      postgres://postgres@127.0.0.1:5432/test; skipped with a notice when it does not answer):
 *      an API-only node in this process and `belay worker` processes on one fresh schema.
 *      PW1 throughput with 1 worker process, PW1x3 with 3; PW2 cancel queued jobs one by one;
 *      PW3 cancel on the API node of a handler running in a worker process (100, one at a
 *      time); PW4 cancel in a queue of 100,000.
 *
 * With no workload named, all run. `--quick` (or BELAY_BENCH_QUICK=1) scales the counts down.
 * `--markdown` also prints the final table as Markdown. `--cpu-prof[=DIR]` profiles the main
 * thread of the HTTP workloads' Belay server child during each measured phase (profiles in
 * DIR, default under the OS temp directory; summarize with bench/profile-top.ts; the
 * profiler slows the server, so figures of such a run are not the reference ones).
 * Progress goes to stderr.
 */
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Belay } from "../src/engine/engine.ts";
import type { Json } from "../src/core/model.ts";
import { workloadCounts } from "./counts.ts";
import { countEvents, fillQueued, microsSince, nowMs, withEngine } from "./engine.ts";
import { defaultCpuProfDir, h0, h1, h2, h3, httpResults } from "./http.ts";
import type { HttpBenchOptions } from "./http.ts";
import { pgReachable, pw1, pw2, pw3, pw4, settlePgTargets, shownPgUrl } from "./postgres.ts";
import type { PgBenchOptions } from "./postgres.ts";
import { roundTripReport } from "./round-trips.ts";
import { bulkCancelPostgres, bulkCancelSqlite } from "./bulk-cancel.ts";
import { fmt, markdownTable, median, percentile, table } from "./stats.ts";
import type { Row } from "./stats.ts";

type Durability = "normal" | "strict";

const args = process.argv.slice(2);
const quick = args.includes("--quick") || process.env["BELAY_BENCH_QUICK"] === "1";
const markdown = args.includes("--markdown");
const cpuProfArg = args.find((a) => a === "--cpu-prof" || a.startsWith("--cpu-prof="));
const cpuProfDir = cpuProfArg === undefined ? null : cpuProfArg.includes("=") ? cpuProfArg.slice("--cpu-prof=".length) : defaultCpuProfDir;
const allWorkloads = ["RT", "BC", "W1", "W2", "W3", "W4", "W1S", "W2S", "H0", "H1", "H2", "H3", "PW1", "PW1X3", "PW2", "PW3", "PW4", "PBC"] as const;
const pgWorkloads: readonly Workload[] = ["PW1", "PW1X3", "PW2", "PW3", "PW4", "PBC"];
type Workload = (typeof allWorkloads)[number];
const named = args.filter((a) => !a.startsWith("--")).map((a) => a.toUpperCase());
for (const name of named) {
  if (!(allWorkloads as readonly string[]).includes(name)) {
    process.stderr.write(`unknown workload "${name}"; known: ${allWorkloads.join(", ")}\n`);
    process.exit(2);
  }
}
// H1's target is relative to the floor measured in the same run.
if (named.includes("H1") && !named.includes("H0")) named.push("H0");
let selected: Workload[] = named.length > 0 ? allWorkloads.filter((w) => named.includes(w)) : [...allWorkloads];

const counts = workloadCounts(quick);

const rows: Row[] = [];
/** W2's one-by-one p50 per durability, for W4's relative target. */
const w2Median: Partial<Record<Durability, number>> = {};
let w4Median: number | null = null;
/** W4's own p50 with 1,000 queued: the comparison when W2 is not run. */
let w4Baseline: number | null = null;

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function check(value: number, op: "≥" | "≤", limit: number): boolean {
  return op === "≥" ? value >= limit : value <= limit;
}

// ---- W1 ---------------------------------------------------------------------------------

async function w1(durability: Durability): Promise<void> {
  const name = durability === "strict" ? "W1S" : "W1";
  const n = counts.w1Jobs;
  const concurrency = counts.w1Concurrency;
  log(`${name}: throughput, ${n} noop jobs, concurrency ${concurrency}, durability ${durability}`);
  await withEngine({ concurrency, durability }, async (engine) => {
    // Warm-up (not timed): lists the handlers once and starts the handler threads.
    const warm = countEvents(engine, ["belay.job.succeeded", "belay.job.failed"], concurrency, 60_000);
    for (let i = 0; i < concurrency; i += 1) await engine.submitJob({ handler: "noop" });
    await warm.done;

    const ended = countEvents(engine, ["belay.job.succeeded", "belay.job.failed"], n, 600_000);
    let failed = 0;
    const offFailed = engine.on("belay.job.failed", () => (failed += 1));
    const started = nowMs();
    for (let i = 0; i < n; i += 1) await engine.submitJob({ handler: "noop" });
    const submitted = nowMs();
    const last = await ended.done;
    offFailed();
    const completed = ended.count();
    const totalMs = (last ?? nowMs()) - started;
    const rate = (completed / totalMs) * 1000;
    const submitRate = (n / (submitted - started)) * 1000;
    const drainRate = (completed / ((last ?? nowMs()) - submitted)) * 1000;
    log(`  submitted in ${fmt(submitted - started, 0)} ms, all ended after ${fmt(totalMs, 0)} ms; ${completed} ended, ${failed} failed${last === null ? " (TIMED OUT)" : ""}`);
    rows.push(
      {
        workload: name,
        figure: "jobs/s, first submit → last completion (1 sequential submitter)",
        value: `${fmt(rate, 0)} jobs/s${last === null ? " (timed out)" : ""}`,
        target: "≥ 10,000 jobs/s",
        met: last !== null && check(rate, "≥", 10_000),
        reference: "BullMQ ≈ 8,500; graphile-worker ≈ 2,100; pg-boss ≈ 800",
      },
      { workload: name, figure: "submit phase only (sequential awaits)", value: `${fmt(submitRate, 0)} jobs/s`, target: "", met: null, reference: "" },
      { workload: name, figure: "drain phase only (after the last submit)", value: `${fmt(drainRate, 0)} jobs/s`, target: "", met: null, reference: "" },
    );
    if (failed > 0) rows.push({ workload: name, figure: "jobs failed (should be 0)", value: String(failed), target: "", met: null, reference: "" });
  });
}

// ---- W2 ---------------------------------------------------------------------------------

async function w2(durability: Durability): Promise<void> {
  const name = durability === "strict" ? "W2S" : "W2";
  const n = counts.w2Jobs;
  log(`${name}: cancel ${n} queued jobs one by one, then ${n} in bulk; concurrency 0, durability ${durability}`);
  await withEngine({ concurrency: 0, durability }, async (engine) => {
    const fill = await fillQueued(engine, n, 0, name);
    log(`  filled ${n} queued jobs in ${fmt(fill.ms, 0)} ms`);
    const samples: number[] = [];
    let notCancelled = 0;
    for (const id of fill.ids) {
      const t = process.hrtime.bigint();
      const result = await engine.cancelJob(id);
      samples.push(microsSince(t));
      if (result.job.status !== "cancelled") notCancelled += 1;
    }
    const p50 = median(samples);
    const p99 = percentile(samples, 99);
    w2Median[durability] = p50;
    log(`  one by one: p50 ${fmt(p50)} µs, p99 ${fmt(p99)} µs, max ${fmt(percentile(samples, 100))} µs`);

    const bulkFill = await fillQueued(engine, n, 0, name);
    log(`  filled ${n} more queued jobs in ${fmt(bulkFill.ms, 0)} ms`);
    const t = process.hrtime.bigint();
    const bulk = await engine.cancelJobs({ filter: { status: ["queued"] } });
    const bulkMs = microsSince(t) / 1000;
    // The bulk record is finished in the background once its children are; time that too.
    let recordMs = Number.NaN;
    const recordId = bulk.cancellation?.id;
    if (recordId !== undefined) {
      for (;;) {
        const record = await engine.getCancellation(recordId);
        if (record.status !== "in_progress") {
          recordMs = microsSince(t) / 1000;
          break;
        }
        if (microsSince(t) > 60_000_000) break;
        await sleep(1);
      }
    }
    log(`  bulk: ${bulk.cancelled} of ${bulk.matched} cancelled in ${fmt(bulkMs)} ms (record finished after ${fmt(recordMs)} ms)`);
    rows.push(
      {
        workload: name,
        figure: `cancelJob p50, ${n} queued jobs one by one`,
        value: `${fmt(p50)} µs`,
        target: "≤ 50 µs",
        met: check(p50, "≤", 50),
        reference: "BullMQ 410 µs; graphile-worker 550 µs; pg-boss 840 µs",
      },
      { workload: name, figure: "cancelJob p99", value: `${fmt(p99)} µs`, target: "≤ 200 µs", met: check(p99, "≤", 200), reference: "" },
      {
        workload: name,
        figure: `cancelJobs bulk, ${bulk.matched} queued (call returns)`,
        value: `${fmt(bulkMs)} ms`,
        target: "≤ 50 ms",
        met: bulk.cancelled === n && check(bulkMs, "≤", 50),
        reference: "50–185 ms",
      },
      { workload: name, figure: "bulk record finished (background)", value: `${fmt(recordMs)} ms`, target: "", met: null, reference: "" },
    );
    if (notCancelled > 0) rows.push({ workload: name, figure: "one-by-one jobs not cancelled (should be 0)", value: String(notCancelled), target: "", met: null, reference: "" });
  });
}

// ---- W3 ---------------------------------------------------------------------------------

interface W3Sample {
  callMs: number;
  deliveredMs: number;
  seenMs: number;
  cancelledMs: number;
}

/**
 * How the 50 cancels are issued:
 * - `sequential`: one after another, each awaited, then one turn of the event loop
 *   (`setImmediate`) before the next, as when each cancel is its own incoming request;
 * - `back-to-back`: each awaited, no turn of the event loop in between (a tight library loop:
 *   `cancelJob` resolves through microtasks only, so nothing else runs until the loop ends);
 * - `burst`: all issued at once, then awaited together.
 */
type W3Mode = "sequential" | "back-to-back" | "burst";

async function w3Round(engine: Belay, handler: string, mode: W3Mode, n: number): Promise<{ samples: W3Sample[]; missing: number; cpuPercent: number }> {
  const ids: string[] = [];
  const idSet = new Set<string>();
  const running = countEvents(engine, ["belay.task.progress"], n, 120_000, (e) => idSet.has(e.subject));
  for (let i = 0; i < n; i += 1) {
    const id = (await engine.submitJob({ handler })).id;
    ids.push(id);
    idSet.add(id);
  }
  if ((await running.done) === null) log(`  W3 ${mode}: only ${running.count()} of ${n} handlers started within 120 s`);
  await sleep(200); // let the threads settle into their loops
  // CPU the process uses while the handlers run and nothing else happens (their polling).
  const cpuBefore = process.cpuUsage();
  const wallBefore = nowMs();
  await sleep(500);
  const cpu = process.cpuUsage(cpuBefore);
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / (nowMs() - wallBefore)) * 100;

  const cancelledAt = new Map<string, number>();
  const allCancelled = countEvents(engine, ["belay.job.cancelled"], n, 60_000, (e) => {
    if (!idSet.has(e.subject)) return false;
    cancelledAt.set(e.subject, nowMs());
    return true;
  });
  const calledAt = new Map<string, number>();
  const returnedAt = new Map<string, number>();
  if (mode === "burst") {
    const calls: Array<Promise<void>> = [];
    for (const id of ids) {
      calledAt.set(id, nowMs());
      calls.push(engine.cancelJob(id).then(() => void returnedAt.set(id, nowMs())));
    }
    await Promise.all(calls);
  } else {
    for (const id of ids) {
      calledAt.set(id, nowMs());
      await engine.cancelJob(id);
      returnedAt.set(id, nowMs());
      if (mode === "sequential") await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if ((await allCancelled.done) === null) log(`  W3 ${mode}: only ${allCancelled.count()} of ${n} jobs cancelled within 60 s`);

  const samples: W3Sample[] = [];
  let missing = 0;
  for (const id of ids) {
    const job = await engine.getJob(id);
    const output = job.tasks[0]?.output as { [key: string]: Json } | null | undefined;
    const seen = output?.["sawAbortAt"];
    const delivered = output?.["abortEventAt"];
    const t0 = calledAt.get(id);
    const tc = cancelledAt.get(id);
    if (typeof seen !== "number" || typeof delivered !== "number" || t0 === undefined || tc === undefined) {
      missing += 1;
      continue;
    }
    samples.push({ callMs: (returnedAt.get(id) ?? Number.NaN) - t0, deliveredMs: delivered - t0, seenMs: seen - t0, cancelledMs: tc - t0 });
  }
  return { samples, missing, cpuPercent };
}

async function w3(): Promise<void> {
  const n = counts.w3Jobs;
  const concurrency = n + 10;
  log(`W3: cancel ${n} running cooperative handlers (1 ms signal checks); concurrency ${concurrency}, ${concurrency} handler threads`);
  const rounds: Array<{ label: string; handler: string; mode: W3Mode; how: string; targets: boolean }> = [
    { label: "W3", handler: "cooperative", mode: "sequential", how: "one cancel at a time, a loop turn between", targets: true },
    { label: "W3 back-to-back", handler: "cooperative", mode: "back-to-back", how: "one cancel at a time, awaited in a tight loop", targets: true },
    { label: "W3 burst", handler: "cooperative", mode: "burst", how: `all ${n} cancels issued at once`, targets: true },
    { label: "W3 diag", handler: "awaitAbort", mode: "sequential", how: "as W3, handlers wait for the abort event (no polling)", targets: false },
  ];
  await withEngine({ concurrency, maxHandlerThreads: concurrency }, async (engine) => {
    for (const round of rounds) {
      const { samples, missing, cpuPercent } = await w3Round(engine, round.handler, round.mode, n);
      const pick = (k: keyof W3Sample): number[] => samples.map((s) => s[k]);
      const seen = pick("seenMs");
      const cancelled = pick("cancelledMs");
      const delivered = pick("deliveredMs");
      const call = pick("callMs");
      const both = (values: number[]): string => `${fmt(median(values), 2)} / ${fmt(percentile(values, 99), 2)} ms`;
      log(
        `  ${round.label} (${round.handler}, ${round.mode}): ${samples.length} measured, ${missing} missing; process CPU while the handlers run ${fmt(cpuPercent, 0)}% of a core; ` +
          `cancelJob returns p50/p99 ${both(call)}; abort event in thread ${both(delivered)}; seen ${both(seen)}; job cancelled ${both(cancelled)}`,
      );
      const label = round.label;
      const complete = samples.length === n;
      rows.push(
        { workload: label, figure: `${round.how}; CPU of the process while ${n} handlers run`, value: `${fmt(cpuPercent, 0)}% of a core`, target: "", met: null, reference: "" },
        { workload: label, figure: "cancelJob call returns, p50 / p99", value: both(call), target: "", met: null, reference: "" },
        { workload: label, figure: "cancel → abort event fires in the handler's thread, p50 / p99", value: both(delivered), target: "", met: null, reference: "" },
        { workload: label, figure: "cancel → handler sees abort, p50", value: `${fmt(median(seen), 2)} ms`, target: "", met: null, reference: round.targets ? "BullMQ 7 ms" : "" },
        {
          workload: label,
          figure: "cancel → handler sees abort, p99",
          value: `${fmt(percentile(seen, 99), 2)} ms`,
          target: round.targets ? "≤ 5 ms" : "",
          met: round.targets ? complete && check(percentile(seen, 99), "≤", 5) : null,
          reference: round.targets ? "BullMQ 12 ms" : "",
        },
        { workload: label, figure: "cancel → job cancelled, p50", value: `${fmt(median(cancelled), 2)} ms`, target: "", met: null, reference: "" },
        {
          workload: label,
          figure: "cancel → job cancelled, p99",
          value: `${fmt(percentile(cancelled, 99), 2)} ms`,
          target: round.targets ? "≤ 10 ms" : "",
          met: round.targets ? complete && check(percentile(cancelled, 99), "≤", 10) : null,
          reference: "",
        },
      );
      if (missing > 0) rows.push({ workload: label, figure: "jobs without a measurement (should be 0)", value: String(missing), target: "", met: null, reference: "" });
    }
  });
}

// ---- W4 ---------------------------------------------------------------------------------

async function w4(): Promise<void> {
  const size = counts.w4Queue;
  const cancels = counts.w4Cancels;
  const warmup = 10;
  const baselineQueue = 1_000;
  log(`W4: cancel ${cancels} jobs, one at a time, out of ${size.toLocaleString("en-US")} queued; concurrency 0`);
  await withEngine({ concurrency: 0 }, async (engine) => {
    // Baseline on the same engine with a small queue, so that W4 stands on its own when W2 is not run.
    const small = await fillQueued(engine, baselineQueue + warmup + cancels, 0, "W4 baseline");
    for (let i = 0; i < warmup; i += 1) await engine.cancelJob(small.ids[i] as string);
    const baseline: number[] = [];
    for (let i = 0; i < cancels; i += 1) {
      const t = process.hrtime.bigint();
      await engine.cancelJob(small.ids[warmup + i * Math.floor(baselineQueue / cancels)] as string);
      baseline.push(microsSince(t));
    }
    w4Baseline = median(baseline);
    log(`  baseline with ${baselineQueue.toLocaleString("en-US")} queued: p50 ${fmt(w4Baseline)} µs`);
    const fill = await fillQueued(engine, size, 10_000, "W4 fill");
    log(`  filled ${size.toLocaleString("en-US")} queued jobs in ${fmt(fill.ms / 1000, 1)} s (${fmt((size / fill.ms) * 1000, 0)} jobs/s)`);
    // Spread over the whole queue: ids at evenly spaced positions; the warm-up ones are next to them.
    const step = Math.floor(size / cancels);
    for (let i = 0; i < warmup; i += 1) await engine.cancelJob(fill.ids[i * step + 1] as string);
    const samples: number[] = [];
    for (let i = 0; i < cancels; i += 1) {
      const id = fill.ids[i * step + Math.floor(step / 2)] as string;
      const t = process.hrtime.bigint();
      await engine.cancelJob(id);
      samples.push(microsSince(t));
    }
    const p50 = median(samples);
    w4Median = p50;
    log(`  p50 ${fmt(p50)} µs, p99 ${fmt(percentile(samples, 99))} µs`);

    // The engine's periodic sweep (every pollIntervalMs, default 100 ms) runs on the same
    // thread: time its query directly, and the event loop's delay while the engine idles.
    const sweeps: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const t = process.hrtime.bigint();
      await engine.store.expiredJobs(Date.now(), 100);
      sweeps.push(microsSince(t) / 1000);
    }
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    await sleep(2_000);
    loop.disable();
    const loopP99 = loop.percentile(99) / 1e6;
    const loopMax = loop.max / 1e6;
    log(`  timeout sweep query: p50 ${fmt(median(sweeps), 2)} ms; idle event-loop delay p99 ${fmt(loopP99, 1)} ms, max ${fmt(loopMax, 1)} ms`);
    rows.push(
      { workload: "W4", figure: `fill ${size.toLocaleString("en-US")} queued jobs (sequential submits)`, value: `${fmt(fill.ms / 1000, 1)} s`, target: "", met: null, reference: "" },
      // `met` of the p50 row is settled at the end, against W2's p50.
      { workload: "W4", figure: `cancelJob p50 of ${cancels} (after ${warmup} warm-up cancels)`, value: `${fmt(p50)} µs`, target: "≤ 2 × W2 p50", met: null, reference: "0.6–1.4 ms" },
      { workload: "W4", figure: "cancelJob p99", value: `${fmt(percentile(samples, 99))} µs`, target: "", met: null, reference: "" },
      { workload: "W4", figure: `for comparison: cancelJob p50 on the same engine with ${baselineQueue.toLocaleString("en-US")} queued`, value: `${fmt(w4Baseline)} µs`, target: "", met: null, reference: "" },
      { workload: "W4", figure: `timeout sweep query (store.expiredJobs), run every 100 ms, with ${size.toLocaleString("en-US")} queued`, value: `${fmt(median(sweeps), 2)} ms`, target: "", met: null, reference: "" },
      { workload: "W4", figure: "event-loop delay while the engine idles (2 s), p99 / max", value: `${fmt(loopP99, 1)} / ${fmt(loopMax, 1)} ms`, target: "", met: null, reference: "" },
    );
  });
}

// ---- main -------------------------------------------------------------------------------

const httpOptions: HttpBenchOptions = { quick, cpuProfDir, rows, log };
const pgOptions: PgBenchOptions = { counts, rows, log };

/** RT's table, printed after the figures. */
let roundTripTable: string | null = null;

const runners: Record<Workload, () => Promise<void>> = {
  RT: async () => {
    roundTripTable = await roundTripReport(log);
  },
  BC: () => bulkCancelSqlite({ jobs: counts.w2Jobs, rows, log }),
  W1: () => w1("normal"),
  W2: () => w2("normal"),
  W3: () => w3(),
  W4: () => w4(),
  W1S: () => w1("strict"),
  W2S: () => w2("strict"),
  H0: () => h0(httpOptions),
  H1: () => h1(httpOptions),
  H2: () => h2(httpOptions),
  H3: () => h3(httpOptions),
  PW1: () => pw1(pgOptions, 1),
  PW1X3: () => pw1(pgOptions, 3),
  PW2: () => pw2(pgOptions),
  PW3: () => pw3(pgOptions),
  PW4: () => pw4(pgOptions),
  PBC: () => bulkCancelPostgres({ jobs: counts.pw2Jobs, rows, log }),
};

if (selected.some((w) => pgWorkloads.includes(w))) {
  const pg = await pgReachable();
  if ("error" in pg) {
    const skipped = selected.filter((w) => pgWorkloads.includes(w));
    log(`PostgreSQL not reachable at ${shownPgUrl()} (${pg.error}): ${skipped.join(", ")} skipped (set BELAY_BENCH_PG_URL)`);
    selected = selected.filter((w) => !pgWorkloads.includes(w));
    rows.push({ workload: skipped.join(" "), figure: "skipped: PostgreSQL not reachable", value: shownPgUrl(), target: "", met: null, reference: "" });
  } else log(`PostgreSQL ${pg.version} at ${shownPgUrl()}`);
}

const cpu = cpus()[0]?.model ?? "unknown CPU";
log(`Belay bench: ${selected.join(" ")}${quick ? " (quick)" : ""}; node ${process.version}, ${availableParallelism()} CPUs (${cpu}), ${fmt(totalmem() / 2 ** 30, 1)} GiB`);
const startedAll = performance.now();
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadAtStart = load();
for (const workload of selected) {
  log(`[load average ${load()}]`);
  try {
    await runners[workload]();
  } catch (error) {
    log(`${workload} failed: ${(error as Error).stack ?? String(error)}`);
    rows.push({ workload, figure: "error", value: (error as Error).message, target: "", met: false, reference: "" });
  }
}

if (w4Median !== null) {
  const row = rows.find((r) => r.workload === "W4" && r.figure.startsWith("cancelJob p50"));
  const base = w2Median.normal;
  if (row !== undefined) {
    if (base === undefined) {
      if (w4Baseline !== null) {
        row.target = `≤ 2 × p50 with 1,000 queued (W2 not run) = ${fmt(2 * w4Baseline)} µs`;
        row.met = check(w4Median, "≤", 2 * w4Baseline);
      } else row.target = "≤ 2 × W2 p50 (W2 not run)";
    } else {
      row.target = `≤ 2 × W2 p50 = ${fmt(2 * base)} µs`;
      row.met = check(w4Median, "≤", 2 * base);
    }
  }
}

settlePgTargets(rows);

if (httpResults.cancelP50 !== null) {
  const floor = httpResults.floorP50;
  const cancel = httpResults.cancelP50;
  const p50Row = rows.find((r) => r.workload === "H1" && r.figure.startsWith("POST /jobs/{id}/cancel"));
  const ratioRow = rows.find((r) => r.workload === "H1" && r.figure.startsWith("cancel p50 / H0 floor p50"));
  if (floor === null) {
    if (p50Row !== undefined) p50Row.target = "≤ 1.5 × H0 floor p50 (H0 failed)";
  } else {
    if (p50Row !== undefined) {
      p50Row.target = `≤ 1.5 × H0 floor p50 = ${fmt(1.5 * floor, 3)} ms`;
      p50Row.met = check(cancel, "≤", 1.5 * floor);
    }
    if (ratioRow !== undefined) {
      ratioRow.value = `${fmt(cancel / floor, 2)}× (floor ${fmt(floor, 3)} ms)`;
      ratioRow.met = check(cancel / floor, "≤", 1.5);
    }
  }
}

const header = ["workload", "figure", "measured", "target", "met?", "established queues (same machine)"];
const cells = rows.map((r) => [r.workload, r.figure, r.value, r.target, r.met === null ? "" : r.met ? "yes" : "no", r.reference]);
process.stdout.write(`\nBelay benchmark${quick ? " (--quick: scaled-down counts)" : ""} — node ${process.version}, ${availableParallelism()} CPUs, total ${fmt((performance.now() - startedAll) / 1000, 1)} s; load average at start ${loadAtStart}, at end ${load()}\n\n`);
process.stdout.write(`${table(header, cells)}\n`);
if (markdown) process.stdout.write(`\n${markdownTable(header, cells)}\n`);
if (roundTripTable !== null) process.stdout.write(`\nRound trips per operation (RT):\n\n${roundTripTable}\n`);
