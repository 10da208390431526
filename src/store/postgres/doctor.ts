/**
 * `belay doctor` on a PostgreSQL schema. The checked schema is only read, in one READ ONLY
 * transaction. The expected tables come from the real migration runner applied to a scratch
 * schema (`belay_doctor_<random>`) in the same database, dropped before the report returns.
 * The notification check sends a probe on the store's channel, which the engines ignore.
 */
import { randomBytes } from "node:crypto";
import type { PoolClient } from "pg";
import { BelayError } from "../../core/errors.ts";
import { check, compareCatalogs, DoctorRun, errorMessage, judgeMigrations, judgeNodes, judgeStructure, ledgerMatches, structureSkipReason } from "../doctor.ts";
import type { Catalog, ColumnShape, DoctorReport, LedgerEntry } from "../doctor.ts";
import type { NodeRecord } from "../store.ts";
import { checkSchemaName, lockKeys, newPool, redactUrl, rows } from "./db.ts";
import type { Pool } from "./db.ts";
import { dropSchema, loadMigrations, migrate } from "./migrate.ts";
import { PgNotifier } from "./notifier.ts";
import { iso, rowToNode } from "./rows.ts";

export interface PostgresDoctorOptions {
  /** Connection URL, without Belay's `?schema=`. */
  url: string;
  schema: string;
  /** How long to wait for the server to answer a connection, and for the notification probe, in ms. Default 10 000. */
  timeoutMs?: number;
}

export async function doctorPostgres(options: PostgresDoctorOptions): Promise<DoctorReport> {
  let schema: string;
  try {
    schema = checkSchemaName(options.schema);
  } catch (error) {
    throw new BelayError("INVALID_REQUEST", errorMessage(error), { details: { field: "schema" } });
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const run = new DoctorRun({ db: `postgres:${redactUrl(options.url)}#${schema}`, dialect: "postgres", schema }, ["connection", "schema", "migrations", "structure", "nodes", "notify"]);
  const pool = newPool({ url: options.url, schema, poolSize: 3 });
  let hung = false;
  try {
    let client: PoolClient;
    try {
      client = await within(pool.connect(), timeoutMs, "connecting");
    } catch (error) {
      hung = error instanceof TimeoutError;
      run.add(check("connection", "fail", `cannot connect: ${errorMessage(error)}`, [], "check the host, port, user, password and database in --db, that the server is up, and that it accepts this client (pg_hba.conf)"));
      return run.report("not checked: no connection");
    }
    let live: LiveFacts;
    try {
      const about = (await rows(client, "SELECT current_setting('server_version') AS version, current_user AS usr, current_database() AS db"))[0] ?? {};
      run.serverVersion = `PostgreSQL ${String(about["version"])}`;
      run.add(check("connection", "ok", `${run.serverVersion}, as ${String(about["usr"])} on database ${String(about["db"])}`));
      live = await readLive(client, schema);
    } catch (error) {
      if (run.serverVersion === null) run.add(check("connection", "fail", `connected, but the server does not answer queries: ${errorMessage(error)}`));
      else run.add(check("schema", "fail", `cannot read schema ${schema}: ${errorMessage(error)}`, [], "grant this role USAGE on the schema and SELECT on its tables"));
      return run.report("not checked: cannot read the schema");
    } finally {
      client.release();
    }

    if (!live.schemaExists) {
      const shown = live.belaySchemas.slice(0, 10).join(", ") + (live.belaySchemas.length > 10 ? ` and ${live.belaySchemas.length - 10} more` : "");
      const others = live.belaySchemas.length === 0 ? "" : `; schemas with a Belay ledger in this database: ${shown}`;
      run.add(check("schema", "fail", `schema ${schema} does not exist in this database${others}`, [], "check ?schema= in --db, or run `belay serve` or `belay worker` once on this database to create it"));
      return run.report("not checked: no schema");
    }
    run.add(check("schema", "ok", `schema ${schema} exists`));

    const { check: migrations, finding } = judgeMigrations(loadMigrations(), live.ledger);
    run.add(migrations);
    run.migrations = finding;

    if (!ledgerMatches(finding)) run.add(check("structure", "skip", structureSkipReason));
    else await checkStructure(run, pool, live.catalog);

    if (live.nodes === null) run.add(check("nodes", "skip", "no nodes table (added by migration 0003)"));
    else {
      const { check: nodes, nodes: health } = judgeNodes(live.nodes, Date.now(), "a live node recovers them within a heartbeat; if none is alive, start `belay serve` or `belay worker`");
      run.add(nodes);
      run.nodes = health;
    }

    await checkNotify(run, pool, options.url, schema, timeoutMs);
    return run.report();
  } finally {
    // A connection attempt that never answered would hold end() up as long as it hangs.
    if (hung) void pool.end().catch(() => undefined);
    else await pool.end().catch(() => undefined);
  }
}

interface LiveFacts {
  schemaExists: boolean;
  belaySchemas: string[];
  ledger: LedgerEntry[] | null;
  catalog: Catalog;
  nodes: NodeRecord[] | null;
}

/** Everything read from the checked schema, in one read-only snapshot. */
async function readLive(client: PoolClient, schema: string): Promise<LiveFacts> {
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  try {
    const exists = await rows(client, "SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    const belaySchemas = (await rows(client, "SELECT n.nspname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'belay_migrations' AND c.relkind = 'r' ORDER BY 1")).map((r) => String(r["name"]));
    const present = async (table: string): Promise<boolean> => (await rows(client, "SELECT to_regclass($1) IS NOT NULL AS present", [`${schema}.${table}`]))[0]?.["present"] === true;
    const ledger = exists.length > 0 && (await present("belay_migrations"))
      ? // SELECT *: a ledger from before checksums has no checksum column until the next start.
        (await rows(client, `SELECT * FROM ${schema}.belay_migrations ORDER BY version`)).map((r) => ({
          version: Number(r["version"]),
          name: String(r["name"]),
          appliedAt: iso(r["applied_at"]),
          checksum: typeof r["checksum"] === "string" ? r["checksum"] : null,
        }))
      : null;
    const nodes = exists.length > 0 && (await present("nodes")) ? (await rows(client, `SELECT * FROM ${schema}.nodes ORDER BY started_at`)).map(rowToNode) : null;
    const catalog = await readCatalog(client, schema);
    return { schemaExists: exists.length > 0, belaySchemas, ledger, catalog, nodes };
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
  }
}

/** Compare the checked schema with the expected catalog, built in a scratch schema. */
async function checkStructure(run: DoctorRun, pool: Pool, actual: Catalog): Promise<void> {
  const scratch = `belay_doctor_${randomBytes(6).toString("hex")}`;
  run.scratch = scratch;
  const { expected, failure, leftover } = await buildExpected(pool, scratch);
  if (expected === null) {
    run.add(check(
      "structure",
      "warn",
      `not compared: could not build the expected tables in a scratch schema: ${failure ?? "unknown error"}`,
      leftover === null ? [] : [leftover],
      "the doctor creates (and drops) a scratch schema in this database: run it as a role with CREATE on the database",
    ));
    return;
  }
  run.structure = compareCatalogs(expected, actual);
  const judged = judgeStructure(run.structure, expected);
  if (leftover !== null) {
    judged.problems.push(leftover);
    if (judged.status === "ok") judged.status = "warn";
  }
  run.add(judged);
}

/** Apply the shipped migrations to `scratch`, read its catalog, drop it; what went wrong, if anything. */
async function buildExpected(pool: Pool, scratch: string): Promise<{ expected: Catalog | null; failure: string | null; leftover: string | null }> {
  let expected: Catalog | null = null;
  let failure: string | null = null;
  try {
    await migrate(pool, scratch, lockKeys(scratch).migrate);
    const client = await pool.connect();
    try {
      await client.query("BEGIN READ ONLY");
      expected = await readCatalog(client, scratch);
    } finally {
      await client.query("ROLLBACK").catch(() => undefined);
      client.release();
    }
  } catch (error) {
    failure = errorMessage(error);
  }
  let leftover: string | null = null;
  try {
    await dropSchema(pool, scratch);
  } catch (error) {
    leftover = `the scratch schema ${scratch} could not be dropped (${errorMessage(error)}): DROP SCHEMA ${scratch} CASCADE`;
  }
  return { expected, failure, leftover };
}

/**
 * The catalog the shipped migrations create, built in a scratch schema `belay_schema_<random>`
 * of the database at `url` and dropped again (for the committed schema dump).
 */
export async function expectedCatalog(url: string): Promise<Catalog> {
  const scratch = `belay_schema_${randomBytes(6).toString("hex")}`;
  const pool = newPool({ url, schema: scratch, poolSize: 2 });
  try {
    const { expected, failure, leftover } = await buildExpected(pool, scratch);
    if (expected === null || leftover !== null) throw new Error([failure, leftover].filter((m) => m !== null).join("; "));
    return expected;
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** Tables with their columns, and indexes, of one schema; definitions without the schema's name, so two schemas compare. */
async function readCatalog(client: PoolClient, schema: string): Promise<Catalog> {
  // Inside the caller's transaction: with only pg_catalog on the path, every name of the
  // schema in a definition is qualified, and the qualification is then taken out.
  await client.query("SET LOCAL search_path TO pg_catalog");
  const unqualify = (text: string): string => text.replace(new RegExp(`(^|[^a-z0-9_$"])${schema}\\.`, "g"), "$1");
  const catalog: Catalog = { tables: {}, indexes: {} };
  const columns = await rows(
    client,
    `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null, a.attidentity AS identity, a.attgenerated AS generated
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
      ORDER BY c.relname, a.attnum`,
    [schema],
  );
  for (const r of columns) {
    const table = String(r["table_name"]);
    const shapes: Record<string, ColumnShape> = (catalog.tables[table] ??= {});
    if (r["column_name"] === null) continue; // A table without columns.
    const identity = r["identity"] === "a" ? " generated always as identity" : r["identity"] === "d" ? " generated by default as identity" : "";
    const generated = r["generated"] === "s" ? " generated stored" : "";
    shapes[String(r["column_name"])] = { type: `${String(r["type"])}${identity}${generated}`, nullable: r["not_null"] !== true };
  }
  const indexes = await rows(
    client,
    `SELECT i.relname AS index_name, t.relname AS table_name, pg_get_indexdef(i.oid) AS definition
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = $1`,
    [schema],
  );
  for (const r of indexes) catalog.indexes[String(r["index_name"])] = { table: String(r["table_name"]), definition: unqualify(String(r["definition"])) };
  return catalog;
}

/** A probe through the store's own notifier: LISTEN on a connection of its own, NOTIFY through the pool. */
async function checkNotify(run: DoctorRun, pool: Pool, url: string, schema: string, timeoutMs: number): Promise<void> {
  const notifier = new PgNotifier({ pool, url, schema });
  const probe = randomBytes(8).toString("hex");
  let heard: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (heard = resolve));
  let unsubscribe: (() => Promise<void>) | null = null;
  const subscribing = notifier.subscribe((message) => {
    // Not a NodeMessage the engines know: their switch ignores it.
    if ((message as unknown as { probe?: unknown }).probe === probe) heard();
  }, () => undefined);
  try {
    unsubscribe = await within(subscribing, timeoutMs, "listening");
    const started = performance.now();
    await pool.query("SELECT pg_notify($1, $2)", [notifier.channel, JSON.stringify({ type: "doctor", probe })]);
    await within(arrived, timeoutMs, "waiting for the notification");
    run.notify = { channel: notifier.channel, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    run.add(check("notify", "ok", `LISTEN/NOTIFY round trip on ${notifier.channel} in ${run.notify.latencyMs} ms`));
  } catch (error) {
    run.add(check(
      "notify",
      "fail",
      `LISTEN/NOTIFY on ${notifier.channel} failed: ${errorMessage(error)}`,
      [],
      "nodes then learn of cancels and new work only by polling: connect Belay to PostgreSQL directly or through a session-mode pooler (transaction-mode PgBouncer drops LISTEN)",
    ));
  } finally {
    // A subscription that answers after the timeout is closed as soon as it does.
    if (unsubscribe !== null) await unsubscribe();
    else void subscribing.then((close) => close(), () => undefined);
  }
}

class TimeoutError extends Error {}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms / 1000} s while ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
