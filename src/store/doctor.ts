/**
 * `belay doctor`: what a store's database looks like next to what this version of Belay
 * expects. Each dialect gathers the facts (src/store/<dialect>/doctor.ts) without changing the
 * checked database; this module turns them into checks, so both dialects judge alike.
 *
 * The expected tables come from applying the shipped migrations to a scratch target and reading
 * its catalog: the migrations stay the only description of the schema.
 */
import type { Migration } from "./migrations.ts";
import type { NodeRecord } from "./store.ts";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export type CheckName = "connection" | "schema" | "migrations" | "structure" | "nodes" | "notify";

export interface DoctorCheck {
  name: CheckName;
  /** `fail` makes the store unhealthy; `warn` is worth a look; `skip`: could not be checked because of an earlier failure. */
  status: CheckStatus;
  /** One line: what was found. */
  summary: string;
  /** One line per problem. */
  problems: string[];
  /** What to do about it. */
  fix: string | null;
}

export interface LedgerEntry {
  version: number;
  name: string;
  appliedAt: string;
  /** sha256 of the file applied; null in a ledger from before checksums, until the next start fills it. */
  checksum: string | null;
}

export interface MigrationsFinding {
  /** The migrations this Belay ships, by version. */
  shipped: Array<{ version: number; name: string }>;
  applied: LedgerEntry[];
  pending: Array<{ version: number; name: string }>;
  /** In the ledger but not shipped: a newer Belay migrated this database. */
  unknown: LedgerEntry[];
  /** Same version, another name. */
  renamed: Array<{ version: number; ledgerName: string; shippedName: string }>;
  /** Same version and name, another checksum: the file was edited after it was applied (or comes from another build). */
  edited: Array<{ version: number; name: string; ledgerChecksum: string; shippedChecksum: string }>;
  /** Applied before Belay recorded checksums: nothing to compare until the next start fills them. */
  unrecorded: Array<{ version: number; name: string }>;
}

export interface ColumnShape {
  type: string;
  nullable: boolean;
}

/** Tables (column name → shape) and indexes (name → table and definition) of one schema. */
export interface Catalog {
  tables: Record<string, Record<string, ColumnShape>>;
  indexes: Record<string, { table: string; definition: string }>;
}

export interface StructureDifference {
  kind: "table" | "column" | "index";
  /** `jobs`, `jobs.priority`, `jobs_status`. */
  name: string;
  problem: "missing" | "unexpected" | "changed";
  expected: string | null;
  actual: string | null;
}

export type NodeState = "alive" | "expired" | "stopped" | "dead";

export interface NodeHealth {
  id: string;
  role: string;
  hostname: string;
  pid: number;
  state: NodeState;
  startedAt: string;
  /** Time since the last heartbeat, by this machine's clock. */
  heartbeatAgeMs: number;
  leaseMs: number;
}

export interface DoctorReport {
  /** The database checked, password hidden. */
  db: string;
  dialect: "sqlite" | "postgres";
  /** PostgreSQL schema; null for SQLite. */
  schema: string | null;
  /** No check failed. */
  healthy: boolean;
  checkedAt: string;
  serverVersion: string | null;
  /** Where the expected tables were built: a schema dropped before the report (PostgreSQL), or `:memory:` (SQLite). */
  scratch: string | null;
  checks: DoctorCheck[];
  migrations: MigrationsFinding | null;
  structure: StructureDifference[] | null;
  nodes: NodeHealth[] | null;
  notify: { channel: string; latencyMs: number } | null;
}

export type ReportBase = Pick<DoctorReport, "db" | "dialect" | "schema">;

/** The facts a dialect doctor fills in as it goes; a check not reached is reported skipped. */
export class DoctorRun {
  private readonly base: ReportBase;
  private readonly order: readonly CheckName[];
  private readonly checks = new Map<CheckName, DoctorCheck>();
  serverVersion: string | null = null;
  scratch: string | null = null;
  migrations: MigrationsFinding | null = null;
  structure: StructureDifference[] | null = null;
  nodes: NodeHealth[] | null = null;
  notify: { channel: string; latencyMs: number } | null = null;

  constructor(base: ReportBase, order: readonly CheckName[]) {
    this.base = base;
    this.order = order;
  }

  add(check: DoctorCheck): void {
    this.checks.set(check.name, check);
  }

  /** Every check not done yet is skipped for `reason`. */
  report(reason = "not checked"): DoctorReport {
    const checks = this.order.map((name) => this.checks.get(name) ?? check(name, "skip", reason));
    return {
      ...this.base,
      healthy: checks.every((c) => c.status !== "fail"),
      checkedAt: new Date().toISOString(),
      serverVersion: this.serverVersion,
      scratch: this.scratch,
      checks,
      migrations: this.migrations,
      structure: this.structure,
      nodes: this.nodes,
      notify: this.notify,
    };
  }
}

export function check(name: CheckName, status: CheckStatus, summary: string, problems: string[] = [], fix: string | null = null): DoctorCheck {
  return { name, status, summary, problems, fix };
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const applyHint = "run `belay serve` or `belay worker` once on this database to apply them";

function label(m: { version: number; name: string }): string {
  return `${String(m.version).padStart(4, "0")}_${m.name}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The ledger against the shipped migrations. `ledger` null: the ledger table does not exist. */
export function judgeMigrations(shipped: Migration[], ledger: LedgerEntry[] | null): { check: DoctorCheck; finding: MigrationsFinding | null } {
  if (ledger === null) {
    return {
      check: check("migrations", "fail", "no migration ledger (belay_migrations): Belay has never migrated this database", [], `${plural(shipped.length, "migration")} to apply: ${applyHint}`),
      finding: null,
    };
  }
  const byVersion = new Map(ledger.map((entry) => [entry.version, entry]));
  const shippedVersions = new Set(shipped.map((m) => m.version));
  // The shipped migrations this ledger says were applied under the same name: their checksums compare.
  const same = shipped.flatMap((m) => {
    const entry = byVersion.get(m.version);
    return entry !== undefined && entry.name === m.name ? [{ migration: m, entry }] : [];
  });
  const finding: MigrationsFinding = {
    shipped: shipped.map((m) => ({ version: m.version, name: m.name })),
    applied: ledger,
    pending: shipped.filter((m) => !byVersion.has(m.version)).map((m) => ({ version: m.version, name: m.name })),
    unknown: ledger.filter((entry) => !shippedVersions.has(entry.version)),
    renamed: shipped.flatMap((m) => {
      const entry = byVersion.get(m.version);
      return entry !== undefined && entry.name !== m.name ? [{ version: m.version, ledgerName: entry.name, shippedName: m.name }] : [];
    }),
    edited: same.flatMap(({ migration, entry }) =>
      entry.checksum !== null && entry.checksum !== migration.checksum
        ? [{ version: migration.version, name: migration.name, ledgerChecksum: entry.checksum, shippedChecksum: migration.checksum }]
        : [],
    ),
    unrecorded: same.filter(({ entry }) => entry.checksum === null).map(({ migration }) => ({ version: migration.version, name: migration.name })),
  };
  const problems: string[] = [];
  const fixes: string[] = [];
  if (finding.pending.length > 0) {
    problems.push(`${plural(finding.pending.length, "migration")} pending: ${finding.pending.map(label).join(", ")}`);
    fixes.push(applyHint);
  }
  if (finding.unknown.length > 0) {
    problems.push(`${plural(finding.unknown.length, "migration")} in the ledger that this Belay does not ship: ${finding.unknown.map(label).join(", ")}`);
    fixes.push("a newer Belay (or something else) migrated this database: upgrade belay on every node before running it on this database");
  }
  for (const r of finding.renamed) {
    problems.push(`migration ${String(r.version).padStart(4, "0")} is "${r.ledgerName}" in the ledger but "${r.shippedName}" in this Belay`);
  }
  if (finding.renamed.length > 0) fixes.push("the ledger was written by a different build of Belay: run the same Belay version on every node");
  for (const e of finding.edited) {
    problems.push(`migration ${label(e)} was edited after it was applied: the ledger records sha256 ${e.ledgerChecksum.slice(0, 12)}…, this Belay's file is ${e.shippedChecksum.slice(0, 12)}…`);
  }
  if (finding.edited.length > 0) {
    fixes.push("an applied migration never changes: restore the file as it was released and put the change in a new migration (or run the Belay build that migrated this database)");
  }
  const failed = problems.length > 0;
  if (finding.unrecorded.length > 0) {
    problems.push(`no checksum recorded for ${plural(finding.unrecorded.length, "migration")} (applied by a Belay that did not record them): ${finding.unrecorded.map(label).join(", ")}`);
    fixes.push("the next `belay serve` or `belay worker` on this database records them");
  }
  const latest = ledger.at(-1);
  const summary = problems.length === 0
    ? `${plural(ledger.length, "migration")} applied, none pending, checksums match${latest === undefined ? "" : ` (latest ${label(latest)})`}`
    : [
        `${ledger.length} applied`,
        finding.pending.length > 0 ? `${finding.pending.length} pending` : "",
        finding.unknown.length > 0 ? `${finding.unknown.length} unknown to this Belay` : "",
        finding.edited.length > 0 ? `${finding.edited.length} edited after being applied` : "",
        finding.unrecorded.length > 0 ? `${finding.unrecorded.length} without a checksum` : "",
      ]
        .filter((part) => part !== "")
        .join(", ") + ` (this Belay ships ${shipped.length})`;
  const status: CheckStatus = failed ? "fail" : problems.length > 0 ? "warn" : "ok";
  return { check: check("migrations", status, summary, problems, fixes.length === 0 ? null : fixes.join("; ")), finding };
}

/**
 * True when the structure can be compared: the ledger lists exactly the shipped migrations, with
 * checksums (a ledger without them lacks its own `checksum` column until the next start).
 * An edited migration still compares: the differences show what the edit changed.
 */
export function ledgerMatches(finding: MigrationsFinding | null): boolean {
  return finding !== null && finding.pending.length === 0 && finding.unknown.length === 0 && finding.renamed.length === 0 && finding.unrecorded.length === 0;
}

export const structureSkipReason = "not compared until the ledger lists exactly this Belay's migrations with their checksums (see the migrations check)";

function shape(column: ColumnShape): string {
  return `${column.type}${column.nullable ? "" : " not null"}`;
}

/** Every table, column and index that differs between the expected and the actual catalog. */
export function compareCatalogs(expected: Catalog, actual: Catalog): StructureDifference[] {
  const differences: StructureDifference[] = [];
  const diff = (kind: StructureDifference["kind"], name: string, problem: StructureDifference["problem"], e: string | null, a: string | null): void => {
    differences.push({ kind, name, problem, expected: e, actual: a });
  };
  for (const [table, columns] of Object.entries(expected.tables)) {
    const actualColumns = actual.tables[table];
    if (actualColumns === undefined) {
      diff("table", table, "missing", Object.keys(columns).join(", "), null);
      continue;
    }
    for (const [column, want] of Object.entries(columns)) {
      const have = actualColumns[column];
      if (have === undefined) diff("column", `${table}.${column}`, "missing", shape(want), null);
      else if (shape(have) !== shape(want)) diff("column", `${table}.${column}`, "changed", shape(want), shape(have));
    }
    for (const [column, have] of Object.entries(actualColumns)) {
      if (columns[column] === undefined) diff("column", `${table}.${column}`, "unexpected", null, shape(have));
    }
  }
  for (const table of Object.keys(actual.tables)) {
    if (expected.tables[table] === undefined) diff("table", table, "unexpected", null, Object.keys(actual.tables[table] ?? {}).join(", "));
  }
  for (const [name, want] of Object.entries(expected.indexes)) {
    const have = actual.indexes[name];
    // An index of a missing table is missing with it: one line for the table is enough.
    if (have === undefined && actual.tables[want.table] === undefined) continue;
    if (have === undefined) diff("index", name, "missing", want.definition, null);
    else if (have.definition !== want.definition) diff("index", name, "changed", want.definition, have.definition);
  }
  for (const [name, have] of Object.entries(actual.indexes)) {
    if (expected.indexes[name] === undefined && expected.tables[have.table] !== undefined) diff("index", name, "unexpected", null, have.definition);
  }
  return differences;
}

function describe(d: StructureDifference): string {
  switch (d.problem) {
    case "missing":
      return d.kind === "table" ? `table ${d.name} is missing` : d.kind === "column" ? `column ${d.name} (${d.expected}) is missing` : `index ${d.name} is missing: ${d.expected}`;
    case "changed":
      return `${d.kind} ${d.name} is ${d.actual}; expected ${d.expected}`;
    case "unexpected":
      return `${d.kind} ${d.name} is not Belay's${d.actual === null ? "" : ` (${d.actual})`}`;
  }
}

/** Missing or changed objects fail; objects Belay does not know only warn (Belay ignores them). */
export function judgeStructure(differences: StructureDifference[], expected: Catalog): DoctorCheck {
  const tables = Object.keys(expected.tables).length;
  const indexes = Object.keys(expected.indexes).length;
  const counted = `${plural(tables, "table")}, ${indexes} ${indexes === 1 ? "index" : "indexes"}`;
  if (differences.length === 0) return check("structure", "ok", `${counted} as the migrations create them`);
  const broken = differences.filter((d) => d.problem !== "unexpected");
  const problems = [...broken, ...differences.filter((d) => d.problem === "unexpected")].map(describe);
  if (broken.length === 0) {
    return check("structure", "warn", `${counted} as expected, and ${plural(differences.length, "object")} Belay does not know`, problems, "Belay ignores them; drop them if nothing else uses them");
  }
  return check(
    "structure",
    "fail",
    `${plural(broken.length, "difference")} from what the applied migrations create`,
    problems,
    "restore what is missing or changed (the expected definitions are shown above) or restore the database from a backup; Belay does not repair a schema by itself",
  );
}

export function nodeState(node: NodeRecord, nowMs: number): NodeState {
  if (node.deadAt !== null) return "dead";
  if (node.stoppedAt !== null) return "stopped";
  return node.heartbeatMs + node.leaseMs < nowMs ? "expired" : "alive";
}

/** Expired nodes warn: they are gone, and their tasks wait for a live node to recover them. */
export function judgeNodes(records: NodeRecord[], nowMs: number, recoverHint: string): { check: DoctorCheck; nodes: NodeHealth[] } {
  const nodes = records.map((n): NodeHealth => ({
    id: n.id,
    role: n.role,
    hostname: n.hostname,
    pid: n.pid,
    state: nodeState(n, nowMs),
    startedAt: n.startedAt,
    heartbeatAgeMs: nowMs - n.heartbeatMs,
    leaseMs: n.leaseMs,
  }));
  const count = (state: NodeState): number => nodes.filter((n) => n.state === state).length;
  if (nodes.length === 0) return { check: check("nodes", "ok", "no node has used this database yet"), nodes };
  const summary = (["alive", "expired", "stopped", "dead"] as const)
    .filter((s) => count(s) > 0)
    .map((s) => `${count(s)} ${s}`)
    .join(", ");
  const expired = nodes.filter((n) => n.state === "expired");
  if (expired.length === 0) return { check: check("nodes", "ok", summary), nodes };
  const problems = expired.map((n) => `node ${n.id} (${n.role} on ${n.hostname}, pid ${n.pid}) has not renewed its lease for ${roughly(n.heartbeatAgeMs)} (lease ${roughly(n.leaseMs)})`);
  return { check: check("nodes", "warn", summary, problems, `its tasks are not recovered yet: ${recoverHint}`), nodes };
}

/** `42 s`, `17 min`, `5 h`, `3 days`: enough to tell a missed heartbeat from a node long gone. */
function roughly(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}
