/** What only the PostgreSQL store has: its schema, its migration ledger under a lock, its options. */
import { createHash } from "node:crypto";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { isBelayError } from "../../src/core/errors.ts";
import { loadMigrations } from "../../src/store/postgres/migrate.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
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
