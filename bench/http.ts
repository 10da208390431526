/**
 * The HTTP workloads of the benchmark (H0–H3): Belay's server in a child process
 * (bench/http-server.ts), driven over loopback by this process with the global `fetch`
 * (undici; keep-alive by default). See bench/run.ts for the CLI and docs/benchmarks.md.
 *
 * H0   floor: a minimal node:http server (also a child process) answering {} to the same
 *      client, POST with a JSON body and a bearer token like a cancel; p50/p99 of 1,000.
 * H1   cancel queued jobs over HTTP: server at concurrency 0, 1,000 jobs submitted first,
 *      then POST /api/v1/jobs/{id}/cancel one by one; p50/p99; target p50 ≤ 1.5 × H0's p50.
 *      Also the floor again, interleaved request by request with the cancels, and a ladder of
 *      cheaper requests to the same server (GET /healthz, GET /api/v1/jobs/{id}).
 * H2   submit throughput: 10 concurrent client loops POSTing `{command: ["true"]}`, server at
 *      concurrency 0 (pure API throughput); jobs/s.
 * H3   cancel running process tasks (a shell that exits on SIGTERM): 50 running at once,
 *      cancelled one at a time with `{wait: true}` (the response comes when the job is
 *      terminal); cancel request → `cancelled`, p50/p99.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { ServerStats, TimingSummary } from "./http-server.ts";
import { fmt, median, percentile } from "./stats.ts";
import type { Row } from "./stats.ts";

export interface HttpBenchOptions {
  quick: boolean;
  /** Profile the Belay server child's main thread during each measured phase; profiles go to this directory. */
  cpuProfDir: string | null;
  rows: Row[];
  log: (message: string) => void;
}

const serverScript = new URL("./http-server.ts", import.meta.url).pathname;

/** The shell a running-cancel task runs: exits 0 on SIGTERM. Belay signals the whole process
 * group, so the `sleep` child dies with it and the trap runs at once. `sleep 1` rather than
 * `sleep 0.05`: 50 shells forking a sleep every 50 ms would take most of the two cores. */
export const runningTaskCommand = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];

// ---- server children --------------------------------------------------------------------

interface ServerChild {
  url: string;
  token: string;
  pid: number;
  /** Server-side timings since the previous call (or the start). */
  stats(): Promise<ServerStats>;
  /** Start the CPU profiler on the server's main thread when `dir` is not null. */
  profile(dir: string | null): Promise<void>;
  /** Stop it and write `<dir>/<name>-<time>.cpuprofile`; logs the path. */
  profileStop(dir: string | null, name: string, log: (m: string) => void): Promise<void>;
  close(): Promise<void>;
}

async function startChild(args: string[], label: string): Promise<ServerChild> {
  const child: ChildProcess = spawn(process.execPath, [serverScript, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  const buffered: string[] = [];
  lines.on("line", (line) => {
    const next = waiting.shift();
    if (next !== undefined) next(line);
    else buffered.push(line);
  });
  const nextLine = (timeoutMs: number): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const line = buffered.shift();
      if (line !== undefined) return resolve(line);
      const waiter = (l: string): void => {
        clearTimeout(timer);
        resolve(l);
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(waiter), 1);
        reject(new Error(`${label}: no answer from the server child within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.push(waiter);
      void exited.then(() => reject(new Error(`${label}: the server child exited`)));
    });
  let hello: { url: string; token: string; pid: number };
  try {
    hello = JSON.parse(await nextLine(60_000)) as { url: string; token: string; pid: number };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    ...hello,
    async stats() {
      child.stdin!.write("stats\n");
      return JSON.parse(await nextLine(10_000)) as ServerStats;
    },
    async profile(dir) {
      if (dir === null) return;
      child.stdin!.write("profile\n");
      await nextLine(10_000);
    },
    async profileStop(dir, name, log) {
      if (dir === null) return;
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${name}-${Date.now()}.cpuprofile`);
      child.stdin!.write(`profile-stop ${path}\n`);
      const answer = JSON.parse(await nextLine(60_000)) as { path?: string; error?: string };
      log(answer.path === undefined ? `  (profile failed: ${answer.error ?? "?"})` : `  CPU profile of the server's main thread: ${answer.path} (node bench/profile-top.ts ${answer.path})`);
    },
    async close() {
      child.stdin!.end();
      const timedOut = await Promise.race([exited.then(() => false), sleep(30_000, true, { ref: false })]);
      if (timedOut) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

async function withServer<T>(args: string[], label: string, fn: (server: ServerChild) => Promise<T>): Promise<T> {
  const server = await startChild(args, label);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

// ---- client -----------------------------------------------------------------------------

interface Reply {
  status: number;
  body: unknown;
  /** fetch called → response body read to the end, in ms (JSON parsing not included). */
  ms: number;
}

async function call(server: ServerChild, method: "GET" | "POST", path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${server.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  const t = performance.now();
  const response = await fetch(`${server.url}${path}`, init);
  const text = await response.text();
  const ms = performance.now() - t;
  return { status: response.status, body: text === "" ? null : (JSON.parse(text) as unknown), ms };
}

interface JobBody {
  job: { id: string; status: string; tasks: Array<{ status: string; startedAt: string | null }> };
}

function jobOf(reply: Reply, what: string): JobBody["job"] {
  const job = (reply.body as Partial<JobBody> | null)?.job;
  if (job === undefined) throw new Error(`${what}: HTTP ${reply.status}: ${JSON.stringify(reply.body).slice(0, 300)}`);
  return job;
}

async function submit(server: ServerChild, spec: unknown): Promise<string> {
  const reply = await call(server, "POST", "/api/v1/jobs", spec);
  if (reply.status !== 201) throw new Error(`submit: HTTP ${reply.status}: ${JSON.stringify(reply.body).slice(0, 300)}`);
  return jobOf(reply, "submit").id;
}

const ms = (value: number): string => `${fmt(value, 3)} ms`;
const both = (samples: number[]): string => `${fmt(median(samples), 3)} / ${fmt(percentile(samples, 99), 3)} ms`;
const summary = (s: TimingSummary | undefined): string => (s === undefined ? "n/a" : `p50 ${fmt(s.p50, 3)} ms, p99 ${fmt(s.p99, 3)} ms (${s.count})`);

function logStats(log: (m: string) => void, stats: ServerStats, requests: number): void {
  for (const [key, s] of Object.entries(stats.requests)) log(`    server: ${key}: ${summary(s)}`);
  for (const [key, s] of Object.entries(stats.calls)) log(`    server: ${key}: ${summary(s)}`);
  const per = (v: number): string => (requests > 0 ? `, ${fmt((v / requests) * 1000, 0)} µs per request` : "");
  log(`    server CPU (all threads): ${fmt(stats.cpuMs, 0)} ms over ${fmt(stats.wallMs, 0)} ms wall (${fmt((stats.cpuMs / stats.wallMs) * 100, 0)}% of a core)${per(stats.cpuMs)}`);
  log(`    server main thread busy: ${fmt(stats.mainBusyMs, 0)} ms (${fmt((stats.mainBusyMs / stats.wallMs) * 100, 0)}%)${per(stats.mainBusyMs)}`);
}

/** The floor: POST / with a JSON body and a bearer token, as a cancel is sent. */
const floorRequest = (floor: ServerChild): Promise<Reply> => call(floor, "POST", "/", {});

// ---- workloads --------------------------------------------------------------------------

export interface HttpResults {
  /** H0's p50 (ms), for H1's target. */
  floorP50: number | null;
  cancelP50: number | null;
}

export const httpResults: HttpResults = { floorP50: null, cancelP50: null };

const counts = (quick: boolean) => ({
  floor: 1_000,
  cancels: 1_000,
  warmup: quick ? 50 : 100,
  ladder: quick ? 200 : 500,
  submits: quick ? 1_000 : 5_000,
  submitClients: 10,
  running: quick ? 20 : 50,
});

export async function h0(options: HttpBenchOptions): Promise<void> {
  const { log, rows } = options;
  const c = counts(options.quick);
  log(`H0: floor: a minimal node:http server (child process) answering {}; ${c.floor} sequential POSTs with fetch after ${c.warmup} warm-up`);
  await withServer(["floor"], "H0-floor", async (floor) => {
    for (let i = 0; i < c.warmup; i += 1) await floorRequest(floor);
    await floor.stats();
    const samples: number[] = [];
    for (let i = 0; i < c.floor; i += 1) samples.push((await floorRequest(floor)).ms);
    const stats = await floor.stats();
    httpResults.floorP50 = median(samples);
    log(`  round trip p50 / p99 ${both(samples)}, max ${ms(percentile(samples, 100))}`);
    logStats(log, stats, c.floor);
    rows.push(
      { workload: "H0", figure: `floor: POST {} → {} round trip (node:http child, fetch), p50 of ${c.floor}`, value: ms(median(samples)), target: "", met: null, reference: "" },
      { workload: "H0", figure: "floor round trip p99", value: ms(percentile(samples, 99)), target: "", met: null, reference: "" },
      { workload: "H0", figure: "floor: server side (request event → response finished), p50", value: ms(stats.requests["POST /"]?.p50 ?? Number.NaN), target: "", met: null, reference: "" },
    );
  });
}

export async function h1(options: HttpBenchOptions): Promise<void> {
  const { log, rows } = options;
  const c = counts(options.quick);
  const n = c.cancels;
  log(`H1: cancel ${n} queued jobs over HTTP one by one (server concurrency 0), ${c.warmup} warm-up cancels first; the floor interleaved`);
  await withServer(["floor"], "H1-floor", async (floor) => {
    await withServer(["belay", "0"], "H1-belay", async (server) => {
      const ids: string[] = [];
      const filled = performance.now();
      for (let i = 0; i < n + c.warmup; i += 1) ids.push(await submit(server, { command: ["true"] }));
      log(`  submitted ${ids.length} jobs in ${fmt(performance.now() - filled, 0)} ms`);
      for (let i = 0; i < c.warmup; i += 1) {
        await floorRequest(floor);
        await call(server, "POST", `/api/v1/jobs/${ids[i]}/cancel`, {});
      }
      await server.stats();
      await floor.stats();
      await server.profile(options.cpuProfDir);

      const samples: number[] = [];
      const floorSamples: number[] = [];
      let notCancelled = 0;
      for (const id of ids.slice(c.warmup)) {
        floorSamples.push((await floorRequest(floor)).ms);
        const reply = await call(server, "POST", `/api/v1/jobs/${id}/cancel`, {});
        samples.push(reply.ms);
        if (reply.status !== 200 || jobOf(reply, "cancel").status !== "cancelled") notCancelled += 1;
      }
      const stats = await server.stats();
      await server.profileStop(options.cpuProfDir, "H1-cancel-queued", log);
      const p50 = median(samples);
      httpResults.cancelP50 = p50;
      log(`  cancel round trip p50 / p99 ${both(samples)}, max ${ms(percentile(samples, 100))}; floor interleaved ${both(floorSamples)}; ${notCancelled} not cancelled`);
      logStats(log, stats, n);
      const serverCancel = stats.requests["POST /api/v1/jobs/:id/cancel"];

      // A ladder of cheaper requests to the same server: where between the floor and a cancel the time goes.
      const health: number[] = [];
      for (let i = 0; i < c.ladder; i += 1) health.push((await call(server, "GET", "/healthz")).ms);
      const read: number[] = [];
      for (let i = 0; i < c.ladder; i += 1) read.push((await call(server, "GET", `/api/v1/jobs/${ids[c.warmup + i]}`)).ms);
      const ladder = await server.stats();
      log(`  ladder: GET /healthz ${both(health)}; GET /api/v1/jobs/{id} ${both(read)}`);
      logStats(log, ladder, 2 * c.ladder);

      rows.push(
        // `target`/`met` of the p50 row are settled in run.ts against H0's p50.
        { workload: "H1", figure: `POST /jobs/{id}/cancel, queued job, round trip p50 of ${n}`, value: ms(p50), target: "≤ 1.5 × H0 floor p50", met: null, reference: "in-process library calls: BullMQ 0.41 ms; graphile-worker 0.55 ms; pg-boss 0.84 ms" },
        { workload: "H1", figure: "cancel round trip p99", value: ms(percentile(samples, 99)), target: "", met: null, reference: "" },
        { workload: "H1", figure: "cancel p50 / H0 floor p50", value: "n/a", target: "≤ 1.5×", met: null, reference: "" },
        { workload: "H1", figure: "for comparison: the floor interleaved with the cancels, p50 / p99", value: both(floorSamples), target: "", met: null, reference: "" },
        { workload: "H1", figure: "server side of a cancel (request event → response finished), p50 / p99", value: serverCancel === undefined ? "n/a" : `${fmt(serverCancel.p50, 3)} / ${fmt(serverCancel.p99, 3)} ms`, target: "", met: null, reference: "" },
        { workload: "H1", figure: "  of which engine.cancelJob, p50", value: ms(stats.calls["engine.cancelJob"]?.p50 ?? Number.NaN), target: "", met: null, reference: "" },
        { workload: "H1", figure: "  of which engine.getJob (owner check), p50", value: ms(stats.calls["engine.getJob"]?.p50 ?? Number.NaN), target: "", met: null, reference: "" },
        { workload: "H1", figure: "  of which store.findToken (bearer auth), p50", value: ms(stats.calls["store.findToken (auth)"]?.p50 ?? Number.NaN), target: "", met: null, reference: "" },
        { workload: "H1", figure: "server per cancel: CPU of all threads / main thread busy", value: `${fmt((stats.cpuMs / n) * 1000, 0)} / ${fmt((stats.mainBusyMs / n) * 1000, 0)} µs`, target: "", met: null, reference: "" },
        { workload: "H1", figure: `ladder: GET /healthz (no auth, no store) round trip, p50 of ${c.ladder}`, value: ms(median(health)), target: "", met: null, reference: "" },
        { workload: "H1", figure: `ladder: GET /api/v1/jobs/{id} round trip, p50 of ${c.ladder}`, value: ms(median(read)), target: "", met: null, reference: "" },
      );
      if (notCancelled > 0) rows.push({ workload: "H1", figure: "jobs not cancelled (should be 0)", value: String(notCancelled), target: "", met: null, reference: "" });
    });
  });
}

export async function h2(options: HttpBenchOptions): Promise<void> {
  const { log, rows } = options;
  const c = counts(options.quick);
  const n = c.submits;
  const clients = c.submitClients;
  log(`H2: submit throughput over HTTP: ${n} jobs {command: ["true"]} from ${clients} concurrent client loops; server concurrency 0`);
  await withServer(["belay", "0"], "H2-belay", async (server) => {
    const spec = { command: ["true"] };
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let i = 0; i < c.warmup / 10; i += 1) await submit(server, spec);
    }));
    await server.stats();
    await server.profile(options.cpuProfDir);
    let next = 0;
    let failed = 0;
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < n) {
          next += 1;
          const reply = await call(server, "POST", "/api/v1/jobs", spec);
          latencies.push(reply.ms);
          if (reply.status !== 201) failed += 1;
        }
      }),
    );
    const elapsed = performance.now() - started;
    const stats = await server.stats();
    await server.profileStop(options.cpuProfDir, "H2-submit", log);
    const rate = (n / elapsed) * 1000;
    log(`  ${n} submitted in ${fmt(elapsed, 0)} ms: ${fmt(rate, 0)} jobs/s; request p50 / p99 ${both(latencies)}; ${failed} failed`);
    logStats(log, stats, n);
    rows.push(
      { workload: "H2", figure: `POST /jobs, ${clients} concurrent clients, ${n} jobs: throughput`, value: `${fmt(rate, 0)} jobs/s`, target: "", met: null, reference: "" },
      { workload: "H2", figure: "submit round trip under that load, p50 / p99", value: both(latencies), target: "", met: null, reference: "" },
      { workload: "H2", figure: "server side of a submit, p50 / p99; of which engine.submit p50", value: `${fmt(stats.requests["POST /api/v1/jobs"]?.p50 ?? Number.NaN, 3)} / ${fmt(stats.requests["POST /api/v1/jobs"]?.p99 ?? Number.NaN, 3)} ms; ${ms(stats.calls["engine.submit"]?.p50 ?? Number.NaN)}`, target: "", met: null, reference: "" },
      { workload: "H2", figure: "server CPU per submit (and of a core during the run)", value: `${fmt((stats.cpuMs / n) * 1000, 0)} µs (${fmt((stats.cpuMs / stats.wallMs) * 100, 0)}%)`, target: "", met: null, reference: "" },
    );
    if (failed > 0) rows.push({ workload: "H2", figure: "submits not answered 201 (should be 0)", value: String(failed), target: "", met: null, reference: "" });
  });
}

interface StepBody {
  cancellation: { steps: Array<{ name: string; status: string; startedAt: string | null; finishedAt: string | null }> };
}

export async function h3(options: HttpBenchOptions): Promise<void> {
  const { log, rows } = options;
  const c = counts(options.quick);
  const n = c.running;
  const warmup = 3;
  const concurrency = n + warmup + 7;
  log(`H3: cancel ${n} running process tasks over HTTP one at a time, {wait: true}, after ${warmup} warm-up cancels; server concurrency ${concurrency}; task ${JSON.stringify(runningTaskCommand)}`);
  await withServer(["belay", String(concurrency)], "H3-belay", async (server) => {
    const all: string[] = [];
    for (let i = 0; i < n + warmup; i += 1) all.push(await submit(server, { command: runningTaskCommand }));
    // Wait until every job runs (GET /jobs/{id}), then let the shells install their trap.
    const deadline = performance.now() + 120_000;
    const pending = new Set(all);
    while (pending.size > 0 && performance.now() < deadline) {
      for (const id of [...pending]) {
        const job = jobOf(await call(server, "GET", `/api/v1/jobs/${id}`), "get");
        if (job.status === "running" && job.tasks[0]?.status === "running") pending.delete(id);
        else if (job.status !== "queued") throw new Error(`H3: job ${id} is ${job.status} before any cancel`);
      }
      if (pending.size > 0) await sleep(20);
    }
    if (pending.size > 0) throw new Error(`H3: only ${all.length - pending.size} of ${all.length} jobs running after 120 s`);
    await sleep(500);
    // Warm-up: the first cancel of a fresh server compiles the response's serializer (~10 ms).
    for (const id of all.slice(0, warmup)) await call(server, "POST", `/api/v1/jobs/${id}/cancel`, { wait: true });
    const ids = all.slice(warmup);
    await server.stats();
    await server.profile(options.cpuProfDir);

    const samples: number[] = [];
    let notCancelled = 0;
    for (const id of ids) {
      const reply = await call(server, "POST", `/api/v1/jobs/${id}/cancel`, { wait: true });
      samples.push(reply.ms);
      if (reply.status !== 200 || jobOf(reply, "cancel").status !== "cancelled") {
        notCancelled += 1;
        log(`  job ${id}: HTTP ${reply.status}, job ${jobOf(reply, "cancel").status}`);
      }
    }
    const stats = await server.stats();
    await server.profileStop(options.cpuProfDir, "H3-cancel-running", log);
    log(`  cancel → cancelled round trip p50 / p99 ${both(samples)}, max ${ms(percentile(samples, 100))}; ${notCancelled} not cancelled`);
    logStats(log, stats, n);

    // Where the time goes inside: the record's steps (ISO timestamps, ms resolution).
    const stepMs = new Map<string, number[]>();
    for (const id of ids) {
      const reply = await call(server, "GET", `/api/v1/jobs/${id}/cancellation`);
      for (const step of (reply.body as StepBody).cancellation.steps) {
        if (step.startedAt === null || step.finishedAt === null) continue;
        const list = stepMs.get(step.name) ?? [];
        list.push(Date.parse(step.finishedAt) - Date.parse(step.startedAt));
        stepMs.set(step.name, list);
      }
    }
    const steps = [...stepMs].map(([name, list]) => `${name} ${fmt(median(list), 0)}`).join(", ");
    log(`  cancellation steps, p50 ms: ${steps}`);
    const serverCancel = stats.requests["POST /api/v1/jobs/:id/cancel"];
    rows.push(
      { workload: "H3", figure: `POST /jobs/{id}/cancel {wait: true}, running process task → cancelled, p50 of ${n}`, value: ms(median(samples)), target: "", met: null, reference: "" },
      { workload: "H3", figure: "running cancel → cancelled, p99", value: ms(percentile(samples, 99)), target: "", met: null, reference: "" },
      { workload: "H3", figure: "server side (request event → response finished), p50 / p99", value: serverCancel === undefined ? "n/a" : `${fmt(serverCancel.p50, 3)} / ${fmt(serverCancel.p99, 3)} ms`, target: "", met: null, reference: "" },
      { workload: "H3", figure: "cancellation record steps, p50 (ms, from the record's timestamps)", value: steps, target: "", met: null, reference: "" },
    );
    if (notCancelled > 0) rows.push({ workload: "H3", figure: "jobs not cancelled (should be 0)", value: String(notCancelled), target: "", met: null, reference: "" });
  });
}

/** Where `--cpu-prof` puts the server children's profiles by default. */
export const defaultCpuProfDir = join(tmpdir(), "belay-bench-profiles");
