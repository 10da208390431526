/**
 * Diagnostics behind docs/benchmarks.md (not part of `npm run bench`): where the time of a
 * cancel and of a job goes. Reaches into the SQLite store's private connection to time its
 * COMMITs, so it may need adjusting when the store changes.
 *
 *   node bench/diagnose.ts cancel [PRAGMA…]   W2-style cancels: COMMIT time vs the rest; rows written per cancel
 *   node bench/diagnose.ts jobs               W1-style run: commits and worker postMessage cost per job
 *   node bench/diagnose.ts plans              query plans of the hot queries (the timeout sweep)
 *   node bench/diagnose.ts claim-plan [N]     PostgreSQL (BELAY_BENCH_PG_URL): the claim's plan on a fresh,
 *                                             never-analyzed schema of N queued jobs (default 5,000), with and
 *                                             without the claim's plan settings, then after ANALYZE
 */
import type { DatabaseSync } from "node:sqlite";
import { Worker } from "node:worker_threads";
import pg from "pg";
import { openBelay } from "../src/engine/open.ts";
import { claimCandidatesStatement, claimPlanStatement } from "../src/store/postgres/queries/claims.ts";
import type { Belay } from "../src/engine/engine.ts";
import { countEvents, fillQueued, microsSince, withEngine } from "./engine.ts";
import { median, percentile } from "./stats.ts";

function connection(engine: Belay): DatabaseSync {
  return (engine.store as unknown as { db: DatabaseSync }).db;
}

/** Wrap the connection's `exec` to time COMMITs; returns a reader of the totals so far. */
function timeCommits(db: DatabaseSync): () => { commits: number; micros: number; last: number } {
  const exec = db.exec.bind(db);
  const totals = { commits: 0, micros: 0, last: 0 };
  db.exec = (sql: string): void => {
    if (sql !== "COMMIT") return exec(sql);
    const t = process.hrtime.bigint();
    exec(sql);
    totals.last = microsSince(t);
    totals.micros += totals.last;
    totals.commits += 1;
  };
  return () => ({ ...totals });
}

const dist = (a: number[]): string =>
  `p50 ${median(a).toFixed(0)}  p90 ${percentile(a, 90).toFixed(0)}  p99 ${percentile(a, 99).toFixed(0)}  max ${percentile(a, 100).toFixed(0)}`;

async function cancel(pragmas: string[]): Promise<void> {
  await withEngine({ concurrency: 0 }, async (engine) => {
    const db = connection(engine);
    for (const p of pragmas) db.exec(p);
    const { ids } = await fillQueued(engine, 5_000, 0, "fill");
    const commits = timeCommits(db);
    const total: number[] = [];
    const commit: number[] = [];
    for (const id of ids) {
      const before = commits().micros;
      const t = process.hrtime.bigint();
      await engine.cancelJob(id);
      total.push(microsSince(t));
      commit.push(commits().micros - before);
    }
    console.log(`cancelJob of a queued job, 5,000 one by one${pragmas.length > 0 ? ` (${pragmas.join("; ")})` : ""}, µs:`);
    console.log(`  whole call   ${dist(total)}`);
    console.log(`  COMMIT       ${dist(commit)}`);
    console.log(`  the rest     ${dist(total.map((t, i) => t - (commit[i] ?? 0)))}`);
    // WAL pages written per cancel: 500 more cancels with the automatic checkpoint off.
    const more = await fillQueued(engine, 500, 0, "fill");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const autocheckpoint = (db.prepare("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number }).wal_autocheckpoint;
    db.exec("PRAGMA wal_autocheckpoint = 0");
    for (const id of more.ids) await engine.cancelJob(id);
    const frames = (db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as { log: number }).log;
    db.exec(`PRAGMA wal_autocheckpoint = ${autocheckpoint}`);
    console.log(`  WAL pages written per cancel: ${(frames / more.ids.length).toFixed(1)} (4 KiB each)`);
    const q = (sql: string): unknown => db.prepare(sql).all();
    console.log("rows written per cancel:");
    console.log("  events by type", JSON.stringify(q("SELECT type, count(*) / 5500.0 AS perJob, round(avg(length(data))) AS bytes FROM events WHERE job_id IN (SELECT id FROM jobs WHERE status = 'cancelled') GROUP BY type")));
    console.log("  indexes", JSON.stringify(q("SELECT tbl_name, count(*) AS n FROM sqlite_master WHERE type = 'index' GROUP BY tbl_name")));
    console.log("  cancellation record", JSON.stringify(q("SELECT count(*) / 5500.0 AS perJob, round(avg(length(record))) AS bytes FROM cancellations")));
  });
}

async function jobs(): Promise<void> {
  const n = 10_000;
  const posts: number[] = [];
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>): void {
    const t = process.hrtime.bigint();
    post.apply(this, args);
    posts.push(microsSince(t));
  };
  await withEngine({ concurrency: 10 }, async (engine) => {
    const commits = timeCommits(connection(engine));
    const changes = (): number => Number((connection(engine).prepare("SELECT total_changes() AS n").get() as { n: number }).n);
    const ended = countEvents(engine, ["belay.job.succeeded", "belay.job.failed"], n, 600_000);
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1) await engine.submitJob({ handler: "noop" });
    const t1 = performance.now();
    const atSubmit = commits();
    posts.length = 0;
    await ended.done;
    const t2 = performance.now();
    const atEnd = commits();
    console.log(`${n} noop jobs, concurrency 10`);
    console.log(`  submit: ${(t1 - t0).toFixed(0)} ms, ${atSubmit.commits} transactions, ${(atSubmit.micros / atSubmit.commits).toFixed(0)} µs per COMMIT on average`);
    console.log(`  drain:  ${(t2 - t1).toFixed(0)} ms, ${atEnd.commits - atSubmit.commits} explicit transactions (${((atEnd.micros - atSubmit.micros) / 1000).toFixed(0)} ms in COMMIT) plus autocommitted runner rows`);
    console.log(`  worker postMessage: ${posts.length} calls, ${dist(posts)} µs`);
    console.log(`  rows changed in total: ${changes()}`);
  });
  Worker.prototype.postMessage = post;
}

async function plans(): Promise<void> {
  await withEngine({ concurrency: 0 }, async (engine) => {
    const db = connection(engine);
    const plan = (sql: string, ...params: Array<string | number>): void => {
      const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>;
      console.log(`${sql}\n  → ${rows.map((r) => r.detail).join("; ")}`);
    };
    plan("SELECT id FROM jobs WHERE status = 'queued' AND queue_deadline_ms IS NOT NULL AND queue_deadline_ms <= ? LIMIT ?", 0, 100);
    plan("SELECT id FROM jobs WHERE status = 'running' AND run_deadline_ms IS NOT NULL AND run_deadline_ms <= ? LIMIT ?", 0, 100);
    plan("SELECT id FROM jobs INDEXED BY jobs_queue_deadline WHERE status = 'queued' AND queue_deadline_ms IS NOT NULL AND queue_deadline_ms <= ? LIMIT ?", 0, 100);
    plan("SELECT job_id, key, spec FROM tasks WHERE status = 'pending' AND ready = 1 ORDER BY priority DESC, job_seq, idx LIMIT ?", 56);
    const { ids } = await fillQueued(engine, 20_000, 0, "fill");
    for (const label of ["20,000 queued"]) {
      const times: number[] = [];
      for (let i = 0; i < 20; i += 1) {
        const t = process.hrtime.bigint();
        await engine.store.expiredJobs(Date.now(), 100);
        times.push(microsSince(t));
      }
      console.log(`store.expiredJobs with ${label} (${ids.length} jobs): ${dist(times)} µs`);
    }
  });
}

/** The claim's candidates statement explained on a fresh schema: as planned without statistics, with the claim's plan settings, and after ANALYZE. */
async function claimPlan(jobs: number): Promise<void> {
  const url = process.env["BELAY_BENCH_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
  const schema = `belay_claim_plan_${process.pid}`;
  const engine = await openBelay({ db: `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`, concurrency: 0 });
  for (let done = 0; done < jobs; done += 10_000) {
    await engine.submitJobs(Array.from({ length: Math.min(10_000, jobs - done) }, () => ({ command: ["true"] })));
  }
  await engine.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET search_path = ${schema}`);
    const candidates = claimCandidatesStatement(null, 10 * 4 + 16);
    const text = typeof candidates.q === "string" ? candidates.q : candidates.q.text;
    const plan = claimPlanStatement().q;
    for (const [label, settings, analyze] of [["no statistics, as planned", false, false], ["no statistics, the claim's plan settings", true, false], ["after ANALYZE, as planned", false, true]] as const) {
      if (analyze) await client.query("ANALYZE jobs, tasks, paused_queues");
      await client.query("BEGIN");
      if (settings) await client.query(typeof plan === "string" ? plan : plan.text);
      const result = await client.query(`EXPLAIN (ANALYZE, COSTS OFF) ${text}`, [...candidates.values]);
      await client.query("ROLLBACK");
      const lines = result.rows.map((r: Record<string, string>) => r["QUERY PLAN"] ?? "");
      const scans = lines.filter((l) => / on tasks|Sort Method|Anti Join/.test(l)).map((l) => l.trim().replace(/ \(actual.*$/, ""));
      console.log(`${label}: ${lines.find((l) => l.startsWith("Execution Time")) ?? "?"}; ${scans.join("; ")}`);
    }
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await client.end();
  }
}

const [command = "", ...rest] = process.argv.slice(2);
if (command === "cancel") await cancel(rest);
else if (command === "jobs") await jobs();
else if (command === "plans") await plans();
else if (command === "claim-plan") await claimPlan(Number(rest[0] ?? 5000));
else {
  process.stderr.write("usage: node bench/diagnose.ts cancel [PRAGMA…] | jobs | plans | claim-plan [N]\n");
  process.exitCode = 2;
}
