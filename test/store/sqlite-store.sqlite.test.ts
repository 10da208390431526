import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { loadMigrations } from "../../src/store/sqlite/migrate.ts";
import { openBelay } from "../../src/engine/open.ts";
import { openTestEngine, tempHome } from "../helpers.ts";

describe("SQLite store", () => {
  it("applies numbered migrations once, recorded in the ledger, in WAL mode", async () => {
    const path = join(tempHome(), "belay.db");
    const store = new SqliteStore({ path });
    await store.migrate();
    await store.migrate();
    await store.close();
    const db = new DatabaseSync(path);
    const ledger = db.prepare("SELECT version, name FROM belay_migrations ORDER BY version").all();
    expect(ledger).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name })));
    expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    db.close();
  });

  it("records the sha256 of each migration file in the ledger", async () => {
    const path = join(tempHome(), "belay.db");
    const store = new SqliteStore({ path });
    await store.migrate();
    await store.close();
    const dir = new URL("../../src/store/sqlite/migrations/", import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();
    const db = new DatabaseSync(path);
    const ledger = db.prepare("SELECT version, checksum FROM belay_migrations ORDER BY version").all();
    db.close();
    expect(files.length).toBeGreaterThan(0);
    expect(ledger).toEqual(files.map((f) => ({ version: Number(f.slice(0, 4)), checksum: createHash("sha256").update(readFileSync(new URL(f, dir))).digest("hex") })));
  });

  it("a ledger from before checksums gets the column and the checksums on the next start; a row of no shipped migration stays empty", async () => {
    const path = join(tempHome(), "belay.db");
    const store = new SqliteStore({ path });
    await store.migrate();
    await store.close();
    // As an older Belay left it: no checksum column, and a migration this Belay does not ship.
    let db = new DatabaseSync(path);
    db.exec("ALTER TABLE belay_migrations DROP COLUMN checksum");
    db.exec("INSERT INTO belay_migrations (version, name, applied_at) VALUES (99, 'from_the_future', '2030-01-01T00:00:00.000Z')");
    db.close();

    const next = new SqliteStore({ path });
    await next.migrate();
    await next.close();
    db = new DatabaseSync(path);
    const ledger = db.prepare("SELECT version, checksum FROM belay_migrations ORDER BY version").all();
    db.close();
    expect(ledger).toEqual([...loadMigrations().map((m) => ({ version: m.version, checksum: m.checksum })), { version: 99, checksum: null }]);
    expect(ledger.slice(0, -1).every((r) => typeof r["checksum"] === "string" && /^[0-9a-f]{64}$/.test(r["checksum"]))).toBe(true);
  });

  it("keeps its file under BELAY_HOME by default", async () => {
    const home = tempHome();
    const engine = await openTestEngine({ home });
    expect(engine.store.description).toBe(`sqlite:${join(home, "belay.db")}`);
    expect(existsSync(join(home, "belay.db"))).toBe(true);
  });

  it("refuses a second live engine on the same file", async () => {
    const home = tempHome();
    const first = await openTestEngine({ home });
    // The lock belongs to this process: a second engine in another process would be refused.
    // Within one process we simulate the other owner by rewriting the lock with our parent's pid.
    const { writeFileSync, readFileSync } = await import("node:fs");
    const lockPath = join(home, "belay.db.lock");
    const startTime = readFileSync(`/proc/${process.ppid}/stat`, "utf8").split(") ")[1]?.split(" ")[19];
    writeFileSync(lockPath, JSON.stringify({ pid: process.ppid, startTime }));
    await expect(openBelay({ home })).rejects.toThrow(/another Belay engine/);
    await first.close();
  });

  it("a mutation that throws writes nothing", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({ command: ["true"] });
    const before = await engine.getJobEvents(job.id);
    await expect(
      engine.store.mutateJob(job.id, new Date().toISOString(), (d) => {
        d.setJobStatus("cancelling");
        throw new Error("refused half-way");
      }),
    ).rejects.toThrow("refused half-way");
    expect((await engine.getJob(job.id)).status).toBe("queued");
    expect(await engine.getJobEvents(job.id)).toEqual(before);
  });

  it("an illegal transition is an error, never a silent write", async () => {
    const engine = await openTestEngine({ concurrency: 0 });
    const job = await engine.submitJob({ command: ["true"] });
    await expect(engine.store.mutateJob(job.id, new Date().toISOString(), (d) => d.setJobStatus("succeeded"))).rejects.toMatchObject({
      code: "ILLEGAL_TRANSITION",
    });
    expect((await engine.getJob(job.id)).status).toBe("queued");
  });
});
