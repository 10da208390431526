/**
 * `belay doctor` on PostgreSQL schemas, as a subprocess: a healthy schema left exactly as it
 * was (and the scratch schema gone), a live worker listed, and broken schemas named.
 */
import { rmSync } from "node:fs";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { DoctorReport } from "../../src/store/doctor.ts";
import { loadMigrations } from "../../src/store/postgres/migrate.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";
import { parseJson, runCli, spawnCli, tempDir } from "./helpers.ts";
import type { CliResult } from "./helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";

const schemas: string[] = [];
const homes: string[] = [];
let sql: pg.Client;

beforeAll(async () => {
  if (!pgUrl) return;
  sql = new pg.Client({ connectionString: pgUrl });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
});

afterEach(async () => {
  for (const schema of schemas.splice(0)) await sql.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** A fresh migrated schema; its `--db` URL. */
async function migratedSchema(): Promise<{ schema: string; db: string }> {
  const schema = testSchema();
  schemas.push(schema);
  const store = new PostgresStore({ url: pgUrl as string, schema });
  await store.migrate();
  await store.close();
  return { schema, db: `${pgUrl as string}?schema=${schema}` };
}

const doctor = (db: string, ...args: string[]): Promise<CliResult> => runCli(["doctor", "--db", db, ...args]);

/** Everything the doctor could change in a schema: columns, indexes, the ledger, and each table's rows. */
async function snapshot(schema: string): Promise<unknown> {
  const columns = await sql.query("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2", [schema]);
  const indexes = await sql.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1", [schema]);
  const tables = await sql.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", [schema]);
  const contents: Record<string, unknown[]> = {};
  for (const { tablename } of tables.rows) contents[tablename] = (await sql.query(`SELECT * FROM ${schema}.${tablename} ORDER BY 1`)).rows;
  return { columns: columns.rows, indexes: indexes.rows, contents };
}

async function schemaExists(schema: string): Promise<boolean> {
  return (await sql.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rowCount === 1;
}

/** `belay worker` on the schema, until it says it runs. */
async function startWorker(db: string, nodeId: string): Promise<{ stop: () => Promise<number | null> }> {
  const home = tempDir();
  homes.push(home);
  const child = spawnCli(["worker", "--db", db, "--home", home, "--node-id", nodeId, "--concurrency", "1", "--log-level", "silent"]);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start; stdout: ${out}`)), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("running")) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`worker exited ${code}; stdout: ${out}`)));
  });
  return {
    stop: async () => {
      child.kill("SIGINT");
      return exited;
    },
  };
}

describe("belay doctor on PostgreSQL", skippedIf(noPostgres), () => {
  it("a healthy schema: every check passes, exit 0; the schema is unchanged and the scratch schema is gone", { timeout: 60_000 }, async () => {
    const { schema, db } = await migratedSchema();
    const before = await snapshot(schema);

    const text = await doctor(db);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    for (const name of ["connection", "schema", "migrations", "structure", "nodes", "notify"]) expect(text.stdout).toMatch(new RegExp(`^✓ ${name}\\b`, "m"));
    expect(text.stdout).toMatch(new RegExp(`^✓ notify\\s+LISTEN/NOTIFY round trip on belay_${schema} in [\\d.]+ ms$`, "m"));
    expect(text.stdout.trimEnd().split("\n").at(-1)).toBe("healthy");

    const report = parseJson<DoctorReport>(await doctor(db, "--json"));
    expect(report).toMatchObject({ dialect: "postgres", schema, healthy: true, structure: [] });
    expect(report.checks.every((c) => c.status === "ok")).toBe(true);
    expect(report.serverVersion).toMatch(/^PostgreSQL \d+/);
    expect(report.notify?.channel).toBe(`belay_${schema}`);
    expect(report.notify?.latencyMs).toEqual(expect.any(Number));
    expect(report.scratch).toMatch(/^belay_doctor_[0-9a-f]{12}$/);
    expect(await schemaExists(report.scratch as string)).toBe(false);
    expect(await snapshot(schema)).toEqual(before);
  });

  it("lists a live worker as alive, then as stopped once it has stopped", { timeout: 60_000 }, async () => {
    const { db } = await migratedSchema();
    const worker = await startWorker(db, "doctor-worker");
    let stopped = false;
    try {
      const text = await doctor(db);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^✓ nodes\s+1 alive$/m);
      expect(text.stdout).toMatch(/^\s+alive\s+worker\s+doctor-worker\s/m);
      const report = parseJson<DoctorReport>(await doctor(db, "--json"));
      expect(report.nodes).toEqual([expect.objectContaining({ id: "doctor-worker", role: "worker", state: "alive", pid: expect.any(Number) })]);
      expect(await worker.stop()).toBe(0);
      stopped = true;
    } finally {
      if (!stopped) await worker.stop();
    }
    const after = parseJson<DoctorReport>(await doctor(db, "--json"));
    expect(after.nodes?.map((n) => [n.id, n.state])).toEqual([["doctor-worker", "stopped"]]);
    expect(after.healthy).toBe(true);
  });

  it("a dropped index fails the structure check", { timeout: 60_000 }, async () => {
    const { schema, db } = await migratedSchema();
    await sql.query(`DROP INDEX ${schema}.nodes_live`);
    const text = await doctor(db);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^✗ structure/m);
    expect(text.stdout).toContain("index nodes_live is missing: CREATE INDEX nodes_live ON nodes USING btree (heartbeat_ms)");
    const report = parseJson<DoctorReport>(await doctor(db, "--json"));
    expect(report.structure).toEqual([{ kind: "index", name: "nodes_live", problem: "missing", expected: expect.stringContaining("CREATE INDEX nodes_live ON nodes"), actual: null }]);
    expect(await schemaExists(report.scratch as string)).toBe(false);
  });

  it("a missing column and a changed type fail the structure check", { timeout: 60_000 }, async () => {
    const { schema, db } = await migratedSchema();
    await sql.query(`ALTER TABLE ${schema}.tokens DROP COLUMN expires_at`);
    await sql.query(`ALTER TABLE ${schema}.jobs ALTER COLUMN priority TYPE bigint`);
    const text = await doctor(db);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("column tokens.expires_at (timestamp with time zone) is missing");
    expect(text.stdout).toContain("column jobs.priority is bigint not null; expected integer not null");
  });

  it("a migration in the ledger that this Belay does not ship fails the migrations check", { timeout: 60_000 }, async () => {
    const { schema, db } = await migratedSchema();
    await sql.query(`INSERT INTO ${schema}.belay_migrations (version, name, applied_at) VALUES (99, 'from_the_future', now())`);
    const text = await doctor(db);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^✗ migrations/m);
    expect(text.stdout).toContain("0099_from_the_future");
    const report = parseJson<DoctorReport>(await doctor(db, "--json"));
    expect(report.migrations?.unknown.map((m) => m.version)).toEqual([99]);
    expect(report.checks.find((c) => c.name === "structure")?.status).toBe("skip");
  });

  it("a migration whose recorded checksum differs from its file (edited after it was applied) fails the migrations check", { timeout: 60_000 }, async () => {
    const { schema, db } = await migratedSchema();
    const recorded = "0123456789ab".repeat(5) + "cdef";
    await sql.query(`UPDATE ${schema}.belay_migrations SET checksum = $1 WHERE version = 3`, [recorded]);
    const text = await doctor(db);
    expect(text.code).toBe(1);
    const count = loadMigrations().length;
    expect(text.stdout).toMatch(new RegExp(`^✗ migrations\\s+${count} applied, 1 edited after being applied \\(this Belay ships ${count}\\)$`, "m"));
    expect(text.stdout).toContain("migration 0003_nodes was edited after it was applied: the ledger records sha256 0123456789ab…, this Belay's file is ");
    expect(text.stdout).toContain("restore the file as it was released and put the change in a new migration");
    const report = parseJson<DoctorReport>(await doctor(db, "--json"));
    const shipped = loadMigrations().find((m) => m.version === 3);
    expect(report.migrations?.edited).toEqual([{ version: 3, name: "nodes", ledgerChecksum: recorded, shippedChecksum: shipped?.checksum }]);
    expect(report.healthy).toBe(false);
  });

  it("a ledger from before checksums warns until the next start records them", { timeout: 60_000 }, async () => {
    const { schema, db } = await migratedSchema();
    await sql.query(`ALTER TABLE ${schema}.belay_migrations DROP COLUMN checksum`);
    const text = await doctor(db);
    expect(text.code).toBe(0);
    const names = loadMigrations().map((m) => `${String(m.version).padStart(4, "0")}_${m.name}`);
    expect(text.stdout).toMatch(new RegExp(`^! migrations\\s+${names.length} applied, ${names.length} without a checksum`, "m"));
    expect(text.stdout).toContain("the next `belay serve` or `belay worker` on this database records them");
    expect(text.stdout).toMatch(/^- structure\s+not compared until/m);

    const store = new PostgresStore({ url: pgUrl as string, schema });
    await store.migrate();
    await store.close();
    const after = parseJson<DoctorReport>(await doctor(db, "--json"));
    expect(after.checks.every((c) => c.status === "ok")).toBe(true);
    expect(after.migrations?.applied.map((m) => m.checksum)).toEqual(loadMigrations().map((m) => m.checksum));
  });

  it("a schema that does not exist fails the schema check and is not created", { timeout: 60_000 }, async () => {
    const schema = testSchema();
    schemas.push(schema);
    const text = await doctor(`${pgUrl as string}?schema=${schema}`);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^✓ connection/m);
    expect(text.stdout).toContain(`✗ schema      schema ${schema} does not exist`);
    expect(await schemaExists(schema)).toBe(false);
  });
});
