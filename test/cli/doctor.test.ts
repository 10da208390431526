/** `belay doctor` on SQLite files, as a subprocess: a healthy store, broken ones, and command-line mistakes. */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import type { DoctorReport } from "../../src/store/doctor.ts";
import { loadMigrations } from "../../src/store/sqlite/migrate.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { parseJson, runCli, tempDir } from "./helpers.ts";
import type { CliResult } from "./helpers.ts";

const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** A home with a migrated store in `belay.db`, after `sql` has been run on it. */
async function storeHome(sql = ""): Promise<{ home: string; file: string }> {
  const home = tempDir();
  homes.push(home);
  const file = join(home, "belay.db");
  const store = new SqliteStore({ path: file });
  await store.migrate();
  await store.close();
  if (sql !== "") {
    const db = new DatabaseSync(file);
    db.exec(sql);
    db.close();
  }
  return { home, file };
}

const doctor = (home: string, ...args: string[]): Promise<CliResult> => runCli(["doctor", "--home", home, ...args], { BELAY_DB: "" });

function checkOf(report: DoctorReport, name: string): DoctorReport["checks"][number] {
  const found = report.checks.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no ${name} check in ${JSON.stringify(report.checks)}`);
  return found;
}

describe("belay doctor on SQLite", () => {
  it("a healthy store: every check passes, exit 0, and the file is not changed", { timeout: 30_000 }, async () => {
    const { home, file } = await storeHome();
    const before = readFileSync(file);

    const text = await doctor(home);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`Belay doctor: sqlite:${file}`);
    for (const name of ["connection", "schema", "migrations", "structure", "nodes"]) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^✓ ${name}\\b`)));
    expect(lines.at(-1)).toBe("healthy");

    // Also with the database found through BELAY_HOME, and as JSON.
    const json = await runCli(["doctor", "--json"], { BELAY_HOME: home, BELAY_DB: "" });
    expect(json.code).toBe(0);
    const report = parseJson<DoctorReport>(json);
    expect(report).toMatchObject({ dialect: "sqlite", healthy: true, db: `sqlite:${file}` });
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ["connection", "ok"],
      ["schema", "ok"],
      ["migrations", "ok"],
      ["structure", "ok"],
      ["nodes", "ok"],
    ]);
    expect(report.migrations?.pending).toEqual([]);
    expect(report.migrations?.edited).toEqual([]);
    expect(report.migrations?.unrecorded).toEqual([]);
    expect(report.migrations?.applied.map((m) => m.version)).toEqual(report.migrations?.shipped.map((m) => m.version));
    expect(report.structure).toEqual([]);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("a dropped index fails the structure check and shows the index to recreate", { timeout: 30_000 }, async () => {
    const { home } = await storeHome("DROP INDEX nodes_live");
    const text = await doctor(home);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^✗ structure/m);
    expect(text.stdout).toContain("index nodes_live is missing: CREATE INDEX nodes_live ON nodes (heartbeat_ms)");
    expect(text.stdout.trimEnd().split("\n").at(-1)).toBe("1 check failed");
    const report = parseJson<DoctorReport>(await doctor(home, "--json"));
    expect(report.healthy).toBe(false);
    expect(report.structure).toEqual([{ kind: "index", name: "nodes_live", problem: "missing", expected: expect.stringContaining("CREATE INDEX nodes_live"), actual: null }]);
  });

  it("a missing column fails the structure check naming the column", { timeout: 30_000 }, async () => {
    const { home } = await storeHome("ALTER TABLE tokens DROP COLUMN expires_at");
    const text = await doctor(home);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("column tokens.expires_at (TEXT) is missing");
    const report = parseJson<DoctorReport>(await doctor(home, "--json"));
    expect(report.structure).toEqual([{ kind: "column", name: "tokens.expires_at", problem: "missing", expected: "TEXT", actual: null }]);
    expect(checkOf(report, "migrations").status).toBe("ok");
  });

  it("a migration in the ledger that this Belay does not ship fails the migrations check", { timeout: 30_000 }, async () => {
    const { home } = await storeHome("INSERT INTO belay_migrations (version, name, applied_at) VALUES (99, 'from_the_future', '2030-01-01T00:00:00.000Z')");
    const text = await doctor(home);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^✗ migrations/m);
    expect(text.stdout).toContain("1 migration in the ledger that this Belay does not ship: 0099_from_the_future");
    expect(text.stdout).toContain("upgrade belay");
    const report = parseJson<DoctorReport>(await doctor(home, "--json"));
    expect(report.migrations?.unknown).toEqual([{ version: 99, name: "from_the_future", appliedAt: "2030-01-01T00:00:00.000Z", checksum: null }]);
    expect(checkOf(report, "structure").status).toBe("skip");
  });

  it("a migration whose recorded checksum differs from its file (edited after it was applied) fails the migrations check", { timeout: 30_000 }, async () => {
    const recorded = "0123456789ab".repeat(5) + "cdef";
    const { home } = await storeHome(`UPDATE belay_migrations SET checksum = '${recorded}' WHERE version = 2`);
    const text = await doctor(home);
    expect(text.code).toBe(1);
    const count = loadMigrations().length;
    expect(text.stdout).toMatch(new RegExp(`^✗ migrations\\s+${count} applied, 1 edited after being applied \\(this Belay ships ${count}\\)$`, "m"));
    expect(text.stdout).toContain("migration 0002_tokens_webhooks was edited after it was applied: the ledger records sha256 0123456789ab…, this Belay's file is ");
    expect(text.stdout).toContain("restore the file as it was released and put the change in a new migration");
    expect(text.stdout.trimEnd().split("\n").at(-1)).toBe("1 check failed");
    const report = parseJson<DoctorReport>(await doctor(home, "--json"));
    const shipped = loadMigrations().find((m) => m.version === 2);
    expect(report.migrations?.edited).toEqual([{ version: 2, name: "tokens_webhooks", ledgerChecksum: recorded, shippedChecksum: shipped?.checksum }]);
    expect(report.healthy).toBe(false);
  });

  it("a ledger from before checksums warns until the next start records them", { timeout: 30_000 }, async () => {
    const { home, file } = await storeHome("ALTER TABLE belay_migrations DROP COLUMN checksum");
    const text = await doctor(home);
    expect(text.code).toBe(0);
    const names = loadMigrations().map((m) => `${String(m.version).padStart(4, "0")}_${m.name}`);
    expect(text.stdout).toMatch(new RegExp(`^! migrations\\s+${names.length} applied, ${names.length} without a checksum`, "m"));
    expect(text.stdout).toContain(`no checksum recorded for ${names.length} migrations (applied by a Belay that did not record them): ${names.join(", ")}`);
    expect(text.stdout).toContain("the next `belay serve` or `belay worker` on this database records them");
    expect(text.stdout).toMatch(/^- structure\s+not compared until/m);

    const store = new SqliteStore({ path: file });
    await store.migrate();
    await store.close();
    const after = parseJson<DoctorReport>(await doctor(home, "--json"));
    expect(after.checks.map((c) => [c.name, c.status])).toEqual([
      ["connection", "ok"],
      ["schema", "ok"],
      ["migrations", "ok"],
      ["structure", "ok"],
      ["nodes", "ok"],
    ]);
    expect(after.migrations?.applied.map((m) => m.checksum)).toEqual(loadMigrations().map((m) => m.checksum));
  });

  it("pending migrations fail with what to run", { timeout: 30_000 }, async () => {
    const { home } = await storeHome("DELETE FROM belay_migrations WHERE version >= 3");
    const text = await doctor(home);
    expect(text.code).toBe(1);
    const pending = loadMigrations().filter((m) => m.version >= 3).map((m) => `${String(m.version).padStart(4, "0")}_${m.name}`);
    expect(text.stdout).toContain(`${pending.length} migrations pending: ${pending.join(", ")}`);
    expect(text.stdout).toContain("run `belay serve` or `belay worker` once on this database to apply them");
  });

  it("lists the nodes; an expired lease warns without failing", { timeout: 30_000 }, async () => {
    const { home, file } = await storeHome();
    const store = new SqliteStore({ path: file });
    const now = Date.now();
    const node = { pid: 4242, pidStartTime: null, leaseMs: 10_000, stoppedAt: null, deadAt: null };
    // A lease of an hour: alive however slow this machine is.
    await store.registerNode({ ...node, id: "node-live", hostname: "host-a", role: "serve", startedAt: new Date(now - 7_200_000).toISOString(), heartbeatMs: now, leaseMs: 3_600_000 });
    await store.registerNode({ ...node, id: "node-gone", hostname: "host-b", role: "worker", startedAt: new Date(now - 3_600_000).toISOString(), heartbeatMs: now - 600_000 });
    await store.close();

    const text = await doctor(home);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^! nodes\s+1 alive, 1 expired$/m);
    expect(text.stdout).toContain("node node-gone (worker on host-b, pid 4242) has not renewed its lease for 10 min");
    expect(text.stdout).toMatch(/alive\s+serve\s+node-live\s+host-a/);
    expect(text.stdout).toContain("healthy (1 warning)");
    const report = parseJson<DoctorReport>(await doctor(home, "--json"));
    expect(report.nodes?.map((n) => [n.id, n.role, n.hostname, n.state])).toEqual([
      ["node-live", "serve", "host-a", "alive"],
      ["node-gone", "worker", "host-b", "expired"],
    ]);
    expect(report.nodes?.[1]?.heartbeatAgeMs).toBeGreaterThanOrEqual(600_000);
  });

  it("a missing file fails the connection check and is not created", { timeout: 30_000 }, async () => {
    const home = tempDir();
    homes.push(home);
    const result = await doctor(home);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^✗ connection\s+no database file at /m);
    expect(result.stdout).toMatch(/^- schema\s+not checked/m);
    expect(existsSync(join(home, "belay.db"))).toBe(false);
  });

  it("command-line mistakes exit 2; an unreachable PostgreSQL server fails the connection check", { timeout: 30_000 }, async () => {
    const memory = await runCli(["doctor", "--db", "sqlite::memory:"]);
    expect(memory.code).toBe(2);
    expect(memory.stderr).toMatch(/^error: sqlite::memory: lives only inside the process/);
    const unknown = await runCli(["doctor", "--db", "mysql://localhost/x"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unsupported database URL "mysql://localhost/x"');
    const badSchema = await runCli(["doctor", "--db", "postgres://u@127.0.0.1:9/x?schema=Bad-Name"]);
    expect(badSchema.code).toBe(2);
    expect(badSchema.stderr).toContain('schema name "Bad-Name"');

    const unreachable = await runCli(["doctor", "--db", "postgres://u:secret@127.0.0.1:9/x", "--json"]);
    expect(unreachable.code).toBe(1);
    const report = parseJson<DoctorReport>(unreachable);
    expect(report.db).toBe("postgres:postgres://u:***@127.0.0.1:9/x#belay");
    expect(report.checks.map((c) => c.status)).toEqual(["fail", "skip", "skip", "skip", "skip", "skip"]);
    expect(report.checks[0]?.summary).toMatch(/^cannot connect: /);
  });
});
