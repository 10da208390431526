/**
 * `belay doctor` on a SQLite file: opened read-only (no pragma, no migration, no engine lock),
 * compared with an in-memory database that the shipped migrations build.
 */
import { existsSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { check, compareCatalogs, DoctorRun, errorMessage, judgeMigrations, judgeNodes, judgeStructure, ledgerMatches, structureSkipReason } from "../doctor.ts";
import type { Catalog, ColumnShape, DoctorReport, LedgerEntry } from "../doctor.ts";
import { loadMigrations, migrate } from "./migrate.ts";
import { rowToNode } from "./rows.ts";
import type { Row } from "./rows.ts";

export async function doctorSqlite(path: string): Promise<DoctorReport> {
  const run = new DoctorRun({ db: `sqlite:${path}`, dialect: "sqlite", schema: null }, ["connection", "schema", "migrations", "structure", "nodes"]);
  // Opening a missing file read-only fails anyway; this says why, and never creates it.
  if (!existsSync(path)) {
    run.add(check("connection", "fail", `no database file at ${path}`, [], "check --db and --home (or BELAY_DB, BELAY_HOME); `belay serve` creates the file on its first start"));
    return run.report("not checked: no database");
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    run.serverVersion = `SQLite ${(db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v}`;
    // Reads the schema: fails here on a file that is not a database.
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
  } catch (error) {
    run.add(check("connection", "fail", `cannot read ${path}: ${errorMessage(error)}`, [], "check that the file is a Belay SQLite database and readable by this user"));
    return run.report("not checked: cannot read the database");
  }
  try {
    run.add(check("connection", "ok", `opened read-only with ${run.serverVersion}`));
    const tables = tableNames(db);
    if (!tables.includes("belay_migrations")) {
      run.add(check("schema", "fail", tables.length === 0 ? "the database is empty" : `no Belay tables among ${tables.length} (no belay_migrations)`, [], "point --db at a Belay database, or run `belay serve` once to create one"));
      return run.report("not checked: no Belay tables");
    }
    run.add(check("schema", "ok", `${tables.length} tables`));

    const { check: migrations, finding } = judgeMigrations(loadMigrations(), ledger(db));
    run.add(migrations);
    run.migrations = finding;

    if (ledgerMatches(finding)) {
      run.scratch = ":memory:";
      const expected = expectedCatalog();
      run.structure = compareCatalogs(expected, readCatalog(db));
      run.add(judgeStructure(run.structure, expected));
    } else {
      run.add(check("structure", "skip", structureSkipReason));
    }

    if (tables.includes("nodes")) {
      const records = (db.prepare("SELECT * FROM nodes ORDER BY started_at").all() as Row[]).map(rowToNode);
      const { check: nodes, nodes: health } = judgeNodes(records, Date.now(), "start `belay serve` (or `belay worker`) on this database: it recovers them as it starts");
      run.add(nodes);
      run.nodes = health;
    } else {
      run.add(check("nodes", "skip", "no nodes table (added by migration 0003)"));
    }
    return run.report();
  } finally {
    db.close();
  }
}

function tableNames(db: DatabaseSync): string[] {
  // sqlite_sequence and the like are SQLite's own, made as a side effect of AUTOINCREMENT.
  const rows = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as Array<{ name: string }>;
  return rows.map((r) => r.name);
}

function ledger(db: DatabaseSync): LedgerEntry[] {
  // SELECT *: a ledger from before checksums has no checksum column until the next start.
  const rows = db.prepare("SELECT * FROM belay_migrations ORDER BY version").all() as Array<{ version: number; name: string; applied_at: string; checksum?: string | null }>;
  return rows.map((r) => ({ version: Number(r.version), name: r.name, appliedAt: r.applied_at, checksum: r.checksum ?? null }));
}

/** The catalog of a fresh in-memory database after the shipped migrations (the same code path as a real store). */
export function expectedCatalog(): Catalog {
  const scratch = new DatabaseSync(":memory:");
  try {
    migrate(scratch);
    return readCatalog(scratch);
  } finally {
    scratch.close();
  }
}

function readCatalog(db: DatabaseSync): Catalog {
  const catalog: Catalog = { tables: {}, indexes: {} };
  const indexSql = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?");
  for (const table of tableNames(db)) {
    const columns: Record<string, ColumnShape> = {};
    for (const c of db.prepare("SELECT name, type, \"notnull\" AS not_null FROM pragma_table_xinfo(?) ORDER BY cid").all(table) as Array<{ name: string; type: string; not_null: number }>) {
      columns[c.name] = { type: c.type.toUpperCase(), nullable: c.not_null === 0 };
    }
    catalog.tables[table] = columns;
    for (const index of db.prepare("SELECT name, \"unique\" AS uniq, origin FROM pragma_index_list(?)").all(table) as Array<{ name: string; uniq: number; origin: string }>) {
      const sql = (indexSql.get(index.name) as { sql: string | null } | undefined)?.sql ?? null;
      catalog.indexes[index.name] = { table, definition: sql === null ? constraintIndex(db, index) : sql.replace(/\s+/g, " ").trim() };
    }
  }
  return catalog;
}

/** An index SQLite made for a PRIMARY KEY or UNIQUE constraint has no SQL of its own: describe it by its columns. */
function constraintIndex(db: DatabaseSync, index: { name: string; uniq: number; origin: string }): string {
  const columns = (db.prepare("SELECT name FROM pragma_index_info(?) ORDER BY seqno").all(index.name) as Array<{ name: string | null }>).map((c) => c.name ?? "(expression)");
  const kind = index.origin === "pk" ? "PRIMARY KEY" : index.uniq === 1 ? "UNIQUE" : "INDEX";
  return `${kind} (${columns.join(", ")})`;
}
