/**
 * A cancel storm across two nodes on PostgreSQL (DESIGN invariants 3 and 5, §6): jobs run on
 * both nodes, and 1,000 cancel requests for them go through both nodes' APIs at once, so
 * every job is cancelled concurrently by a node that runs it and by one that does not.
 * Afterwards: exactly one record per job, every job `cancelled`, no runner process alive
 * (real PIDs), and each node's event stream delivered every event of these jobs once, with
 * the number the store gave it.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { BelayClient } from "../../src/client/client.ts";
import { BelayApiError } from "../../src/client/errors.ts";
import type { Job } from "../../src/core/model.ts";
import { until } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { Cluster, processesWith } from "./cluster.ts";

const jobsPerNode = 10;
const requests = 1000;
/** Requests in flight at once, per node. */
const inFlightPerNode = 100;

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

/** Every event of the stream, by seq, counting repeats, until `stop` aborts. */
function collect(client: BelayClient, stop: AbortSignal): { seen: Map<number, number>; ready: Promise<void> } {
  const seen = new Map<number, number>();
  const ready = (async () => {
    const stream = await client.connectEvents({ signal: stop });
    void (async () => {
      try {
        for await (const event of stream) seen.set(event.seq, (seen.get(event.seq) ?? 0) + 1);
      } catch {
        // aborted at the end
      }
    })();
  })();
  return { seen, ready };
}

function describeProcess(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `pid ${pid} state ${fields[0]} ppid ${fields[1]} pgid ${fields[2]}: ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`;
  } catch {
    return `pid ${pid} (gone)`;
  }
}

async function allJobs(client: BelayClient): Promise<Job[]> {
  return (await client.listJobs({ limit: 1000 })).items;
}

describe("1,000 cancels across two nodes on PostgreSQL", skippedIf(noPostgres), () => {
  it("one record per job, every job cancelled, no runner alive, every event delivered once by each node", { timeout: 180_000 }, async () => {
    const c = new Cluster(pgUrl as string, testSchema());
    cluster = c;
    const concurrency = ["--concurrency", String(jobsPerNode)];
    const a = await c.startServeNode("storm-a", concurrency);
    const b = await c.startServeNode("storm-b", concurrency);
    const clients = [a.client, b.client];
    const stop = new AbortController();
    const streams = clients.map((client) => collect(client, stop.signal));
    await Promise.all(streams.map((s) => s.ready));

    const marker = `belay-storm-${randomBytes(6).toString("hex")}`;
    const ids: string[] = [];
    for (let i = 0; i < jobsPerNode * 2; i++) {
      // Half of them ignore SIGTERM and are killed after their grace.
      const body = i % 2 === 0 ? "trap 'exit 0' TERM; while true; do sleep 0.2; done" : "trap '' TERM; while true; do sleep 0.2; done";
      const { job } = await clients[i % 2]!.submitJob({ name: `storm-${i}`, command: ["sh", "-c", `${body} # ${marker}:${i}:`], graceMs: 500 });
      ids.push(job.id);
    }
    // Both nodes run some: each has room for all of them, so they spread as they are claimed.
    const running = await until(
      () => allJobs(a.client),
      (jobs) => jobs.length === ids.length && jobs.every((j) => j.tasks[0]?.status === "running"),
      60_000,
    );
    const owners = new Set(running.map((j) => j.tasks[0]?.nodeId));
    expect(owners).toEqual(new Set(["storm-a", "storm-b"]));
    await until(async () => ids.map((_, i) => processesWith(`${marker}:${i}:`).length), (counts) => counts.every((n) => n > 0));

    // The storm: request k cancels job k mod 20 through node k mod 2 (so each job is cancelled through both).
    const answers: Array<{ jobId: string; recordId: string | null; status: string }> = [];
    const failures: string[] = [];
    let next = 0;
    const send = async (): Promise<void> => {
      while (next < requests) {
        const k = next++;
        const jobId = ids[k % ids.length]!;
        const client = clients[Math.floor(k / ids.length) % 2]!;
        try {
          const result = await client.cancelJob(jobId, { reason: "storm", force: k % 97 === 0 });
          answers.push({ jobId, recordId: result.cancellation.id, status: result.job.status });
        } catch (error) {
          failures.push(error instanceof BelayApiError ? `${error.status} ${error.code}: ${error.message}` : String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: inFlightPerNode * 2 }, send));
    expect(failures).toEqual([]);
    expect(answers).toHaveLength(requests);

    const ended: Job[] = await until(
      () => allJobs(a.client),
      (jobs) => jobs.length === ids.length && jobs.every((j) => j.status === "cancelled"),
      60_000,
    );
    for (const job of ended) expect(job.tasks[0]?.status).toBe("cancelled");

    // Invariant 5: one record per job, and every answer named it.
    const db = new pg.Client({ connectionString: pgUrl as string });
    await db.connect();
    try {
      const { rows } = await db.query<{ job_id: string; n: string; statuses: string[] }>(
        `SELECT job_id, count(*) AS n, array_agg(status) AS statuses FROM ${c.schema}.cancellations WHERE scope = 'job' GROUP BY job_id`,
      );
      expect(rows).toHaveLength(ids.length);
      for (const row of rows) expect({ job: row.job_id, n: Number(row.n) }).toEqual({ job: row.job_id, n: 1 });
      const records = await until(
        async () => (await db.query<{ job_id: string; id: string; status: string }>(`SELECT job_id, id, status FROM ${c.schema}.cancellations`)).rows,
        (rs) => rs.every((r) => r.status !== "in_progress"),
        30_000,
      );
      for (const r of records) expect(r.status).toBe("completed");
      const recordOf = new Map(records.map((r) => [r.job_id, r.id]));
      for (const answer of answers) expect(answer.recordId).toBe(recordOf.get(answer.jobId));

      // No runner alive: no process, and no runner row left open.
      // (With each survivor's parent, group and command line, should one be left.)
      await until(async () => processesWith(marker).map((pid) => describeProcess(pid)), (left) => left.length === 0, 30_000);
      const open = await db.query(`SELECT job_id FROM ${c.schema}.runners WHERE ended_at IS NULL`);
      expect(open.rows).toEqual([]);

      // Every event of these jobs reached each node's stream exactly once, with the store's number.
      const { rows: stored } = await db.query<{ seq: string }>(`SELECT seq FROM ${c.schema}.events ORDER BY seq`);
      const storedSeqs = stored.map((r) => Number(r.seq));
      for (const [n, stream] of streams.entries()) {
        await until(async () => stream.seen.size, (size) => size >= storedSeqs.length, 30_000);
        const missing = storedSeqs.filter((seq) => !stream.seen.has(seq));
        const repeated = [...stream.seen].filter(([, count]) => count > 1).map(([seq]) => seq);
        const unknown = [...stream.seen.keys()].filter((seq) => !storedSeqs.includes(seq));
        expect({ node: n, missing, repeated, unknown }).toEqual({ node: n, missing: [], repeated: [], unknown: [] });
      }
    } finally {
      stop.abort();
      await db.end();
    }
  });
});
