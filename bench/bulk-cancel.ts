/**
 * BC and PBC: bulk cancel of 10,000 queued jobs (`npm run bench -- BC PBC`), on SQLite and on PostgreSQL,
 * through the library (`engine.cancelJobs` by status), with the store's statement and round-trip
 * counts beside the time. The counts are deterministic; the times are not (compare them only
 * within one run). The queue is filled with the bulk submit (not timed).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Belay } from "../src/engine/engine.ts";
import { openBelay } from "../src/engine/open.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { handlersModule, microsSince } from "./engine.ts";
import { defaultPgUrl } from "./round-trips.ts";
import { fmt } from "./stats.ts";
import type { Row } from "./stats.ts";

interface Counting {
  roundTrips(): { statements: number; roundTrips: number };
}

async function measureOn(engine: Belay, label: string, jobs: number, rows: Row[], log: (m: string) => void): Promise<void> {
  for (let i = 0; i < jobs; i += 10_000) {
    await engine.submitJobs(Array.from({ length: Math.min(10_000, jobs - i) }, () => ({ handler: "noop" })));
  }
  const store = engine.store as unknown as Counting;
  const before = store.roundTrips();
  const t = process.hrtime.bigint();
  const bulk = await engine.cancelJobs({ filter: { status: ["queued"] } });
  const ms = microsSince(t) / 1000;
  const after = store.roundTrips();
  const statements = after.statements - before.statements;
  const trips = after.roundTrips - before.roundTrips;
  log(`  ${label}: ${bulk.cancelled} of ${bulk.matched} cancelled in ${fmt(ms)} ms; ${statements} statements, ${trips} round trips`);
  rows.push(
    { workload: "BC", figure: `${label}: cancelJobs bulk, ${jobs} queued (call returns)`, value: `${fmt(ms)} ms`, target: "", met: bulk.cancelled === jobs ? null : false, reference: "" },
    { workload: "BC", figure: `${label}: statements / round trips`, value: `${statements} / ${trips}`, target: "", met: null, reference: "" },
  );
}

/** BC: on a fresh SQLite file. */
export async function bulkCancelSqlite(options: { jobs: number; rows: Row[]; log: (m: string) => void }): Promise<void> {
  const { jobs, rows, log } = options;
  log(`BC: bulk cancel of ${jobs} queued jobs on SQLite`);
  const home = mkdtempSync(join(tmpdir(), "belay-bench-bc-"));
  try {
    const engine = await openBelay({ home, db: `sqlite:${join(home, "belay.db")}`, handlers: handlersModule, concurrency: 0 });
    try {
      await measureOn(engine, "SQLite", jobs, rows, log);
    } finally {
      await engine.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** PBC: on a fresh PostgreSQL schema (BELAY_BENCH_PG_URL), dropped afterwards. */
export async function bulkCancelPostgres(options: { jobs: number; rows: Row[]; log: (m: string) => void }): Promise<void> {
  const { jobs, rows, log } = options;
  log(`PBC: bulk cancel of ${jobs} queued jobs on PostgreSQL`);
  const home = mkdtempSync(join(tmpdir(), "belay-bench-bc-"));
  const schema = `belay_bench_bc_${process.pid}`;
  try {
    const engine = await openBelay({ home, db: `${defaultPgUrl}${defaultPgUrl.includes("?") ? "&" : "?"}schema=${schema}`, handlers: handlersModule, concurrency: 0 });
    try {
      await measureOn(engine, "PostgreSQL", jobs, rows, log);
    } finally {
      await engine.close();
    }
  } finally {
    // The engine closed its store; the schema is dropped through a fresh one.
    const dropper = new PostgresStore({ url: defaultPgUrl, schema, poolSize: 1 });
    await dropper.dropSchema().catch(() => undefined);
    await dropper.close();
    rmSync(home, { recursive: true, force: true });
  }
}
