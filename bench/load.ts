/**
 * Load test (`npm run load`): a real `belay serve` on a temporary home and a free port, driven
 * over loopback by autocannon with a mixed, sustained load for `--duration` seconds (60 by
 * default), then stopped:
 *
 *   submit  POST /api/v1/jobs — short jobs (a `noop` handler, or `true` with `--job true`)
 *   cancel  POST /api/v1/jobs/{id}/cancel — of jobs this run submitted, newest first (a 409
 *           JOB_ALREADY_FINISHED is a cancel that came too late: expected, not an error)
 *   list    GET /api/v1/jobs?limit=20
 *
 * Each kind has its own connections, so each is measured alone: requests/s, latency p50, p90,
 * p99 and max (from the first response after the warm-up), answers by status. The server's
 * memory is sampled — VmRSS of /proc/PID/status every second, the V8 heap in use (GET
 * /metrics) every 5 s — and reported idle, after the warm-up and at the end, with its slope
 * after the warm-up and over the last half (target: flat). The heap retained after major GCs
 * (`belay_heap_used_after_major_gc_bytes`) is judged: the run fails when it grows more than
 * 5 MB/min over the last half (a leak). Exits 1 then, and when there were errors
 * (network errors, timeouts, or a non-2xx other than a too-late cancel).
 *
 *   node bench/load.ts [--duration S] [--warmup S] [--job noop|true] [--concurrency N]
 *                      [--submit-connections N] [--cancel-connections N] [--list-connections N] [--json]
 *                      [--db postgres://… [--nodes N]] [--chart FILE.svg] [--cpu-prof DIR]
 *
 * `--db` puts the store on PostgreSQL (a fresh schema, dropped at the end); `--nodes N` starts
 * N − 1 more `belay serve` nodes on it that take a share of the tasks (the load goes to the
 * first); every node's memory is sampled and judged. `--chart` draws each node's RSS and
 * retained heap over the run as SVG (the soak chart of docs/load.md). `--cpu-prof DIR` writes
 * a V8 CPU profile of each server's main thread to DIR when it stops (summarise it
 * with bench/profile-top.ts; the profiler slows the server, so such a run's figures are not
 * the reference ones).
 *
 * The server allows 6,000 requests per minute per token; the load rotates over 64 operator
 * tokens, as that many clients would.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import type { Instance, Request, RequestSpec } from "autocannon";

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "60" },
    warmup: { type: "string" },
    job: { type: "string", default: "noop" },
    concurrency: { type: "string", default: "10" },
    "submit-connections": { type: "string", default: "4" },
    "cancel-connections": { type: "string", default: "2" },
    "list-connections": { type: "string", default: "2" },
    json: { type: "boolean", default: false },
    db: { type: "string" },
    nodes: { type: "string", default: "1" },
    chart: { type: "string" },
    "cpu-prof": { type: "string" },
  },
});

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`--${name} must be a positive number, got "${value}"\n`);
    process.exit(2);
  }
  return n;
}

const durationS = positive("duration", args.duration);
const warmupS = args.warmup === undefined ? Math.min(10, durationS / 6) : positive("warmup", args.warmup);
if (warmupS >= durationS) {
  process.stderr.write("--warmup must be shorter than --duration\n");
  process.exit(2);
}
if (args.job !== "noop" && args.job !== "true") {
  process.stderr.write(`--job must be noop or true, got "${args.job}"\n`);
  process.exit(2);
}
const jobSpec = JSON.stringify(args.job === "noop" ? { name: "load", handler: "noop" } : { name: "load", command: ["true"] });
const connections = {
  submit: positive("submit-connections", args["submit-connections"]),
  cancel: positive("cancel-connections", args["cancel-connections"]),
  list: positive("list-connections", args["list-connections"]),
};
const log = (message: string): void => void process.stderr.write(`${message}\n`);
const nodeCount = positive("nodes", args.nodes);
if (nodeCount > 1 && args.db === undefined) {
  process.stderr.write("--nodes above 1 needs --db postgres://… (nodes share one PostgreSQL store)\n");
  process.exit(2);
}
const schema = `belay_load_${process.pid}_${Date.now().toString(36)}`;
const dbArgs = args.db === undefined ? [] : ["--db", `${args.db}${args.db.includes("?") ? "&" : "?"}schema=${schema}`];

// ---- the server -------------------------------------------------------------------------

const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const handlers = fileURLToPath(new URL("./handlers.ts", import.meta.url));

interface Server {
  url: string;
  pid: number;
  adminToken: string;
  stop(): Promise<void>;
}

async function startServer(home: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [...(args["cpu-prof"] === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${args["cpu-prof"]}`]), cliMain, "serve", "--json", "--port", "0", "--home", home, "--log-level", "warn", "--concurrency", String(positive("concurrency", args.concurrency)), "--handlers", handlers, ...dbArgs],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let text = "";
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      text += `${line}\n`;
      if (line === "}") {
        lines.close();
        resolve((JSON.parse(text) as { url: string }).url);
      }
    });
    void exited.then(() => reject(new Error("belay serve exited before listening")));
  });
  child.stdout.resume();
  return {
    url,
    pid: child.pid ?? 0,
    // Only the node that created the store writes the admin token; /metrics needs none.
    adminToken: existsSync(join(home, "admin.token")) ? readFileSync(join(home, "admin.token"), "utf8").trim() : "",
    async stop() {
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function createTokens(url: string, adminToken: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${url}/api/v1/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `load-${i}`, role: "operator" }),
    });
    if (response.status !== 201) throw new Error(`could not create a token: HTTP ${response.status} ${await response.text()}`);
    tokens.push(((await response.json()) as { token: string }).token);
  }
  return tokens;
}

/** The V8 heap in use now, and as it was right after the latest major GC (what the server retains). */
async function heapKb(url: string, token: string): Promise<{ used: number; retained: number } | null> {
  try {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const used = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1];
    const retained = /^belay_heap_used_after_major_gc_bytes (\S+)$/m.exec(text)?.[1];
    return used === undefined || retained === undefined ? null : { used: Number(used) / 1024, retained: Number(retained) / 1024 };
  } catch {
    return null;
  }
}

/**
 * CPU seconds a process has used (user + system, all its threads), and those of its main
 * thread alone: the server's throughput is bounded by its one main thread, and CPU time per
 * request does not swing with what else shares the two cores the way requests per second do.
 */
function cpuSeconds(pid: number): { all: number; main: number } | null {
  const ticksPerS = 100; // USER_HZ on Linux
  const read = (path: string): number => {
    // Fields after the ")" that closes the command name: state is the 1st, utime the 12th, stime the 13th.
    const stat = readFileSync(path, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / ticksPerS;
  };
  try {
    return { all: read(`/proc/${pid}/stat`), main: read(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return null;
  }
}

function rssKb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

// ---- measuring --------------------------------------------------------------------------

type Kind = "submit" | "cancel" | "list";
type Sample = { t: number; kb: number };

class KindStats {
  readonly latencies: number[] = [];
  readonly statuses = new Map<string, number>();
  /** 409 JOB_ALREADY_FINISHED answers to a cancel: the job finished before it. */
  tooLate = 0;
  unexpected = 0;
  networkErrors = 0;
  timeouts = 0;
  measuredSince = 0;

  count(label: string): void {
    this.statuses.set(label, (this.statuses.get(label) ?? 0) + 1);
  }
}

const stats: Record<Kind, KindStats> = { submit: new KindStats(), cancel: new KindStats(), list: new KindStats() };
let measuring = false;
/** A memory slope (over the last half of the run) within ± this is "flat". */
const flatMbPerMin = 5;
/**
 * The run fails when the heap retained after major GCs grows faster than this over the last
 * half. Why 5 MB/min: at the ~800 requests/s this load reaches, keeping one 100-byte object
 * per request is 4.8 MB/min, so a per-request leak of any size shows; the working set
 * (JIT code, statement caches, pools) is built during the warm-up, and the retained heap of
 * a healthy 300 s run moved by less than ±2 MB/min after it (docs/load.md).
 * Shorter windows than `leakWindowMinS` are reported, not judged: two or three major GCs
 * make a slope out of noise.
 */
const leakMbPerMin = 5;
const leakWindowMinS = 20;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Least-squares slope of (t seconds, kB) samples, in MB per minute. */
function slopeMbPerMin(samples: Array<{ t: number; kb: number }>): number {
  const n = samples.length;
  if (n < 2) return NaN;
  const mt = samples.reduce((s, x) => s + x.t, 0) / n;
  const mk = samples.reduce((s, x) => s + x.kb, 0) / n;
  const num = samples.reduce((s, x) => s + (x.t - mt) * (x.kb - mk), 0);
  const den = samples.reduce((s, x) => s + (x.t - mt) ** 2, 0);
  return ((num / den) * 60) / 1024;
}

// ---- the load ---------------------------------------------------------------------------

async function main(): Promise<number> {
  const home = mkdtempSync(join(tmpdir(), "belay-load-"));
  const server = await startServer(home);
  // More nodes on the same PostgreSQL schema, started once the first has migrated it.
  const others: Array<{ server: Server; home: string; memory: Sample[]; retained: Sample[] }> = [];
  const idleKb = rssKb(server.pid);
  let instances: Instance[] = [];
  const interrupt = (): void => instances.forEach((i) => i.stop());
  process.once("SIGINT", interrupt);
  try {
    for (let i = 1; i < nodeCount; i++) {
      const otherHome = mkdtempSync(join(tmpdir(), "belay-load-"));
      others.push({ server: await startServer(otherHome), home: otherHome, memory: [], retained: [] });
    }
    const tokens = await createTokens(server.url, server.adminToken, 64);
    let nextToken = 0;
    const auth = (): string => `Bearer ${tokens[nextToken++ % tokens.length]}`;
    const json = { "content-type": "application/json" };

    // Ids of submitted jobs not yet cancelled, and a ring of recent ones to re-cancel when none is left.
    const fresh: string[] = [];
    const recent: string[] = [];
    let recancels = 0;
    // A few jobs first, so that a cancel always has a real job to aim at.
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${server.url}/api/v1/jobs`, { method: "POST", headers: { ...json, authorization: auth() }, body: jobSpec });
      if (response.status !== 201) throw new Error(`could not submit: HTTP ${response.status} ${await response.text()}`);
      recent.push(((await response.json()) as { job: { id: string } }).job.id);
    }

    const run = (kind: Kind, spec: RequestSpec[]): Instance => {
      const instance = autocannon({ url: server.url, connections: connections[kind], duration: durationS, timeout: 10, requests: spec, title: kind });
      const s = stats[kind];
      instance.on("response", (_client: unknown, _status: number, _bytes: number, ms: number) => {
        if (measuring) s.latencies.push(ms);
      });
      instance.on("reqError", () => (s.networkErrors += 1));
      return instance;
    };

    const startedAt = Date.now();
    // VmRSS every second; the V8 heap in use (from GET /metrics) every 5 s: RSS alone cannot
    // tell a leak from a heap that grew to the load's working set.
    const memory: Sample[] = [];
    const heap: Sample[] = [];
    const retained: Sample[] = [];
    let afterWarmupKb: number | null = null;
    let cpuAfterWarmup = null as { all: number; main: number } | null; // set by the sampler
    let tick = 0;
    // Every 10 s: memory beside the submit rate, which moves on a shared machine and moves the memory with it.
    const series: Array<{ t: number; rssMb: number | null; heapMb: number | null; submitsPerS: number }> = [];
    let lastSubmitted = 0;
    const sampler = setInterval(() => {
      const kb = rssKb(server.pid);
      const t = (Date.now() - startedAt) / 1000;
      if (kb !== null) memory.push({ t, kb });
      for (const other of others) {
        const otherKb = rssKb(other.server.pid);
        if (otherKb !== null) other.memory.push({ t, kb: otherKb });
      }
      if (++tick % 5 === 0) {
        void heapKb(server.url, server.adminToken).then((h) => {
          if (h === null) return;
          heap.push({ t, kb: h.used });
          retained.push({ t, kb: h.retained });
        });
        for (const other of others) void heapKb(other.server.url, other.server.adminToken).then((h) => h !== null && other.retained.push({ t, kb: h.retained }));
      }
      if (!measuring && t >= warmupS) {
        measuring = true;
        afterWarmupKb = kb;
        cpuAfterWarmup = cpuSeconds(server.pid);
        for (const s of Object.values(stats)) s.measuredSince = Date.now();
        log(`warm-up over (${warmupS} s); measuring`);
      }
      if (tick % 10 === 0) {
        const submitted = stats.submit.statuses.get("201") ?? 0;
        series.push({ t: tick, rssMb: kb === null ? null : Math.round(kb / 1024), heapMb: heap.length === 0 ? null : Math.round(heap.at(-1)!.kb / 1024), submitsPerS: Math.round((submitted - lastSubmitted) / 10) });
        lastSubmitted = submitted;
        log(`${tick} s: ${series.at(-1)!.submitsPerS} submits/s, rss ${series.at(-1)!.rssMb ?? "?"} MB, heap used ${series.at(-1)!.heapMb ?? "?"} MB`);
      }
    }, 1000);

    log(`belay serve pid ${server.pid} at ${server.url}; ${durationS} s of load (${warmupS} s warm-up), ${args.job} jobs`);
    instances = [
      run("submit", [
        {
          method: "POST",
          path: "/api/v1/jobs",
          body: jobSpec,
          setupRequest: (request: Request) => ({ ...request, headers: { ...json, authorization: auth() } }),
          onResponse: (status: number, body: string) => {
            const s = stats.submit;
            s.count(String(status));
            if (status !== 201) {
              s.unexpected += 1;
              return;
            }
            const id = /"id":"([^"]+)"/.exec(body)?.[1];
            if (id !== undefined) fresh.push(id);
          },
        },
      ]),
      run("cancel", [
        {
          method: "POST",
          setupRequest: (request: Request) => {
            let id = fresh.pop();
            if (id === undefined) {
              id = recent[Math.floor(Math.random() * recent.length)]!;
              recancels += 1;
            } else {
              recent.push(id);
              if (recent.length > 1000) recent.shift();
            }
            return { ...request, path: `/api/v1/jobs/${id}/cancel`, body: '{"reason":"load"}', headers: { ...json, authorization: auth() } };
          },
          onResponse: (status: number, body: string) => {
            const s = stats.cancel;
            if (status === 409 && body.includes('"JOB_ALREADY_FINISHED"')) {
              s.tooLate += 1;
              s.count("409 too late");
              return;
            }
            s.count(status === 200 && body.includes('"alreadyCancelled":true') ? "200 already cancelled" : String(status));
            if (status !== 200 && status !== 202) s.unexpected += 1;
          },
        },
      ]),
      run("list", [
        {
          method: "GET",
          path: "/api/v1/jobs?limit=20",
          setupRequest: (request: Request) => ({ ...request, headers: { authorization: auth() } }),
          onResponse: (status: number) => {
            stats.list.count(String(status));
            if (status !== 200) stats.list.unexpected += 1;
          },
        },
      ]),
    ];
    const results = await Promise.all(instances);
    clearInterval(sampler);
    const endKb = rssKb(server.pid);
    const cpuAtEnd = cpuSeconds(server.pid);
    const finishedAt = Date.now();
    results.forEach((result, i) => {
      const kind = (["submit", "cancel", "list"] as const)[i]!;
      stats[kind].timeouts = result.timeouts;
      // autocannon counts timeouts among its errors.
      stats[kind].networkErrors = Math.max(stats[kind].networkErrors, result.errors - result.timeouts);
    });

    // What the server still has to do once the load stops (its backlog).
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.adminToken}` } })).text().catch(() => "");
    const queued = /^belay_jobs_queued(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? "?";

    // ---- report -------------------------------------------------------------------------
    const rows = (["submit", "cancel", "list"] as const).map((kind) => {
      const s = stats[kind];
      const sorted = [...s.latencies].sort((a, b) => a - b);
      const seconds = (finishedAt - s.measuredSince) / 1000;
      const errors = s.unexpected + s.networkErrors + s.timeouts;
      return {
        kind,
        connections: connections[kind],
        requests: [...s.statuses.values()].reduce((a, b) => a + b, 0),
        reqPerS: Math.round(sorted.length / seconds),
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        max: sorted.at(-1) ?? NaN,
        answers: Object.fromEntries([...s.statuses.entries()].sort()),
        tooLate: s.tooLate,
        errors,
      };
    });
    const errors = rows.reduce((sum, r) => sum + r.errors, 0);
    const measuredRequests = rows.reduce((sum, r) => sum + r.requests, 0);
    const measuredS = (finishedAt - stats.submit.measuredSince) / 1000;
    const serverCpu =
      cpuAfterWarmup === null || cpuAtEnd === null || measuredRequests === 0
        ? null
        : {
            msPerRequest: Number((((cpuAtEnd.all - cpuAfterWarmup.all) * 1000) / measuredRequests).toFixed(2)),
            mainThreadMsPerRequest: Number((((cpuAtEnd.main - cpuAfterWarmup.main) * 1000) / measuredRequests).toFixed(2)),
            mainThreadBusyPercent: Math.round(((cpuAtEnd.main - cpuAfterWarmup.main) / measuredS) * 100),
          };
    const mb = (kb: number | null | undefined): string => (kb === null || kb === undefined ? "?" : (kb / 1024).toFixed(1));
    const slopes = (samples: Array<{ t: number; kb: number }>): { afterWarmup: string; lastHalf: string } => ({
      afterWarmup: slopeMbPerMin(samples.filter((m) => m.t >= warmupS)).toFixed(2),
      lastHalf: slopeMbPerMin(samples.filter((m) => m.t >= (warmupS + durationS) / 2)).toFixed(2),
    });
    const rssSlopes = slopes(memory);
    const heapSlopes = slopes(heap);
    const retainedSlopes = slopes(retained);
    const judgedWindowS = durationS - (warmupS + durationS) / 2;
    const leakOf = (slope: string): string =>
      judgedWindowS < leakWindowMinS ? `not judged (the last half is ${judgedWindowS} s, under ${leakWindowMinS} s)` : Number(slope) > leakMbPerMin ? "LEAK" : "none";
    const otherNodes = others.map((o, i) => {
      const slope = slopes(o.retained);
      return {
        node: i + 2,
        rss: { afterWarmupMb: mb(o.memory.find((m) => m.t >= warmupS)?.kb), endMb: mb(o.memory.at(-1)?.kb), slopeMbPerMin: slopes(o.memory) },
        heapRetainedAfterMajorGc: { afterWarmupMb: mb(o.retained.find((m) => m.t >= warmupS)?.kb), endMb: mb(o.retained.at(-1)?.kb), slopeMbPerMin: slope },
        leak: leakOf(slope.lastHalf),
      };
    });
    const leak = [leakOf(retainedSlopes.lastHalf), ...otherNodes.map((o) => o.leak)].includes("LEAK") ? "LEAK" : leakOf(retainedSlopes.lastHalf);
    const flatness = (slope: string): string => (Math.abs(Number(slope)) <= flatMbPerMin ? "flat" : Number(slope) > 0 ? "GROWING" : "shrinking");
    const report = {
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "?", loadavg: loadavg().map((l) => l.toFixed(1)) },
      durationS,
      warmupS,
      job: args.job,
      rows,
      serverCpu,
      memory: {
        rss: {
          idleMb: mb(idleKb),
          afterWarmupMb: mb(afterWarmupKb),
          endMb: mb(endKb),
          maxMb: mb(Math.max(...memory.map((m) => m.kb))),
          slopeMbPerMin: rssSlopes,
        },
        heapUsed: {
          afterWarmupMb: mb(heap.find((h) => h.t >= warmupS)?.kb),
          endMb: mb(heap.at(-1)?.kb),
          slopeMbPerMin: heapSlopes,
        },
        heapRetainedAfterMajorGc: {
          afterWarmupMb: mb(retained.find((h) => h.t >= warmupS)?.kb),
          endMb: mb(retained.at(-1)?.kb),
          slopeMbPerMin: retainedSlopes,
        },
        verdict: { rss: flatness(rssSlopes.lastHalf), heapUsed: flatness(heapSlopes.lastHalf), heapRetained: flatness(retainedSlopes.lastHalf), leak },
        series,
        otherNodes,
      },
      store: args.db === undefined ? "sqlite" : `postgres, ${nodeCount} node(s)`,
      recancels,
      queuedAtEnd: queued,
      errors,
    };

    const ms = (n: number): string => (Number.isNaN(n) ? "-" : n.toFixed(2));
    const table = [
      ["kind", "conns", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "expected 409", "errors", "answers"],
      ...rows.map((r) => [r.kind, String(r.connections), String(r.requests), String(r.reqPerS), ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max), String(r.tooLate), String(r.errors), Object.entries(r.answers).map(([k, v]) => `${k}: ${v}`).join(", ")]),
    ];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    const out = table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ")).join("\n");
    process.stdout.write(`\n${out}\n\n`);
    if (serverCpu !== null) {
      process.stdout.write(
        `server CPU per request (after warm-up, all kinds): ${serverCpu.msPerRequest} ms in all, ${serverCpu.mainThreadMsPerRequest} ms on its main thread, which was ${serverCpu.mainThreadBusyPercent}% busy\n`,
      );
    }
    const { rss, heapUsed, heapRetainedAfterMajorGc: kept } = report.memory;
    process.stdout.write(
      `server RSS: idle ${rss.idleMb} MB, after warm-up ${rss.afterWarmupMb} MB, end ${rss.endMb} MB, max ${rss.maxMb} MB; ` +
        `slope ${rss.slopeMbPerMin.afterWarmup} MB/min after warm-up, ${rss.slopeMbPerMin.lastHalf} MB/min over the last half\n` +
        `server V8 heap used: after warm-up ${heapUsed.afterWarmupMb} MB, end ${heapUsed.endMb} MB; ` +
        `slope ${heapUsed.slopeMbPerMin.afterWarmup} MB/min after warm-up, ${heapUsed.slopeMbPerMin.lastHalf} MB/min over the last half\n` +
        `server V8 heap retained after major GC: after warm-up ${kept.afterWarmupMb} MB, end ${kept.endMb} MB; ` +
        `slope ${kept.slopeMbPerMin.afterWarmup} MB/min after warm-up, ${kept.slopeMbPerMin.lastHalf} MB/min over the last half\n` +
        `memory over the last half: RSS ${report.memory.verdict.rss}, heap ${report.memory.verdict.heapUsed}, retained heap ${report.memory.verdict.heapRetained} (flat: within ±${flatMbPerMin} MB/min)\n` +
        `leak check (retained heap slope over the last half ≤ ${leakMbPerMin} MB/min): ${leak}\n` +
        `every 10 s (t: submits/s, RSS MB, heap MB): ${series.map((p) => `${p.t}: ${p.submitsPerS}, ${p.rssMb ?? "?"}, ${p.heapMb ?? "?"}`).join("; ")}\n`,
    );
    for (const o of otherNodes) {
      process.stdout.write(
        `node ${o.node} (runs tasks, no load): RSS after warm-up ${o.rss.afterWarmupMb} MB, end ${o.rss.endMb} MB, slope ${o.rss.slopeMbPerMin.lastHalf} MB/min over the last half; ` +
          `retained heap after warm-up ${o.heapRetainedAfterMajorGc.afterWarmupMb} MB, end ${o.heapRetainedAfterMajorGc.endMb} MB, slope ${o.heapRetainedAfterMajorGc.slopeMbPerMin.lastHalf} MB/min; leak check: ${o.leak}\n`,
      );
    }
    if (args.chart !== undefined) {
      const nodesSeries = [{ memory, retained }, ...others.map((o) => ({ memory: o.memory, retained: o.retained }))];
      writeFileSync(args.chart, memoryChart(nodesSeries, `npm run load -- --duration ${durationS}${args.db === undefined ? "" : ` --db … --nodes ${nodeCount}`}: ${args.job} jobs, load average ${report.machine.loadavg.join(" ")}`, warmupS));
      process.stdout.write(`memory chart: ${args.chart}\n`);
    }
    process.stdout.write(`cancels with no fresh job left (re-cancels of recent ones): ${recancels}; jobs still queued at the end: ${queued}\n`);
    process.stdout.write(`machine: ${report.machine.cpus} × ${report.machine.model}, load average ${report.machine.loadavg.join(" ")}\n`);
    process.stdout.write(errors === 0 ? "errors: 0\n" : `errors: ${errors} (target 0)\n`);
    if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    if (leak === "LEAK") process.stdout.write(`FAIL: the retained heap grew ${retainedSlopes.lastHalf} MB/min over the last half (limit ${leakMbPerMin})\n`);
    return errors === 0 && leak !== "LEAK" ? 0 : 1;
  } finally {
    process.off("SIGINT", interrupt);
    await server.stop();
    for (const other of others) {
      await other.server.stop();
      rmSync(other.home, { recursive: true, force: true });
    }
    rmSync(home, { recursive: true, force: true });
    if (args.db !== undefined) await dropSchema(args.db);
  }
}

async function dropSchema(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** Each node's RSS (solid) and retained heap after major GC (dashed), in MB over seconds, as SVG text. */
function memoryChart(nodes: Array<{ memory: Sample[]; retained: Sample[] }>, caption: string, warmup: number): string {
  const width = 900;
  const height = 420;
  const left = 60;
  const right = 20;
  const top = 40;
  const bottom = 60;
  const all = nodes.flatMap((n) => [...n.memory, ...n.retained]);
  const maxT = Math.max(1, ...all.map((p) => p.t));
  const maxMb = Math.max(1, ...all.map((p) => p.kb / 1024)) * 1.1;
  const x = (t: number): number => left + (t / maxT) * (width - left - right);
  const y = (mbValue: number): number => top + (1 - mbValue / maxMb) * (height - top - bottom);
  const colors = ["#1f4e9c", "#c0392b", "#27ae60", "#8e44ad"];
  const path = (points: Sample[]): string => points.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.kb / 1024).toFixed(1)}`).join(" ");
  const lines = nodes.flatMap((n, i) => [
    `<path d="${path(n.memory)}" fill="none" stroke="${colors[i % colors.length]}" stroke-width="1.5"/>`,
    `<path d="${path(n.retained)}" fill="none" stroke="${colors[i % colors.length]}" stroke-width="1.5" stroke-dasharray="5,3"/>`,
    `<text x="${left + 10 + i * 260}" y="${height - 15}" font-size="12" fill="${colors[i % colors.length]}">node ${i + 1}: RSS (solid), retained heap (dashed)</text>`,
  ]);
  const ticksY = Array.from({ length: 6 }, (_, i) => (maxMb / 5) * i).map((v) => `<text x="${left - 8}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(0)}</text><line x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
  const ticksX = Array.from({ length: 6 }, (_, i) => (maxT / 5) * i).map((v) => `<text x="${x(v)}" y="${height - bottom + 16}" font-size="11" text-anchor="middle">${v.toFixed(0)} s</text>`);
  const escapeXml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14">Server memory (MB) over the run — ${escapeXml(caption)}</text>`,
    ...ticksY,
    ...ticksX,
    `<line x1="${x(warmup)}" x2="${x(warmup)}" y1="${top}" y2="${height - bottom}" stroke="#999" stroke-dasharray="2,2"/><text x="${x(warmup) + 4}" y="${top + 12}" font-size="11" fill="#666">warm-up ends</text>`,
    ...lines,
    `</svg>`,
    "",
  ].join("\n");
}

process.exitCode = await main();
