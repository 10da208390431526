/**
 * Numbered SQL migrations (`migrations/NNNN_name.sql`), applied in order inside the store's
 * schema, each in its own transaction together with its row in the `belay_migrations`
 * ledger, which records the sha256 of the file applied. A file that has landed is never
 * edited; a change is a new file.
 *
 * Any number of processes may call `migrate` at once (several `belay serve` and
 * `belay worker` starting together): each transaction first takes a transaction-scoped
 * advisory lock named after the schema, then re-reads the ledger, so exactly one applies each
 * migration and the others find it done.
 */
import { checksumsToFill, loadMigrations as loadDialectMigrations } from "../migrations.ts";
import type { LedgerRow, Migration } from "../migrations.ts";
import type { PoolClient } from "pg";
import { checkSchemaName } from "./db.ts";
import type { Pool } from "./db.ts";

export type { Migration };

const migrationsDir = new URL("./migrations/", import.meta.url);

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: string;
  /** sha256 of the file applied; null until a Belay that records checksums starts on a ledger from before. */
  checksum: string | null;
}

export function loadMigrations(): Migration[] {
  return loadDialectMigrations(migrationsDir);
}

/** A transaction holding the migration lock, working in `schema`. */
async function locked<T>(client: PoolClient, schema: string, lockKey: string, fn: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [lockKey]);
    // The schema is a checked identifier (checkSchemaName); SET LOCAL ends with the transaction.
    await client.query(`SET LOCAL search_path TO ${schema}`);
    const result = await fn();
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** Apply the pending migrations; returns the versions this call applied. */
export async function migrate(pool: Pool, schema: string, lockKey: string): Promise<number[]> {
  checkSchemaName(schema);
  const shipped = loadMigrations();
  const client = await pool.connect();
  let failed = false;
  try {
    const applied = await locked(client, schema, lockKey, async () => {
      // Create the schema only if it is missing: CREATE SCHEMA IF NOT EXISTS would still
      // need the CREATE privilege on the database, which a role given an existing schema may lack.
      const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.belay_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL,
        checksum text
      )`);
      await recordChecksums(client, schema, shipped);
      return versions(client, schema);
    });
    const done: number[] = [];
    for (const migration of shipped) {
      if (applied.has(migration.version)) continue;
      await locked(client, schema, lockKey, async () => {
        // Another process may have applied it while this one waited for the lock.
        if ((await versions(client, schema)).has(migration.version)) return;
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${schema}.belay_migrations (version, name, applied_at, checksum) VALUES ($1, $2, now(), $3)`, [
          migration.version,
          migration.name,
          migration.checksum,
        ]);
        done.push(migration.version);
      });
    }
    return done;
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // After a failure the connection's state is unknown: close it rather than reuse it.
    client.release(failed);
  }
}

/**
 * Give a ledger from before checksums its `checksum` column and fill it. Altered and updated
 * only when needed: a role that runs an up-to-date schema needs no more than it did.
 */
async function recordChecksums(client: PoolClient, schema: string, shipped: Migration[]): Promise<void> {
  const column = await client.query(
    "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'checksum' AND NOT attisdropped",
    [`${schema}.belay_migrations`],
  );
  if (column.rowCount === 0) await client.query(`ALTER TABLE ${schema}.belay_migrations ADD COLUMN checksum text`);
  const ledger = await client.query<LedgerRow>(`SELECT version, name, checksum FROM ${schema}.belay_migrations WHERE checksum IS NULL`);
  for (const { version, checksum } of checksumsToFill(shipped, ledger.rows)) {
    await client.query(`UPDATE ${schema}.belay_migrations SET checksum = $1 WHERE version = $2 AND checksum IS NULL`, [checksum, version]);
  }
}

async function versions(client: PoolClient, schema: string): Promise<Set<number>> {
  const result = await client.query<{ version: number }>(`SELECT version FROM ${schema}.belay_migrations`);
  return new Set(result.rows.map((r) => r.version));
}

/** The ledger, oldest first; empty when the schema has never been migrated. */
export async function appliedMigrations(pool: Pool, schema: string): Promise<AppliedMigration[]> {
  const table = await pool.query("SELECT to_regclass($1) AS t", [`${schema}.belay_migrations`]);
  if (table.rows[0]?.t === null) return [];
  // SELECT *: a ledger from before checksums has no checksum column until the next start.
  const result = await pool.query<{ version: number; name: string; applied_at: Date; checksum?: string | null }>(
    `SELECT * FROM ${schema}.belay_migrations ORDER BY version`,
  );
  return result.rows.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at.toISOString(), checksum: r.checksum ?? null }));
}

/** Drop the schema and everything in it. Irreversible: for tests and uninstalls. */
export async function dropSchema(pool: Pool, schema: string): Promise<void> {
  checkSchemaName(schema);
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}
