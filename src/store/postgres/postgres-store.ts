/**
 * The shared store: PostgreSQL through the `pg` driver, with any number of Belay processes on
 * any number of machines using one schema.
 *
 * Transactions are READ COMMITTED. A mutation locks its job row (`SELECT … FOR UPDATE`),
 * loads the tasks and cancellation records in a statement of its own (which therefore sees
 * everything the lock's previous holder committed), runs the pure mutator and writes the
 * changes. The locking order that keeps the store free of deadlocks is in
 * docs/postgres.md; in short: job rows, then pool locks (claims only), then the events lock,
 * which is the last thing any transaction takes.
 *
 * Queries live in `queries/`, one function per statement; this class only composes them
 * into transactions.
 */
import { BelayError, isBelayError } from "../../core/errors.ts";
import type { JobChanges, JobSnapshot } from "../../core/draft.ts";
import { JobDraft } from "../../core/draft.ts";
import type { BelayEvent, CancellationRecord, Job, LogLine } from "../../core/model.ts";
import type { JobStatus } from "../../core/states.ts";
import { applyMutator } from "../store.ts";
import type {
  ActiveTask,
  CancellationFilter,
  ClaimOptions,
  ClaimedTask,
  ExpiredJob,
  StalledTask,
  JobFilter,
  JobPage,
  MutationResult,
  Mutator,
  NewLogLine,
  NodeRecord,
  Page,
  RunnerRecord,
  Store,
  TokenRecord,
  WebhookDelivery,
  WebhookRecord,
} from "../store.ts";
import { checkSchemaName, inTransaction, lockKeys, newPool, redactUrl } from "./db.ts";
import type { LockKeys, Pool, Transaction } from "./db.ts";
import { appliedMigrations, dropSchema, migrate } from "./migrate.ts";
import type { AppliedMigration } from "./migrate.ts";
import * as cancellations from "./queries/cancellations.ts";
import * as claims from "./queries/claims.ts";
import * as events from "./queries/events.ts";
import * as jobs from "./queries/jobs.ts";
import * as logs from "./queries/logs.ts";
import * as nodes from "./queries/nodes.ts";
import * as runners from "./queries/runners.ts";
import * as sweeps from "./queries/sweeps.ts";
import * as tasks from "./queries/tasks.ts";
import * as tokens from "./queries/tokens.ts";
import * as webhooks from "./queries/webhooks.ts";
import { PgNotifier } from "./notifier.ts";
import { rowToJob } from "./rows.ts";

export interface PostgresStoreOptions {
  /** Connection URL: `postgres://user:password@host:port/database` (libpq parameters such as `sslmode` allowed). */
  url: string;
  /**
   * Schema that holds Belay's tables, created by `migrate()` if missing. Lower-case letters,
   * digits and `_`, starting with a letter or `_`, at most 63 characters. Default `"belay"`.
   */
  schema?: string;
  /** Most connections this store holds open at once. Default 10. */
  poolSize?: number;
  /** `application_name` of the connections (the LISTEN one gets `:listen` appended). Default `belay`. */
  applicationName?: string;
}

/**
 * Jobs per transaction in `mutateJobs`. Smaller than SQLite's chunk: the chunk's job rows stay
 * locked until its commit, and each job costs a few round trips here.
 */
const bulkChunk = 100;

export class PostgresStore implements Store {
  readonly description: string;
  readonly schema: string;
  /** Any number of engines on any number of machines share the schema. */
  readonly shared = true;
  readonly notifier: PgNotifier;
  private readonly pool: Pool;
  private readonly locks: LockKeys;
  private closed = false;

  constructor(options: PostgresStoreOptions) {
    const schema = options.schema ?? "belay";
    try {
      this.schema = checkSchemaName(schema);
    } catch (error) {
      throw new BelayError("INVALID_REQUEST", (error as Error).message, { details: { field: "schema" } });
    }
    const poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(poolSize) || poolSize < 1) {
      throw new BelayError("INVALID_REQUEST", "poolSize must be a positive integer", { details: { field: "poolSize" } });
    }
    this.pool = newPool({ url: options.url, schema: this.schema, poolSize, ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }) });
    this.locks = lockKeys(this.schema);
    this.notifier = new PgNotifier({ pool: this.pool, url: options.url, schema: this.schema, applicationName: options.applicationName });
    this.description = `postgres:${redactUrl(options.url)}#${this.schema}`;
  }

  async migrate(): Promise<void> {
    await migrate(this.pool, this.schema, this.locks.migrate);
  }

  /** The migration ledger of this store's schema, oldest first. */
  async appliedMigrations(): Promise<AppliedMigration[]> {
    return appliedMigrations(this.pool, this.schema);
  }

  /** Drop this store's schema with every table and row in it. Irreversible: for tests and uninstalls. */
  async dropSchema(): Promise<void> {
    await dropSchema(this.pool, this.schema);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** A transaction whose deferred events are numbered and written just before COMMIT. */
  private transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn, (tx) => this.flushEvents(tx));
  }

  private async flushEvents(tx: Transaction): Promise<void> {
    const pending = tx.takePendingEvents();
    if (pending.length === 0) return;
    const numbered = await events.insertEvents(tx.client, this.locks.events, pending.flatMap((p) => p.events));
    let at = 0;
    for (const p of pending) {
      p.numbered.push(...numbered.slice(at, at + p.events.length));
      at += p.events.length;
    }
  }

  // ---- jobs -------------------------------------------------------------------------

  async insertJob(build: (draft: JobDraft) => void, job: Job): Promise<{ job: Job; created: boolean; events: BelayEvent[] }> {
    return this.transaction(async (tx) => {
      if (job.idempotencyKey !== null) {
        const existing = await this.jobByIdempotencyKey(tx, job.owner, job.idempotencyKey);
        if (existing !== null) return { job: existing, created: false, events: [] };
      }
      const draft = new JobDraft({ job, cancellations: [] }, job.createdAt);
      build(draft);
      const changes = draft.changes();
      const seq = await jobs.insertJobRow(tx.client, job);
      if (seq === null) {
        // A concurrent submit with the same key committed first (the insert waited for it).
        const existing = job.idempotencyKey === null ? null : await this.jobByIdempotencyKey(tx, job.owner, job.idempotencyKey);
        if (existing === null) throw new BelayError("INTERNAL", `job ${job.id} was neither inserted nor found by its idempotency key`);
        return { job: existing, created: false, events: [] };
      }
      await tasks.insertTasks(tx.client, job, seq);
      return { job, created: true, events: tx.deferEvents(changes.events) };
    });
  }

  private async jobByIdempotencyKey(tx: Transaction, owner: string, key: string): Promise<Job | null> {
    const id = await jobs.jobIdByIdempotencyKey(tx.client, owner, key);
    return id === null ? null : jobs.selectJob(tx.client, id);
  }

  async getJob(id: string): Promise<Job | null> {
    return jobs.selectJob(this.pool, id);
  }

  async listJobs(filter: JobFilter, page: Page): Promise<JobPage> {
    let beforeSeq: number | null = null;
    if (page.cursor !== undefined && page.cursor !== null) {
      beforeSeq = Number.parseInt(page.cursor, 10);
      if (!Number.isSafeInteger(beforeSeq)) throw new BelayError("INVALID_REQUEST", "cursor is not valid", { details: { field: "cursor" } });
    }
    const found = await jobs.listJobs(this.pool, filter, beforeSeq, page.limit + 1);
    const more = found.length > page.limit;
    const items = found.slice(0, page.limit);
    const last = items[page.limit - 1];
    return { items: items.map((f) => f.job), nextCursor: more && last !== undefined ? String(last.seq) : null };
  }

  async findJobIds(filter: JobFilter, limit: number): Promise<{ ids: string[]; total: number }> {
    return jobs.findJobIds(this.pool, filter, limit);
  }

  // ---- mutations ----------------------------------------------------------------------

  async mutateJob<T>(jobId: string, now: string, mutate: Mutator<T>): Promise<MutationResult<T>> {
    return this.transaction((tx) => this.mutateInTransaction(tx, jobId, now, mutate));
  }

  /** Lock the job row, then load its tasks and records: the snapshot a mutator works on. */
  private async loadSnapshot(tx: Transaction, jobId: string): Promise<JobSnapshot> {
    const row = await jobs.lockJob(tx.client, jobId);
    if (row === undefined) throw new BelayError("JOB_NOT_FOUND", `job ${jobId} not found`, { details: { jobId } });
    const parts = await jobs.loadJobParts(tx.client, jobId);
    return { job: rowToJob(row, parts.tasks), cancellations: parts.cancellations };
  }

  private async mutateInTransaction<T>(tx: Transaction, jobId: string, now: string, mutate: Mutator<T>): Promise<MutationResult<T>> {
    const snapshot = await this.loadSnapshot(tx, jobId);
    const { value, changes } = applyMutator(snapshot, now, mutate);
    const written = await this.writeChanges(tx, changes);
    return { value, job: changes.job, events: written };
  }

  async mutateJobs<T>(jobIds: string[], now: string, mutate: Mutator<T>): Promise<Array<MutationResult<T> | { error: unknown; jobId: string }>> {
    const results: Array<MutationResult<T> | { error: unknown; jobId: string }> = [];
    for (let i = 0; i < jobIds.length; i += bulkChunk) {
      const chunk = jobIds.slice(i, i + bulkChunk);
      const chunkResults = await this.transaction(async (tx) => {
        // Lock the whole chunk first, in id order: a bulk mutation then never holds one job
        // row while it waits for another in an order a second bulk mutation could reverse.
        await jobs.lockJobs(tx.client, chunk);
        const out: Array<MutationResult<T> | { error: unknown; jobId: string }> = [];
        for (const jobId of chunk) {
          // Only the refusal of one job is that job's result. A database error aborts the
          // whole transaction, so it must propagate (PostgreSQL would turn the COMMIT into a
          // ROLLBACK): the chunk is then reported as failed, never as written.
          let snapshot: JobSnapshot;
          try {
            snapshot = await this.loadSnapshot(tx, jobId);
          } catch (error) {
            if (!isBelayError(error, "JOB_NOT_FOUND")) throw error;
            out.push({ error, jobId });
            continue;
          }
          let applied: ReturnType<typeof applyMutator<T>>;
          try {
            applied = applyMutator(snapshot, now, mutate);
          } catch (error) {
            out.push({ error, jobId });
            continue;
          }
          const written = await this.writeChanges(tx, applied.changes);
          out.push({ value: applied.value, job: applied.changes.job, events: written });
        }
        return out;
      });
      results.push(...chunkResults);
    }
    return results;
  }

  /** Write a draft's changes; its events are deferred to the end of the transaction (the returned array is filled then). */
  private async writeChanges(tx: Transaction, changes: JobChanges): Promise<BelayEvent[]> {
    const job = changes.job;
    if (changes.jobChanged) await jobs.updateJob(tx.client, job);
    await tasks.updateTasks(tx.client, job.id, changes.changedTasks);
    await claims.deletePoolLeases(tx.client, job.id, changes.releasedTasks);
    for (const record of changes.cancellations) await cancellations.upsertCancellation(tx.client, record);
    return tx.deferEvents(changes.events);
  }

  // ---- claims and pools ---------------------------------------------------------------------

  async claimTasks<T>(options: ClaimOptions, claim: (draft: JobDraft, taskKey: string) => T | null): Promise<Array<ClaimedTask<T>>> {
    if (options.max <= 0) return [];
    return this.transaction(async (tx) => {
      const queues = options.queues !== undefined && options.queues.length > 0 ? options.queues : null;
      // Read more candidates than needed: some may wait for a full pool. Their job rows are
      // now locked (SKIP LOCKED: see queries/claims.ts).
      const candidates = await claims.claimCandidates(tx.client, queues, options.max * 4 + 16);
      // Pool slots are counted under the pools' locks, taken in name order after the job rows.
      const pools = [...new Set(candidates.flatMap((c) => c.uses))].filter((p) => options.pools[p] !== undefined).sort();
      await claims.lockPools(tx.client, pools.map((p) => this.locks.pool(p)));
      const poolUse = await claims.countPoolLeases(tx.client, pools);
      const claimed: Array<ClaimedTask<T>> = [];
      for (const candidate of candidates) {
        if (claimed.length >= options.max) break;
        if (!poolsHaveRoom(candidate.uses, options.pools, poolUse)) continue;
        const { jobId, taskKey } = candidate;
        const result = await this.mutateInTransaction(tx, jobId, options.now, (draft) => claim(draft, taskKey));
        if (result.value === null) continue;
        await claims.insertPoolLeases(tx.client, candidate.uses, jobId, taskKey);
        for (const pool of candidate.uses) poolUse.set(pool, (poolUse.get(pool) ?? 0) + 1);
        claimed.push({ jobId, taskKey, value: result.value, job: result.job, events: result.events });
      }
      return claimed;
    });
  }

  async poolHolders(): Promise<Record<string, string[]>> {
    return claims.poolHolders(this.pool);
  }

  // ---- runners and logs ---------------------------------------------------------------

  async insertRunner(runner: RunnerRecord): Promise<void> {
    await runners.insertRunner(this.pool, runner);
  }

  async endRunner(jobId: string, taskKey: string, attempt: number, end: { endedAt: string; exitCode: number | null; outcome: string }): Promise<void> {
    await runners.endRunner(this.pool, jobId, taskKey, attempt, end);
  }

  async liveRunners(nodeId?: string): Promise<RunnerRecord[]> {
    return runners.liveRunners(this.pool, nodeId);
  }

  async jobRunners(jobId: string): Promise<RunnerRecord[]> {
    return runners.jobRunners(this.pool, jobId);
  }

  async appendLogs(lines: NewLogLine[]): Promise<void> {
    await logs.appendLogs(this.pool, lines);
  }

  async getLogs(jobId: string, options: { taskKey?: string; afterSeq?: number; limit?: number; tail?: number }): Promise<LogLine[]> {
    return logs.getLogs(this.pool, jobId, options);
  }

  // ---- events -------------------------------------------------------------------------

  async jobEvents(jobId: string, afterSeq: number, limit: number): Promise<BelayEvent[]> {
    return events.jobEvents(this.pool, jobId, afterSeq, limit);
  }

  async eventsAfter(afterSeq: number, limit: number): Promise<BelayEvent[]> {
    return events.eventsAfter(this.pool, afterSeq, limit);
  }

  // ---- cancellations -------------------------------------------------------------------

  async getCancellation(id: string): Promise<CancellationRecord | null> {
    return cancellations.getCancellation(this.pool, id);
  }

  async getCancellationByIdempotencyKey(key: string): Promise<CancellationRecord | null> {
    return cancellations.getCancellationByIdempotencyKey(this.pool, key);
  }

  async listCancellations(filter: CancellationFilter, page: { limit: number; offset: number }): Promise<{ items: CancellationRecord[]; total: number }> {
    return cancellations.listCancellations(this.pool, filter, page);
  }

  async insertCancellation(record: CancellationRecord): Promise<void> {
    await cancellations.upsertCancellation(this.pool, record);
  }

  async updateCancellation(record: CancellationRecord): Promise<void> {
    await cancellations.upsertCancellation(this.pool, record);
  }

  async openCancellations(): Promise<CancellationRecord[]> {
    return cancellations.openCancellations(this.pool);
  }

  // ---- sweeps ---------------------------------------------------------------------------

  async expiredJobs(nowMs: number, limit: number): Promise<ExpiredJob[]> {
    return sweeps.expiredJobs(this.pool, nowMs, limit);
  }

  async setStallDeadline(jobId: string, taskKey: string, attempt: number, deadlineMs: number): Promise<void> {
    await sweeps.setStallDeadline(this.pool, jobId, taskKey, attempt, deadlineMs);
  }

  async stalledTasks(nowMs: number, limit: number): Promise<StalledTask[]> {
    return sweeps.stalledTasks(this.pool, nowMs, limit);
  }

  async activeTasks(nodeId?: string): Promise<ActiveTask[]> {
    return sweeps.activeTasks(this.pool, nodeId);
  }

  async maxEventSeq(): Promise<number> {
    return events.maxEventSeq(this.pool);
  }

  // ---- nodes --------------------------------------------------------------------------

  async registerNode(node: NodeRecord): Promise<void> {
    await nodes.registerNode(this.pool, node);
  }

  async heartbeat(nodeId: string, nowMs: number): Promise<boolean> {
    return nodes.heartbeat(this.pool, nodeId, nowMs);
  }

  async listNodes(): Promise<NodeRecord[]> {
    return nodes.listNodes(this.pool);
  }

  async expiredNodes(nowMs: number): Promise<NodeRecord[]> {
    return nodes.expiredNodes(this.pool, nowMs);
  }

  async markNodeDead(nodeId: string, at: string): Promise<boolean> {
    return nodes.markNodeDead(this.pool, nodeId, at);
  }

  async markNodeStopped(nodeId: string, at: string): Promise<void> {
    await nodes.markNodeStopped(this.pool, nodeId, at);
  }

  async countJobs(): Promise<Record<JobStatus, number>> {
    return sweeps.countJobs(this.pool);
  }

  // ---- tokens -------------------------------------------------------------------------

  async insertToken(token: TokenRecord, hash: string): Promise<void> {
    await tokens.insertToken(this.pool, token, hash);
  }

  async findToken(hash: string): Promise<TokenRecord | null> {
    return tokens.findToken(this.pool, hash);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return tokens.listTokens(this.pool);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    return tokens.revokeToken(this.pool, id, at);
  }

  async countTokens(): Promise<number> {
    return tokens.countTokens(this.pool);
  }

  // ---- webhooks -------------------------------------------------------------------------

  async insertWebhook(hook: WebhookRecord): Promise<void> {
    await webhooks.insertWebhook(this.pool, hook);
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    return webhooks.listWebhooks(this.pool);
  }

  async deleteWebhook(id: string, at: string): Promise<boolean> {
    return webhooks.deleteWebhook(this.pool, id, at);
  }

  async enqueueDelivery(webhookId: string, event: BelayEvent, nowMs: number, now: string): Promise<void> {
    await webhooks.enqueueDelivery(this.pool, webhookId, event, nowMs, now);
  }

  async claimDueDeliveries(nowMs: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    return webhooks.claimDueDeliveries(this.pool, nowMs, limit, leaseMs);
  }

  async updateDelivery(delivery: WebhookDelivery): Promise<void> {
    await webhooks.updateDelivery(this.pool, delivery);
  }

  async listDeliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]> {
    return webhooks.listDeliveries(this.pool, webhookId, limit);
  }
}

/** Room in every pool `uses` names; an unknown pool has no slots (the task waits until the server is configured with it). */
function poolsHaveRoom(uses: string[], capacities: Record<string, number>, poolUse: Map<string, number>): boolean {
  for (const pool of uses) {
    const capacity = capacities[pool];
    if (capacity === undefined) return false;
    if ((poolUse.get(pool) ?? 0) >= capacity) return false;
  }
  return true;
}

