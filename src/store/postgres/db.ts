/**
 * The PostgreSQL plumbing every query module shares: the pool, named (prepared) queries,
 * parameter cleaning, the advisory-lock keys and the transaction wrapper. The only file
 * besides `migrate.ts` that touches the `pg` driver directly; nothing outside
 * `src/store/postgres/` imports `pg`.
 */
import { Client, Pool } from "pg";
import type { PoolClient, QueryResult } from "pg";
import type { BelayEvent, NewEvent } from "../../core/model.ts";

export type Row = Record<string, unknown>;

/** Anything a query can run on: the pool (one statement, autocommit) or a transaction's client. */
export type Db = Pool | PoolClient;

export type { Pool, PoolClient };

/**
 * A query with a name: pg prepares it once per connection and afterwards only sends its
 * parameters (hot paths: the mutation's lock, load and writes, the claim). Its text must be
 * constant, which is why no statement names its schema: `search_path` does.
 */
export interface NamedQuery {
  readonly name: string;
  readonly text: string;
}

export function named(name: string, text: string): NamedQuery {
  return { name: `belay_${name}`, text };
}

/**
 * PostgreSQL `text` cannot hold U+0000 (the server refuses the whole statement). A NUL can
 * reach the store in what runners produce — a log line, an error message — and refusing the
 * write would lose the rest of it (DESIGN invariant 6), so every string parameter has its NULs
 * replaced by U+FFFD. JSON parameters are unaffected: JSON.stringify escapes NUL as `\u0000`,
 * which `json` columns keep as written.
 */
function clean(value: unknown): unknown {
  if (typeof value === "string") return value.includes("\u0000") ? value.replaceAll("\u0000", "\uFFFD") : value;
  if (Array.isArray(value)) return value.map(clean);
  return value;
}

/** Statements sent and round trips waited for, by one store (its pool and every connection of it). */
export interface RoundTripCount {
  statements: number;
  roundTrips: number;
}

const counters = new WeakMap<object, RoundTripCount>();

/** The count of the store that owns this pool or connection; never reset (readers take differences). */
export function roundTripsOf(db: Db): RoundTripCount {
  return { ...(counters.get(db) ?? { statements: 0, roundTrips: 0 }) };
}

function count(db: object, statements: number, roundTrips: number): void {
  const counter = counters.get(db);
  if (counter === undefined) return;
  counter.statements += statements;
  counter.roundTrips += roundTrips;
}

/** Send one statement without waiting for it (nor counting it). */
function send(db: Db, q: NamedQuery | string, values: readonly unknown[]): Promise<QueryResult<Row>> {
  const params = values.map(clean);
  return typeof q === "string" ? db.query<Row>(q, params) : db.query<Row>({ name: q.name, text: q.text, values: params });
}

export async function query(db: Db, q: NamedQuery | string, values: readonly unknown[] = []): Promise<QueryResult<Row>> {
  count(db, 1, 1);
  return send(db, q, values);
}

export async function rows(db: Db, q: NamedQuery | string, values: readonly unknown[] = []): Promise<Row[]> {
  return (await query(db, q, values)).rows;
}

export async function firstRow(db: Db, q: NamedQuery | string, values: readonly unknown[] = []): Promise<Row | undefined> {
  return (await query(db, q, values)).rows[0];
}

/** Schema names the store accepts: they go into `search_path` and DDL unquoted-safe. */
const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): string {
  if (!schemaPattern.test(schema)) {
    throw new Error(`PostgreSQL schema name "${schema}" must match ${schemaPattern.source} (lower-case letters, digits, "_")`);
  }
  return schema;
}

/**
 * Text keys of the advisory locks (the server hashes them with `hashtext`). Advisory locks are
 * per database, so each key names the schema: two Belay installations in one database do not
 * wait on each other.
 */
export interface LockKeys {
  /** Held while migrations run. */
  migrate: string;
  /** Held SHARED from the insert of a transaction's events to its end; readers look at its holders (see queries/events.ts). */
  events: string;
  /** Held by a claim while it counts and takes slots of a resource pool. */
  pool: (name: string) => string;
}

export function lockKeys(schema: string): LockKeys {
  return {
    migrate: `belay:${schema}:migrate`,
    events: `belay:${schema}:events`,
    pool: (name) => `belay:${schema}:pool:${name}`,
  };
}

/**
 * The connection settings: every connection works in the store's schema, in UTC (the schema
 * name is checked by checkSchemaName, so it needs no quoting). They go in the startup
 * `options`, after any the user gave (PGOPTIONS, or `?options=` in the URL): a later `-c`
 * wins, and pg would otherwise let the URL's `options` replace ours altogether.
 */
function connectionConfig(url: string, schema: string): { connectionString: string; options?: string } {
  const ours = `-c search_path=${schema} -c TimeZone=UTC`;
  const merge = (theirs: string | null | undefined): string => (theirs ? `${theirs} ${ours}` : ours);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { connectionString: url, options: merge(process.env["PGOPTIONS"]) };
  }
  parsed.searchParams.set("options", merge(parsed.searchParams.get("options") ?? process.env["PGOPTIONS"]));
  return { connectionString: parsed.toString() };
}

/** `application_name` of a store's connections (`pg_stat_activity` shows which node holds which). */
export function applicationName(name: string | undefined, suffix = ""): string {
  // The server truncates it to 63 bytes; keep the suffix.
  return `${(name ?? "belay").slice(0, 63 - suffix.length)}${suffix}`;
}

export function newPool(options: { url: string; schema: string; poolSize: number; applicationName?: string }): Pool {
  const pool = new Pool({
    ...connectionConfig(options.url, options.schema),
    // Statements are written as soon as they are queued, so a transaction's BEGIN travels with
    // its first read and its writes with its COMMIT (see `pipeline` and `Transaction`).
    pipeline: true,
    max: options.poolSize,
    application_name: applicationName(options.applicationName),
  });
  // An idle connection that the server or the network drops emits "error" on the pool; pg
  // has already removed it, and the next query opens a new one. Without a listener the
  // event would crash the process.
  pool.on("error", () => undefined);
  // The same holds for each connection itself: pg emits "error" on a client whose server
  // goes away while no statement of it is running, and between the pool's listeners there are
  // moments (a checkout, a release) when none is attached. A failed statement still fails
  // where it runs; this only keeps the process alive (seen with pg_terminate_backend storms).
  pool.on("connect", (client) => client.on("error", () => undefined));
  const counter: RoundTripCount = { statements: 0, roundTrips: 0 };
  counters.set(pool, counter);
  pool.on("connect", (client) => counters.set(client, counter));
  return pool;
}

/** A connection of its own, outside the pool (the LISTEN connection lives as long as the node). */
export function newClient(options: { url: string; schema: string; applicationName?: string }): Client {
  const client = new Client({ ...connectionConfig(options.url, options.schema), application_name: applicationName(options.applicationName, ":listen"), keepAlive: true });
  // Never an unheard "error" (see newPool); the owner adds the listener that acts on it.
  client.on("error", () => undefined);
  return client;
}

export type { Client };

/** A statement to send later (queued writes, pipelines). */
export interface Statement {
  readonly q: NamedQuery | string;
  readonly values: readonly unknown[];
}

export function statement(q: NamedQuery | string, values: readonly unknown[] = []): Statement {
  return { q, values };
}

/**
 * Send several statements at once and wait for all their answers: one round trip (pg's
 * pipeline mode writes each as soon as it is queued; the server runs them in order, each with
 * a snapshot of its own). Throws the first statement's error — in a transaction the ones
 * after it then fail only because it aborted.
 */
export async function pipeline(db: Db, statements: readonly Statement[]): Promise<Array<QueryResult<Row>>> {
  if (statements.length === 0) return [];
  count(db, statements.length, 1);
  const settled = await Promise.allSettled(statements.map((s) => send(db, s.q, s.values)));
  const results: Array<QueryResult<Row>> = [];
  for (const outcome of settled) {
    if (outcome.status === "rejected") throw outcome.reason;
    results.push(outcome.value);
  }
  return results;
}

/**
 * One transaction on one pooled connection. Reads run when they are awaited; writes are
 * queued (`queue`) and sent with the COMMIT in one pipeline, so a mutation costs two round
 * trips: BEGIN with the load, then the writes with the COMMIT. A transaction therefore never
 * reads back what it queued: each read it makes is of rows it has not written yet.
 */
export class Transaction {
  readonly client: PoolClient;
  private readonly queued: Array<{ statement: Statement; onResult: ((result: QueryResult<Row>) => void) | undefined }> = [];
  private readonly pendingEvents: Array<{ events: NewEvent[]; numbered: BelayEvent[] }> = [];

  constructor(client: PoolClient) {
    this.client = client;
  }

  /** Queue a write for the commit's pipeline; `onResult` sees its answer once the transaction has committed. */
  queue(write: Statement, onResult?: (result: QueryResult<Row>) => void): void {
    this.queued.push({ statement: write, onResult });
  }

  takeQueued(): Array<{ statement: Statement; onResult: ((result: QueryResult<Row>) => void) | undefined }> {
    return this.queued.splice(0);
  }

  /** Queue events for the end of the transaction; the returned array is filled with the numbered events then. */
  deferEvents(events: NewEvent[]): BelayEvent[] {
    const numbered: BelayEvent[] = [];
    if (events.length > 0) this.pendingEvents.push({ events, numbered });
    return numbered;
  }

  takePendingEvents(): Array<{ events: NewEvent[]; numbered: BelayEvent[] }> {
    return this.pendingEvents.splice(0);
  }
}

/**
 * Run `fn` in a READ COMMITTED transaction and commit, or roll back if it throws.
 * `beforeCommit` runs last (it queues the events). BEGIN is sent without waiting for its
 * answer, so it travels with the transaction's first statement; the queued writes travel
 * with the COMMIT.
 */
export async function inTransaction<T>(pool: Pool, fn: (tx: Transaction) => Promise<T>, beforeCommit: (tx: Transaction) => void): Promise<T> {
  const client = await pool.connect();
  let discard = false;
  // The connection can die between two statements of the transaction (a server restart,
  // pg_terminate_backend): pg then emits "error" on the checked-out client, which would crash
  // the process unheard. The statement in flight fails on its own; the client is discarded.
  const onError = (): void => {
    discard = true;
  };
  client.on("error", onError);
  count(client, 1, 0);
  const begun = send(client, "BEGIN", []);
  // Awaited below; a failure also fails every statement after it.
  begun.catch(() => undefined);
  try {
    const tx = new Transaction(client);
    const result = await fn(tx);
    beforeCommit(tx);
    const queued = tx.takeQueued();
    const answers = await pipeline(client, [...queued.map((q) => q.statement), statement("COMMIT")]);
    await begun;
    // A COMMIT of a transaction a failed statement has aborted answers ROLLBACK instead of an
    // error: never report such a transaction as written.
    if (answers.at(-1)?.command === "ROLLBACK") throw new Error("PostgreSQL rolled the transaction back at COMMIT");
    queued.forEach((q, i) => {
      const answer = answers[i];
      if (answer !== undefined) q.onResult?.(answer);
    });
    return result;
  } catch (error) {
    try {
      await query(client, "ROLLBACK");
    } catch {
      // The connection itself failed: do not return it to the pool.
      discard = true;
    }
    throw error;
  } finally {
    client.off("error", onError);
    client.release(discard);
  }
}

/** The URL without its password, for logs and reports. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***");
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
