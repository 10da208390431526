/**
 * Belay beside BullMQ, pg-boss and graphile-worker on W1–W4 (see harness.ts, and
 * bench/run.ts for Belay's own definitions). From bench/peers:
 *
 *   npm install && ../../node_modules/.bin/node run.ts [--quick | --tiny] [SYSTEM…] [W1 W1D W2 W3 W3B W3X W3XB W4]
 *
 * SYSTEM is any of belay-sqlite, belay-pg, bullmq-redis, bullmq-pg, pg-boss, graphile-worker
 * (default: all). W1D is W1 drain (pre-queued with each system's bulk insert), W3B the W3
 * burst (all cancels at once), W3X/W3XB W3 and its burst across nodes. --quick scales the
 * counts down; --tiny (or BELAY_BENCH_TINY=1) is a smoke test of the code: a few hundred
 * jobs, 5 running handlers. Each system runs alone in a child process of its own, one after another.
 * Needs Redis (BELAY_BENCH_REDIS_URL, default redis://127.0.0.1:6379) and PostgreSQL
 * (BELAY_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test); a system whose
 * server is not reachable is reported as not run. Prints the comparison table (Markdown)
 * on stdout. A complete run (every system and workload, not --quick) writes results.json
 * here and the chart docs/benchmarks-peers.svg; any other run writes results-partial.json
 * and chart-partial.svg here instead, leaving the published figures alone.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { fmt, markdownTable } from "../stats.ts";
import { renderChart } from "./chart.ts";
import { log, pgUrl, quick, redisUrl, tiny, workloadPattern } from "./harness.ts";
import type { PeerResult } from "./harness.ts";
import { comparisonCells, comparisonHeader, comparisonRows, oneRunTable, targetCells, targetHeader, targetRows } from "./report.ts";

interface SystemRun {
  system: string;
  label: string;
  file: string;
  args: string[];
  needs: Array<"redis" | "postgres">;
}

const systems: SystemRun[] = [
  { system: "belay-sqlite", label: "Belay (SQLite, embedded)", file: "belay.ts", args: ["sqlite"], needs: [] },
  { system: "belay-pg", label: "Belay (PostgreSQL)", file: "belay.ts", args: ["postgres"], needs: ["postgres"] },
  { system: "bullmq-redis", label: "BullMQ (Redis)", file: "bullmq.ts", args: ["redis"], needs: ["redis"] },
  { system: "bullmq-pg", label: "BullMQ (PostgreSQL backend)", file: "bullmq.ts", args: ["postgres"], needs: ["postgres"] },
  { system: "pg-boss", label: "pg-boss", file: "pg-boss.ts", args: [], needs: ["postgres"] },
  { system: "graphile-worker", label: "graphile-worker", file: "graphile-worker.ts", args: [], needs: ["postgres"] },
];

const args = process.argv.slice(2);
const named = args.filter((a) => !a.startsWith("--") && systems.some((s) => s.system === a));
const workloads = args.filter((a) => workloadPattern.test(a));
const unknown = args.filter((a) => !a.startsWith("--") && !named.includes(a) && !workloads.includes(a));
if (unknown.length > 0) {
  log(`unknown argument(s) ${unknown.join(", ")}; systems: ${systems.map((s) => s.system).join(", ")}; workloads: W1 W1D W2 W3 W3B W3X W3XB W4`);
  process.exit(2);
}
const selected = named.length > 0 ? systems.filter((s) => named.includes(s.system)) : systems;

async function redisVersion(): Promise<string | null> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    const info = await redis.info("server");
    return /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

async function withPg<T>(fn: (client: pg.Client) => Promise<T>): Promise<T | null> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return await fn(client);
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

/** What a child that died left behind: its schemas, Redis keys and temporary directories all carry its pid. */
async function sweep(pid: number): Promise<void> {
  for (const entry of readdirSync(tmpdir())) {
    if (entry.startsWith(`belay-bench-peers-${pid}-`)) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
  await withPg(async (client) => {
    const schemas = await client.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", [`belaybench\\_%\\_${pid}\\_%`]);
    for (const { nspname } of schemas.rows) {
      await client.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
      log(`  dropped leftover schema ${nspname}`);
    }
  });
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `belaybench_*_${pid}_*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } catch {
    // No Redis: nothing to sweep.
  } finally {
    redis.disconnect();
  }
}

function notRun(run: SystemRun, reason: string): PeerResult {
  const na = { na: reason };
  return {
    system: run.system,
    label: run.label,
    store: "embedded",
    version: "",
    cancelQueued: "",
    cancelRunning: "",
    quick: quick || tiny,
    w1: na,
    w1d: na,
    w2: na,
    w3: na,
    w3x: na,
    w3b: na,
    w3xb: na,
    w4: na,
    seconds: 0,
  };
}

let current: ChildProcess | null = null;
let interrupted = false;

// Interrupted: stop the running system; runSystem removes what it left, then exits.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    interrupted = true;
    if (current === null) process.exit(130);
    log(`\n${signal}: stopping ${current.spawnargs.slice(1).join(" ")}`);
    current.kill("SIGKILL");
  });
}

/** Run one system in its own process; its progress goes to our stderr, its result is its last stdout line. */
function runSystem(run: SystemRun): Promise<PeerResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [run.file, ...run.args, ...(quick ? ["--quick"] : []), ...(tiny ? ["--tiny"] : []), ...workloads], {
      cwd: new URL(".", import.meta.url).pathname,
      stdio: ["ignore", "pipe", "inherit"],
    });
    current = child;
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const limit = setTimeout(() => child.kill("SIGKILL"), 30 * 60_000);
    child.on("close", (code) => {
      clearTimeout(limit);
      current = null;
      const last = stdout.trim().split("\n").pop() ?? "";
      void sweep(child.pid ?? -1).then(() => {
        if (interrupted) process.exit(130);
        try {
          resolve(JSON.parse(last) as PeerResult);
        } catch {
          resolve(notRun(run, `crashed (exit ${code})`));
        }
      });
    });
  });
}

const startedAt = new Date();
const loadAtStart = loadavg()[0] ?? 0;
const redis = await redisVersion();
const postgres = await withPg(async (client) => (await client.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "unknown");
const scale = tiny ? " (tiny)" : quick ? " (quick)" : "";
log(`peers bench${scale}: ${selected.map((s) => s.system).join(", ")}; Redis ${redis ?? "not reachable"}, PostgreSQL ${postgres ?? "not reachable"}`);

const results: PeerResult[] = [];
for (const run of selected) {
  const missing = run.needs.filter((n) => (n === "redis" ? redis : postgres) === null);
  if (missing.length > 0) {
    results.push(notRun(run, `not run: ${missing.join(", ")} not reachable`));
    continue;
  }
  log(`\n== ${run.label} [load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}]`);
  const loadBefore = loadavg()[0] ?? 0;
  const result = await runSystem(run);
  log(`   (${fmt(result.seconds, 1)} s)`);
  results.push({ ...result, loadAverage: [loadBefore, loadavg()[0] ?? 0] });
}

const seconds = (Date.now() - startedAt.getTime()) / 1000;
const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cpus: availableParallelism(),
  memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
  kernel: release(),
  node: process.version,
  redis,
  postgres,
  loadAverageAtStart: loadAtStart,
  loadAverageAtEnd: loadavg()[0] ?? 0,
};
const rows = comparisonRows(results);
const oneRun = oneRunTable(results);
const targets = targetRows(results);
const caption = `${tiny ? "--tiny run" : quick ? "--quick run" : "Full run"} of ${startedAt.toISOString().slice(0, 10)}: ${machine.cpus} CPUs (${machine.cpu}), node ${machine.node}, Redis ${redis ?? "—"}, PostgreSQL ${postgres ?? "—"}.`;

// Only a complete run replaces the published figures; a quick or partial one writes beside them.
const complete = !quick && !tiny && named.length === 0 && workloads.length === 0;
const resultsFile = complete ? "bench/peers/results.json" : "bench/peers/results-partial.json";
const chartFile = complete ? "docs/benchmarks-peers.svg" : "bench/peers/chart-partial.svg";
const root = new URL("../../", import.meta.url);
writeFileSync(new URL(resultsFile, root), `${JSON.stringify({ startedAt: startedAt.toISOString(), seconds, quick: quick || tiny, tiny, machine, results, targets, comparison: rows }, null, 2)}\n`);
writeFileSync(new URL(chartFile, root), renderChart(results, caption));

const out = process.stdout;
out.write(`\nBelay and its peers${tiny ? " (--tiny: smoke-test counts, figures mean nothing)" : quick ? " (--quick: scaled-down counts)" : ""} — ${caption} Total ${fmt(seconds, 0)} s; load average ${loadAtStart.toFixed(2)} at the start, ${machine.loadAverageAtEnd.toFixed(2)} at the end.\n\n`);
out.write(`One run, every system:\n\n${markdownTable(oneRun.header, oneRun.cells)}\n\n`);
out.write(`Issue 19's targets, ratios from this run:\n\n${markdownTable(targetHeader, targetCells(targets))}\n`);
const count19 = (met: string): number => targets.filter((t) => t.met === met).length;
out.write(`\nIssue 19: ${count19("yes")} met, ${count19("**no**")} missed, ${count19("n/a")} not measured in this run, ${count19("not here")} measured by other benchmarks.\n\n`);
out.write("Issue 7's comparison. Belay's advantage: peer ÷ Belay for times, Belay ÷ peer for jobs/s; above 1× Belay is ahead.\n\n");
out.write(`${markdownTable(comparisonHeader, comparisonCells(rows))}\n`);
const missed = rows.filter((r) => r.met === "**no**").length;
const unmeasured = rows.filter((r) => r.met === "n/a").length;
out.write(`\nTargets: ${rows.filter((r) => r.met === "yes").length} met, ${missed} missed, ${unmeasured} not measurable.\n`);
out.write(`Wrote ${resultsFile} and ${chartFile}.\n`);
