/**
 * The PostgreSQL event feed without a lock that serialises writers: a reader never returns an
 * event while a writer that numbered a lower one is still in flight, and the hot operations
 * take the round trips docs/postgres.md promises.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { newJob } from "../../src/core/lifecycle.ts";
import { settle } from "../../src/core/settle.ts";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import { parseJobSpec } from "../../src/core/spec.ts";
import { newId } from "../../src/engine/ids.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { cancelJob, Harness } from "./harness.ts";
import { pgUrl, testSchema } from "./pg-schema.ts";

/** Submit a one-task job straight through the store, as the engine does, without reading anything back. */
async function insert(store: PostgresStore): Promise<{ job: Job; events: BelayEvent[] }> {
  const job = newJob(parseJobSpec({ command: ["true"] }), { id: newId(), owner: "alice", now: new Date().toISOString() });
  return store.insertJob((d) => {
    d.emit("belay.job.created", null, { status: "queued", name: job.name, queue: job.queue, owner: job.owner });
    settle(d);
  }, job);
}

if (!pgUrl) console.warn("BELAY_TEST_PG_URL not set: PostgreSQL event order tests skipped");

describe.skipIf(!pgUrl)("PostgreSQL event feed and round trips", () => {
  const url = pgUrl ?? "";
  const opened: PostgresStore[] = [];
  const clients: pg.Client[] = [];
  const open = async (schema: string): Promise<PostgresStore> => {
    const store = new PostgresStore({ url, schema, poolSize: 4 });
    opened.push(store);
    await store.migrate();
    return store;
  };
  /** A raw connection in the store's schema, writing events as every writer of the store does. */
  const rawWriter = async (schema: string): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    clients.push(client);
    await client.connect();
    return client;
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.end().catch(() => undefined);
    const stores = opened.splice(0);
    for (const store of stores) await store.dropSchema();
    for (const store of stores) await store.close();
  });

  it("holds back a committed event while a writer that numbered a lower one is in flight, then returns both in order", async () => {
    const schema = testSchema();
    const store = await open(schema);
    const h = new Harness(store);
    const first = await h.submit({ command: ["true"] });
    const cursor = await store.maxEventSeq();

    // A writer numbers an event and has not committed yet (holding the lock as writers do).
    const slow = await rawWriter(schema);
    await slow.query("BEGIN");
    await slow.query("SELECT pg_advisory_xact_lock_shared(hashtext($1), 0)", [`belay:${schema}:events`]);
    const inserted = await slow.query<{ seq: string }>(
      "INSERT INTO events (job_id, task_key, type, time, data) VALUES ($1, NULL, 'belay.job.progress', now(), '{}') RETURNING seq",
      [first.id],
    );
    const slowSeq = Number(inserted.rows[0]?.seq);

    // Another writer commits a higher-numbered event meanwhile (read back without the store:
    // its readers wait for the writer in flight).
    const second = await insert(store);
    expect(second.events.length).toBeGreaterThan(0);
    const secondEvents = second.events;
    expect(secondEvents.every((e) => e.seq > slowSeq)).toBe(true);

    // A reader asked now must not return the higher one while the lower one may still commit.
    let settled = false;
    const read = store.eventsAfter(cursor, 100).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false);
    await slow.query("COMMIT");
    const seqs = (await read).map((e) => e.seq);
    expect(seqs[0]).toBe(slowSeq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs).toEqual(expect.arrayContaining(secondEvents.map((e) => e.seq)));
  });

  it("maxEventSeq waits for a writer in flight, so a follower starting there skips nothing", async () => {
    const schema = testSchema();
    const store = await open(schema);
    const job = await new Harness(store).submit({ command: ["true"] });
    const slow = await rawWriter(schema);
    await slow.query("BEGIN");
    await slow.query("SELECT pg_advisory_xact_lock_shared(hashtext($1), 0)", [`belay:${schema}:events`]);
    await slow.query("INSERT INTO events (job_id, task_key, type, time, data) VALUES ($1, NULL, 'belay.job.progress', now(), '{}')", [job.id]);
    const start = store.maxEventSeq();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await slow.query("ROLLBACK");
    const cursor = await start;
    // The rolled-back event's number is below the cursor: nothing was skipped, nothing is returned.
    expect(await store.eventsAfter(cursor, 100)).toEqual([]);
  });

  it("concurrent writers on several connections never let a following reader skip an event", async () => {
    const schema = testSchema();
    const writers = await Promise.all(Array.from({ length: 4 }, () => open(schema)));
    const reader = await open(schema);
    const seen: number[] = [];
    let cursor = 0;
    let writing = true;
    const follow = (async () => {
      while (writing || seen.length === 0 || cursor < (await reader.maxEventSeq())) {
        const page = await reader.eventsAfter(cursor, 1000);
        for (const e of page) {
          expect(e.seq).toBeGreaterThan(cursor);
          seen.push(e.seq);
          cursor = e.seq;
        }
        if (page.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await Promise.all(
      writers.map(async (store) => {
        const h = new Harness(store);
        for (let i = 0; i < 25; i += 1) {
          const job = await h.submit({ command: ["true"] });
          if (i % 2 === 0) await store.mutateJob(job.id, h.now(), cancelJob());
        }
      }),
    );
    writing = false;
    await follow;
    const all = (await reader.eventsAfter(0, 100_000)).map((e) => e.seq);
    expect(seen).toEqual(all);
    expect(all.length).toBeGreaterThan(100);
  });

  it("a queued cancel takes 2 round trips and a submit 1", async () => {
    const store = await open(testSchema());
    const h = new Harness(store);
    const job = await h.submit({ command: ["true"] });
    let before = store.roundTrips();
    await store.mutateJob(job.id, h.now(), cancelJob());
    expect(store.roundTrips().roundTrips - before.roundTrips).toBe(2);
    before = store.roundTrips();
    await insert(store);
    expect(store.roundTrips().roundTrips - before.roundTrips).toBe(1);
  });
});
