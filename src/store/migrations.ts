/**
 * Numbered SQL migrations as files: `NNNN_name.sql` in a dialect's `migrations/` folder.
 *
 * The ledger (`belay_migrations`) records each applied migration with the sha256 of its file,
 * so `belay doctor` can tell when a file was edited after it was applied. Ledgers written
 * before checksums were recorded get them filled on the next start (`checksumsToFill`).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** sha256 of the file's bytes, in hex. */
  checksum: string;
}

/** A row of the ledger as the runners read it. */
export interface LedgerRow {
  version: number;
  name: string;
  checksum: string | null;
}

export function loadMigrations(dir: URL): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const bytes = readFileSync(new URL(file, dir));
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql: bytes.toString("utf8"),
        checksum: createHash("sha256").update(bytes).digest("hex"),
      };
    });
}

/**
 * The checksums to record for ledger rows that have none (applied before Belay recorded them):
 * the shipped file's, for each row whose version and name it matches. A row that matches no
 * shipped migration is left empty, for `belay doctor` to report.
 */
export function checksumsToFill(shipped: Migration[], ledger: LedgerRow[]): Array<{ version: number; checksum: string }> {
  const byVersion = new Map(shipped.map((m) => [m.version, m]));
  return ledger.flatMap((row) => {
    const migration = byVersion.get(row.version);
    return row.checksum === null && migration !== undefined && migration.name === row.name ? [{ version: row.version, checksum: migration.checksum }] : [];
  });
}
