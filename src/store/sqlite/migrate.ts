/**
 * Numbered SQL migrations (`migrations/NNNN_name.sql`), applied in order, each in its own
 * transaction together with its row in the `belay_migrations` ledger, which records the
 * sha256 of the file applied. A file that has landed is never edited; a change is a new file.
 */
import { checksumsToFill, loadMigrations as loadDialectMigrations } from "../migrations.ts";
import type { LedgerRow, Migration } from "../migrations.ts";
import type { DatabaseSync } from "node:sqlite";

export type { Migration };

const migrationsDir = new URL("./migrations/", import.meta.url);

export function loadMigrations(): Migration[] {
  return loadDialectMigrations(migrationsDir);
}

export function migrate(db: DatabaseSync): number[] {
  const shipped = loadMigrations();
  // BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh file do not both migrate.
  inWriteTransaction(db, () => prepareLedger(db, shipped));
  const applied = new Set(
    (db.prepare("SELECT version FROM belay_migrations").all() as Array<{ version: number }>).map((r) => r.version),
  );
  const done: number[] = [];
  for (const migration of shipped) {
    if (applied.has(migration.version)) continue;
    inWriteTransaction(db, () => {
      const again = db.prepare("SELECT 1 FROM belay_migrations WHERE version = ?").get(migration.version);
      if (again !== undefined) return;
      db.exec(migration.sql);
      db.prepare("INSERT INTO belay_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)").run(
        migration.version,
        migration.name,
        new Date().toISOString(),
        migration.checksum,
      );
      done.push(migration.version);
    });
  }
  return done;
}

/** Create the ledger; give a ledger from before checksums its `checksum` column and fill it. */
function prepareLedger(db: DatabaseSync, shipped: Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS belay_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    checksum TEXT
  )`);
  const hasChecksum = db.prepare("SELECT 1 FROM pragma_table_info('belay_migrations') WHERE name = 'checksum'").get() !== undefined;
  if (!hasChecksum) db.exec("ALTER TABLE belay_migrations ADD COLUMN checksum TEXT");
  const ledger = db.prepare("SELECT version, name, checksum FROM belay_migrations").all() as unknown as LedgerRow[];
  const fill = db.prepare("UPDATE belay_migrations SET checksum = ? WHERE version = ? AND checksum IS NULL");
  for (const { version, checksum } of checksumsToFill(shipped, ledger)) fill.run(checksum, version);
}

function inWriteTransaction(db: DatabaseSync, fn: () => void): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    fn();
    db.exec("COMMIT");
  } catch (error) {
    // After some errors (SQLITE_FULL among them) SQLite has already rolled back.
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
