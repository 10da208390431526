/**
 * The real engine under random interleavings of submit, cancel (job, task, bulk, force,
 * onlyIfPending), resume, waits and node crashes, on SQLite (one node; a crash restarts it
 * with a new node id or with the same one) and on PostgreSQL (two nodes on one schema; a
 * crash kills one, the other recovers its work once its lease runs out). The commands and
 * the checks live in interleavings.ts.
 *
 * `npm test` runs 150 cases on SQLite and 50 on PostgreSQL (together 200). The long run
 * (`npm run chaos`, CHAOS_LONG=1; or INTERLEAVINGS_RUNS=N for each store) runs more and writes
 * its summary to docs/reliability-interleavings.md. A failure prints the shrunk command
 * sequence and fast-check's seed and path, which replay it (INTERLEAVINGS_SEED=…);
 * INTERLEAVINGS_TIMES=1 prints each case's operations and how long its parts took.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { handlers } from "../multinode/cluster.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import { checkEventLog } from "../core/invariants-model.ts";
import { checkNothingStartsAfterEnd, commands, checkEnd, Tally, withNodeId } from "./interleavings.ts";
import type { Model, Node, Real } from "./interleavings.ts";
import { killSurvivors } from "./processes.ts";
import { postgresBackend, sqliteBackend, startServer } from "./server.ts";
import type { ChaosBackend } from "./server.ts";

const long = process.env["CHAOS_LONG"] === "1";
const runsFor = (quick: number, longRuns: number): number => Number(process.env["INTERLEAVINGS_RUNS"] ?? (long ? longRuns : quick));
const sqliteRuns = runsFor(150, 5000);
const postgresRuns = runsFor(50, 5000);

const runTag = `il${process.pid}`;
let caseNumber = 0;
const summaries: string[] = [];

afterAll(() => {
  killSurvivors(runTag);
  if (long && summaries.length > 0) {
    const path = new URL("../../docs/reliability-interleavings.md", import.meta.url);
    writeFileSync(
      path,
      `# Interleavings: the last long run\n\nWritten by \`test/chaos/interleavings.property.test.ts\` (\`npm run chaos\`, ${new Date().toISOString().slice(0, 10)}).\n\n| store | cases | distinct operation sequences | crashes | violations | seed |\n|---|---|---|---|---|---|\n${summaries.join("\n")}\n`,
    );
  }
});

async function play(nodes: Node[], store: Store, runs: number, storeName: string): Promise<void> {
  const tally = new Tally();
  const seed = Number(process.env["INTERLEAVINGS_SEED"] ?? Date.now() % 2 ** 31);
  let violations = 0;
  try {
    await fc.assert(
      fc.asyncProperty(commands(nodes.length), async (cmds) => {
        const model: Model = { tag: `${runTag}c${caseNumber++}`, jobs: [], crashes: 0 };
        const real: Real = { nodes, accepted: new Map(), jobRecord: new Map(), bulk: [], ops: [] };
        try {
          const t0 = Date.now();
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          const t1 = Date.now();
          await checkEnd(model, real, store);
          if (process.env["INTERLEAVINGS_TIMES"] === "1") process.stderr.write(`case ${model.tag}: commands ${t1 - t0} ms, end ${Date.now() - t1} ms: ${real.ops.join(" ")}\n`);
          tally.add(real, model);
        } catch (error) {
          violations += 1;
          // Printed at once: a long run goes on shrinking (and to the next store) before vitest
          // reports, and a run stopped early would otherwise lose what was seen.
          process.stderr.write(`interleavings on ${storeName}: violation in case ${model.tag}: ${error instanceof Error ? error.message : String(error)}\n  ops: ${real.ops.join(" ")}\n`);
          throw error;
        } finally {
          for (const job of model.jobs) killSurvivors(job.marker);
        }
      }),
      { numRuns: runs, seed, endOnFailure: !long },
    );
  } finally {
    summaries.push(`| ${storeName} | ${tally.cases} | ${tally.sequences.size} | ${tally.crashes} | ${violations} | ${seed} |`);
    process.stderr.write(`interleavings on ${storeName}: ${tally.cases} cases, ${tally.sequences.size} distinct sequences, ${tally.crashes} crashes, ${violations} violations (seed ${seed})\n`);
  }
  expect(tally.cases).toBeGreaterThanOrEqual(runs);
}

describe("the interleavings' checks can fail", () => {
  const job = { id: "j1", status: "cancelling", attempt: 1, tasks: [{ key: "a", status: "running", runOn: "normal", attempt: 1 }] } as unknown as Job;
  const event = (seq: number, type: string, data: Record<string, unknown>): BelayEvent => ({ seq, type, subject: "j1", data }) as unknown as BelayEvent;
  it("a task started after the job cancel was accepted is a violation of invariant 2", () => {
    const log = [
      event(1, "belay.job.started", { from: "queued", status: "running" }),
      event(2, "belay.job.cancel_requested", { from: "running", status: "cancelling" }),
      event(3, "belay.task.started", { taskKey: "a", from: "pending", status: "running" }),
    ];
    expect(() => checkEventLog(job, log.slice(0, 2), { snapshot: false })).not.toThrow();
    expect(() => checkEventLog(job, log, { snapshot: false })).toThrow(/invariant 2: a task started after the job cancel was accepted/);
  });
  it("a task started after the job ended is a violation", () => {
    const log = [event(1, "belay.job.cancelled", { from: "queued", status: "cancelled" }), event(2, "belay.task.started", { taskKey: "a", from: "pending", status: "running" })];
    expect(() => checkNothingStartsAfterEnd(job, log)).toThrow(/started \(event #2\) after the job ended/);
  });
});

describe("the engine under random interleavings", () => {
  it(`SQLite, one node crashed and restarted: ${sqliteRuns} cases`, { timeout: long ? 24 * 3600_000 : 600_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), "belay-interleavings-"));
    // Two ways back after a crash: as a new node, or as the same node id (the other backend, same home).
    const fresh: ChaosBackend = sqliteBackend(home);
    const pinned = withNodeId(fresh, "interleavings-sqlite");
    const node: Node = { backend: fresh, pinned, server: await startServer(pinned, { handlers }) };
    const store = await fresh.openStore();
    try {
      await play([node], store, sqliteRuns, "SQLite, 1 node");
    } finally {
      await store.close();
      await node.server.stop();
      await fresh.dispose();
    }
  });

});

describe("the engine under random interleavings, on PostgreSQL", skippedIf(noPostgres), () => {
  it(`PostgreSQL, two nodes, one crashed and restarted: ${postgresRuns} cases`, { timeout: long ? 24 * 3600_000 : 600_000 }, async () => {
    const backend = postgresBackend(process.env["BELAY_TEST_PG_URL"] as string);
    const nodes: Node[] = [];
    for (let i = 0; i < 2; i++) {
      const pinned = withNodeId(backend, `interleavings-pg-${i}`);
      nodes.push({ backend, pinned, server: await startServer(pinned, { handlers }) });
    }
    const store = await backend.openStore();
    try {
      await play(nodes, store, postgresRuns, "PostgreSQL, 2 nodes");
    } finally {
      await store.close();
      for (const n of nodes) await n.server.stop();
      await backend.dispose();
    }
  });
});
