/**
 * Numbered SQL migrations (`migrations/NNNN_name.sql`), applied in order, each in its own
 * transaction together with its row in the `belay_migrations` ledger. A file that has landed
 * is never edited; a change is a new file.
 */
import { loadMigrations as loadDialectMigrations } from "../migrations.ts";
import type { Migration } from "../migrations.ts";
import type { DatabaseSync } from "node:sqlite";

export type { Migration };

const migrationsDir = new URL("./migrations/", import.meta.url);

export function loadMigrations(): Migration[] {
  return loadDialectMigrations(migrationsDir);
}

export function migrate(db: DatabaseSync): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS belay_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const applied = new Set(
    (db.prepare("SELECT version FROM belay_migrations").all() as Array<{ version: number }>).map((r) => r.version),
  );
  const done: number[] = [];
  for (const migration of loadMigrations()) {
    if (applied.has(migration.version)) continue;
    // BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh file do not both migrate.
    db.exec("BEGIN IMMEDIATE");
    try {
      const again = db.prepare("SELECT 1 FROM belay_migrations WHERE version = ?").get(migration.version);
      if (again === undefined) {
        db.exec(migration.sql);
        db.prepare("INSERT INTO belay_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
          migration.version,
          migration.name,
          new Date().toISOString(),
        );
        done.push(migration.version);
      }
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
  return done;
}
