/** What only the PostgreSQL store has: its schema, its migration ledger under a lock, its options. */
import { createHash } from "node:crypto";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { isBelayError } from "../../src/core/errors.ts";
import { loadMigrations } from "../../src/store/postgres/migrate.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { insertEventsStatements } from "../../src/store/postgres/queries/events.ts";
import type { Statement } from "../../src/store/postgres/db.ts";
import type { NewEvent } from "../../src/core/model.ts";
import { Harness } from "./harness.ts";
import { pgUrl, testSchema } from "./pg-schema.ts";
import { noPostgres, skippedIf } from "../optional.ts";

describe("PostgreSQL store", skippedIf(noPostgres), () => {
  const url = pgUrl ?? "";
  const opened: PostgresStore[] = [];
  const open = (schema: string): PostgresStore => {
    const store = new PostgresStore({ url, schema, poolSize: 4 });
    opened.push(store);
    return store;
  };

  afterEach(async () => {
    const stores = opened.splice(0);
    for (const store of stores) await store.dropSchema();
    for (const store of stores) await store.close();
  });

  it("applies each numbered migration once when many processes migrate at once, recorded in the ledger", async () => {
    const schema = testSchema();
    const stores = Array.from({ length: 5 }, () => open(schema));
    expect(await stores[0]!.appliedMigrations()).toEqual([]);
    await Promise.all(stores.map((s) => s.migrate()));
    await stores[0]!.migrate();
    const ledger = await stores[1]!.appliedMigrations();
    expect(ledger.map((m) => ({ version: m.version, name: m.name }))).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name })));
    expect(ledger.every((m) => !Number.isNaN(Date.parse(m.appliedAt)))).toBe(true);
    expect(ledger.map((m) => m.checksum)).toEqual(loadMigrations().map((m) => createHash("sha256").update(m.sql).digest("hex")));
  });

  it("a ledger from before checksums gets the column and the checksums on the next start; a row of no shipped migration stays empty", async () => {
    const schema = testSchema();
    const store = open(schema);
    await store.migrate();
    // As an older Belay left it: no checksum column, and a migration this Belay does not ship.
    const sql = new pg.Client({ connectionString: url });
    await sql.connect();
    try {
      await sql.query(`ALTER TABLE ${schema}.belay_migrations DROP COLUMN checksum`);
      await sql.query(`INSERT INTO ${schema}.belay_migrations (version, name, applied_at) VALUES (99, 'from_the_future', now())`);
    } finally {
      await sql.end();
    }
    expect((await store.appliedMigrations()).map((m) => m.checksum)).toEqual([...loadMigrations().map(() => null), null]);
    await open(schema).migrate();
    expect((await store.appliedMigrations()).map((m) => [m.version, m.checksum])).toEqual([...loadMigrations().map((m) => [m.version, m.checksum]), [99, null]]);
  });

  it("keeps each schema's data apart", async () => {
    const a = open(testSchema());
    const b = open(testSchema());
    await a.migrate();
    await b.migrate();
    const job = await new Harness(a).submit({ command: ["true"] });
    expect(await b.getJob(job.id)).toBeNull();
    expect((await b.listJobs({}, { limit: 10 })).items).toEqual([]);
    expect(await new Harness(b).claim()).toEqual([]);
    expect((await a.getJob(job.id))?.id).toBe(job.id);
  });

  it("works in its schema whatever session options the URL carries", async () => {
    const schema = testSchema();
    const withOptions = new PostgresStore({ url: `${url}?options=${encodeURIComponent("-c search_path=public -c statement_timeout=60000")}`, schema });
    opened.push(withOptions);
    await withOptions.migrate();
    const job = await new Harness(withOptions).submit({ command: ["true"] });
    expect((await open(schema).getJob(job.id))?.id).toBe(job.id);
  });

  it("describes itself without the password", () => {
    const store = new PostgresStore({ url: "postgres://belay:s3cret@db.example:5432/jobs?sslmode=require", schema: "belay_x" });
    expect(store.description).toBe("postgres:postgres://belay:***@db.example:5432/jobs?sslmode=require#belay_x");
    expect(store.description).not.toContain("s3cret");
    void store.close();
  });

  it("refuses a schema name it could not use safely, and a bad pool size", () => {
    for (const schema of ["Belay", "belay-jobs", "1belay", "belay; drop table jobs", "", "x".repeat(64)]) {
      let error: unknown;
      try {
        new PostgresStore({ url, schema });
      } catch (e) {
        error = e;
      }
      expect(isBelayError(error, "INVALID_REQUEST")).toBe(true);
    }
    expect(() => new PostgresStore({ url, poolSize: 0 })).toThrow();
  });
});

describe("PostgreSQL store: plans made while the tables are small", skippedIf(noPostgres), () => {
  it("a submit's events are inserted with one index lookup per job, not a scan of every job", async () => {
    const schema = testSchema();
    const store = new PostgresStore({ url: pgUrl ?? "", schema, poolSize: 2 });
    await store.migrate();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${schema}`);
      // The plan a connection caches for this prepared statement is made while the table is
      // small (its sixth run, at the start of a deployment), and kept as the table grows:
      // the plan made on the empty table is the one that matters.
      const event = { jobId: "job-1", taskKey: null, type: "belay.job.created", time: new Date().toISOString(), data: {} };
      const [lock, insert] = insertEventsStatements("plan-test", [event as NewEvent], true);
      const text = (q: Statement["q"]): string => (typeof q === "string" ? q : q.text);
      await client.query("BEGIN");
      // The store's statements are prepared: after five runs PostgreSQL plans them without
      // their values (a generic plan, where the events array is guessed at ten rows).
      await client.query("SET LOCAL plan_cache_mode = force_generic_plan");
      await client.query(text(lock!.q), [...lock!.values]);
      await client.query(`PREPARE insert_events AS ${text(insert!.q)}`);
      // A generic plan does not depend on the values: none are given.
      const plan = (await client.query("EXPLAIN EXECUTE insert_events(NULL, NULL, NULL, NULL, NULL)")).rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join("\n");
      await client.query("ROLLBACK");
      // Without the by-key settings the planner hash-joins over "Seq Scan on jobs": a cost
      // that grows with the table (docs/benchmarks-peers.md).
      expect(plan).not.toMatch(/Seq Scan on jobs/);
      expect(plan).toMatch(/Index (Only )?Scan using \w+ on jobs/);
    } finally {
      await client.end();
      await store.dropSchema();
      await store.close();
    }
  });
});
