/**
 * The shared store: PostgreSQL through the `pg` driver, with any number of Belay processes on
 * any number of machines using one schema.
 *
 * Transactions are READ COMMITTED. A mutation locks its job row (`SELECT … FOR UPDATE`),
 * loads the job with its tasks and cancellation records in a statement of its own (which
 * therefore sees everything the lock's previous holder committed), runs the pure mutator and
 * writes the changes. The pool is in pipeline mode: BEGIN travels with the lock and the load,
 * the writes with the COMMIT — two round trips (see db.ts). The locking order that keeps the store free of deadlocks is in
 * docs/postgres.md; in short: job rows, then pool locks (claims only), then the events lock,
 * which is the last thing any transaction takes.
 *
 * Queries live in `queries/`, one function per statement; this class only composes them
 * into transactions.
 */
import { assertParentAccepts } from "../../core/children.ts";
import { BelayError } from "../../core/errors.ts";
import type { JobChanges, JobSnapshot } from "../../core/draft.ts";
import { JobDraft } from "../../core/draft.ts";
import type { BelayEvent, CancellationRecord, Job, LogLine, NewEvent, Task } from "../../core/model.ts";
import type { JobStatus } from "../../core/states.ts";
import { applyMutator, nextSnapshot } from "../store.ts";
import type {
  QueuePause,
  ScheduleRun,
  StoredSchedule,
  ActiveTask,
  BulkMutationOptions,
  BulkResult,
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
import { checkSchemaName, inTransaction, lockKeys, newPool, pipeline, redactUrl, roundTripsOf, statement } from "./db.ts";
import type { LockKeys, Pool, RoundTripCount, Transaction } from "./db.ts";
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
import * as schedules from "./queries/schedules.ts";
import * as webhooks from "./queries/webhooks.ts";
import { PgNotifier } from "./notifier.ts";

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

  /** Statements sent and round trips waited for by this store so far (the round-trip benchmark reads differences). */
  roundTrips(): RoundTripCount {
    return roundTripsOf(this.pool);
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

  /** A transaction whose deferred events are numbered and written with its COMMIT. */
  private transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn, (tx) => this.queueEvents(tx));
  }

  /**
   * Queue the transaction's events for its commit pipeline. With `keep`, only the events of
   * jobs that exist are inserted (a submit whose jobs an idempotency key may have refused);
   * `keep` tells, once the transaction is over, which those were.
   */
  private queueEvents(tx: Transaction, keep?: (e: NewEvent) => boolean): void {
    const pending = tx.takePendingEvents();
    const all = pending.flatMap((p) => p.events);
    if (all.length === 0) return;
    const [lock, insert] = events.insertEventsStatements(this.locks.events, all, keep !== undefined);
    if (lock === undefined || insert === undefined) return;
    tx.queue(lock);
    tx.queue(insert, (answer) => {
      const kept = keep === undefined ? all : all.filter(keep);
      const numbered = events.numberEvents(kept, answer.rows);
      const bySeq = new Map(kept.map((e, i) => [e, numbered[i]]));
      for (const p of pending) for (const e of p.events) {
        const n = bySeq.get(e);
        if (n !== undefined) p.numbered.push(n);
      }
    });
  }

  // ---- jobs -------------------------------------------------------------------------

  async insertJob(build: (draft: JobDraft) => void, job: Job): Promise<{ job: Job; created: boolean; events: BelayEvent[] }> {
    const [result] = await this.insertJobs([{ build, job }]);
    if (result === undefined) throw new BelayError("INTERNAL", `job ${job.id} was neither inserted nor found`);
    return result;
  }

  /**
   * Insert many jobs in one transaction, all or none: one statement for the jobs and their
   * tasks and one for their events, sent with BEGIN and COMMIT in one round trip. A job whose
   * owner already used its idempotency key (before, or earlier in `items`) is not inserted:
   * the job that has the key is returned with `created: false`.
   */
  async insertJobs(items: Array<{ build: (draft: JobDraft) => void; job: Job }>): Promise<Array<{ job: Job; created: boolean; events: BelayEvent[] }>> {
    if (items.length === 0) return [];
    const jobsIn = items.map((item) => item.job);
    const numbered = new Map<string, BelayEvent[]>();
    const inserted = new Set<string>();
    await inTransaction(
      this.pool,
      async (tx) => {
        // A child is refused when its tree's cancel was accepted: decided here, under the
        // ancestors' row locks, not by a read before the transaction (DESIGN §7).
        for (const job of jobsIn) {
          if (job.parentJobId !== null) assertParentAccepts(job, await jobs.lockAncestors(tx.client, job.parentJobId));
        }
        for (const item of items) {
          const draft = new JobDraft({ job: item.job, cancellations: [] }, item.job.createdAt);
          item.build(draft);
          numbered.set(item.job.id, tx.deferEvents(draft.changes().events));
        }
        tx.queue(jobs.insertJobsStatement(jobsIn), (answer) => {
          for (const row of answer.rows) inserted.add(row["id"] as string);
        });
      },
      // Only the events of jobs the insert took are written: the others' ids are in no row.
      (tx) => this.queueEvents(tx, (e) => inserted.has(e.jobId)),
    );
    const missing = jobsIn.filter((j) => !inserted.has(j.id));
    const existing = await jobs.jobsByIdempotencyKeys(
      this.pool,
      missing.flatMap((j) => (j.idempotencyKey === null ? [] : [{ owner: j.owner, key: j.idempotencyKey }])),
    );
    return jobsIn.map((job) => {
      if (inserted.has(job.id)) return { job, created: true, events: numbered.get(job.id) ?? [] };
      const found = job.idempotencyKey === null ? undefined : existing.get(`${job.owner}\u0000${job.idempotencyKey}`);
      if (found === undefined) throw new BelayError("INTERNAL", `job ${job.id} was neither inserted nor found by its idempotency key`);
      return { job: found, created: false, events: [] };
    });
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
    return this.transaction(async (tx) => {
      const snapshot = (await this.lockAndLoad(tx, [jobId])).get(jobId);
      if (snapshot === undefined) throw new BelayError("JOB_NOT_FOUND", `job ${jobId} not found`, { details: { jobId } });
      // The time of the change is when it holds the lock, not when it asked for it: a cancel
      // that waited for a child's insert (DESIGN §7) is accepted after that child was created.
      const { value, changes } = applyMutator(snapshot, laterOf(now, new Date().toISOString()), mutate);
      return { value, job: changes.job, events: this.queueChanges(tx, changes) };
    });
  }

  /**
   * Lock the jobs' rows (in id order), then load them with their tasks and records: the
   * snapshots mutators work on. The two statements travel in one pipeline (with the BEGIN
   * when they are the transaction's first); the load starts after the lock is held.
   */
  private async lockAndLoad(tx: Transaction, jobIds: string[], lockWaitMs?: number): Promise<Map<string, JobSnapshot>> {
    if (lockWaitMs === undefined) {
      const [, loaded] = await pipeline(tx.client, [jobs.lockJobsStatement(jobIds), jobs.loadJobsStatement(jobIds)]);
      return jobs.snapshotsOf(loaded?.rows ?? []);
    }
    // lock_timeout for this transaction only, in the same round trip as the lock.
    const [, , loaded] = await pipeline(tx.client, [
      statement("SELECT set_config('lock_timeout', $1, true)", [`${Math.max(1, Math.round(lockWaitMs))}ms`]),
      jobs.lockJobsStatement(jobIds),
      jobs.loadJobsStatement(jobIds),
    ]);
    return jobs.snapshotsOf(loaded?.rows ?? []);
  }

  async mutateJobs<T>(jobIds: string[], now: string, mutate: Mutator<T>, options: BulkMutationOptions<T> = {}): Promise<Array<BulkResult<T>>> {
    const results: Array<BulkResult<T>> = [];
    for (let i = 0; i < jobIds.length; i += bulkChunk) {
      const chunk = jobIds.slice(i, i + bulkChunk);
      const chunkResults = await this.transaction(async (tx) => {
        // The whole chunk is locked first, in id order: a bulk mutation then never holds one
        // job row while it waits for another in an order a second bulk mutation could reverse.
        const snapshots = await this.lockAndLoad(tx, chunk, options.lockWaitMs);
        const out: Array<BulkResult<T>> = [];
        const changeSet: JobChanges[] = [];
        const outcomes: Array<{ value: T; job: Job; at: number }> = [];
        for (const jobId of chunk) {
          // Only the refusal of one job is that job's result. A database error aborts the
          // whole transaction, so it propagates from the commit: the chunk is then reported as
          // failed, never as written.
          const snapshot = snapshots.get(jobId);
          if (snapshot === undefined) {
            out.push({ error: new BelayError("JOB_NOT_FOUND", `job ${jobId} not found`, { details: { jobId } }), jobId });
            continue;
          }
          let applied: ReturnType<typeof applyMutator<T>>;
          try {
            applied = applyMutator(snapshot, now, mutate);
          } catch (error) {
            out.push({ error, jobId });
            continue;
          }
          // A job named twice in the chunk is mutated twice: the second time from the first's result.
          snapshots.set(jobId, nextSnapshot(snapshot, applied.changes));
          changeSet.push(applied.changes);
          outcomes.push({ value: applied.value, job: applied.changes.job, at: out.length });
          out.push({ error: null, jobId });
        }
        // The chunk's writes: one statement per table (queueChangeSet), with the COMMIT.
        const written = this.queueChangeSet(tx, changeSet);
        outcomes.forEach((o, k) => {
          out[o.at] = { value: o.value, job: o.job, events: written[k] ?? [] };
        });
        const record = options.progress?.(out);
        if (record !== undefined && record !== null) tx.queue(cancellations.upsertCancellationStatement(record));
        return out;
      });
      results.push(...chunkResults);
      options.afterChunk?.(chunkResults);
    }
    return results;
  }

  /** Queue a draft's writes for the commit; its events are numbered then (the returned array is filled at commit). */
  private queueChanges(tx: Transaction, changes: JobChanges): BelayEvent[] {
    return this.queueChangeSet(tx, [changes])[0] ?? [];
  }

  /**
   * Queue the writes of many drafts for the commit, set-based: one statement per table
   * whatever the number of jobs (jobs, tasks, pool releases, records; the events go with every
   * other event of the transaction). A job changed twice (named twice in a bulk, two tasks of
   * it claimed) is written once, as the last draft left it: each draft started from the
   * previous one's result. Returns each draft's events, numbered at commit.
   */
  private queueChangeSet(tx: Transaction, changeSet: JobChanges[]): BelayEvent[][] {
    const jobsById = new Map<string, Job>();
    const tasksByKey = new Map<string, { jobId: string; task: Task }>();
    const released = new Map<string, { jobId: string; taskKey: string }>();
    const records = new Map<string, CancellationRecord>();
    for (const changes of changeSet) {
      const jobId = changes.job.id;
      if (changes.jobChanged) jobsById.set(jobId, changes.job);
      for (const task of changes.changedTasks) tasksByKey.set(`${jobId}\u0000${task.key}`, { jobId, task });
      for (const taskKey of changes.releasedTasks) released.set(`${jobId}\u0000${taskKey}`, { jobId, taskKey });
      for (const record of changes.cancellations) {
        // A Map keeps the order of first writes: new records are numbered (`seq`) in that order.
        records.set(record.id, record);
      }
    }
    if (jobsById.size > 0) tx.queue(jobs.updateJobsStatement([...jobsById.values()]));
    if (tasksByKey.size > 0) tx.queue(tasks.updateTasksStatement([...tasksByKey.values()]));
    if (released.size > 0) tx.queue(claims.deletePoolLeasesStatement([...released.values()]));
    if (records.size > 0) tx.queue(cancellations.upsertCancellationsStatement([...records.values()]));
    return changeSet.map((changes) => tx.deferEvents(changes.events));
  }

  // ---- claims and pools ---------------------------------------------------------------------

  /**
   * Two round trips. The first sends BEGIN, the candidates (their job rows locked, SKIP
   * LOCKED), the locks and lease counts of the pools they use, and their jobs' load, in one
   * pipeline: each statement starts after the one before it has finished, and reads what the
   * candidates statement locked from a transaction-local setting (queries/claims.ts). The
   * second sends the writes with the COMMIT.
   */
  async claimTasks<T>(options: ClaimOptions, claim: (draft: JobDraft, taskKey: string) => T | null): Promise<Array<ClaimedTask<T>>> {
    if (options.max <= 0) return [];
    return this.transaction(async (tx) => {
      const queues = options.queues !== undefined && options.queues.length > 0 ? options.queues : null;
      // A task that uses a pool this node does not know is never claimed: no pool to lock then.
      const knownPools = Object.keys(options.pools);
      // Read more candidates than needed: some may wait for a full pool. Their job rows are
      // then locked (SKIP LOCKED: see queries/claims.ts); the pools' locks are taken after them.
      const answers = (await pipeline(tx.client, [
        claims.claimPlanStatement(),
        claims.claimCandidatesStatement(queues, options.max * 4 + 16),
        ...(knownPools.length > 0 ? [claims.lockPoolsStatement(knownPools, this.locks.pool("")), claims.countPoolLeasesStatement(knownPools)] : []),
        jobs.loadClaimedJobsStatement(),
      ])).slice(1);
      const candidates = claims.candidatesOf(answers[0]?.rows ?? []);
      if (candidates.length === 0) return [];
      const pools = [...new Set(candidates.flatMap((c) => c.uses))].filter((p) => options.pools[p] !== undefined);
      const poolUse = claims.poolUseOf(pools, knownPools.length > 0 ? (answers[2]?.rows ?? []) : []);
      const snapshots = jobs.snapshotsOf(answers.at(-1)?.rows ?? []);
      const claimed: Array<Omit<ClaimedTask<T>, "events">> = [];
      const changeSet: JobChanges[] = [];
      const leases: Array<{ pool: string; jobId: string; taskKey: string }> = [];
      for (const candidate of candidates) {
        if (claimed.length >= options.max) break;
        if (!poolsHaveRoom(candidate.uses, options.pools, poolUse)) continue;
        const { jobId, taskKey } = candidate;
        const snapshot = snapshots.get(jobId);
        if (snapshot === undefined) continue;
        const { value, changes } = applyMutator(snapshot, options.now, (draft) => claim(draft, taskKey));
        if (value === null) continue;
        // A second task of the same job is claimed from the first claim's result.
        snapshots.set(jobId, nextSnapshot(snapshot, changes));
        changeSet.push(changes);
        for (const pool of candidate.uses) {
          leases.push({ pool, jobId, taskKey });
          poolUse.set(pool, (poolUse.get(pool) ?? 0) + 1);
        }
        claimed.push({ jobId, taskKey, value, job: changes.job });
      }
      // Every claim's writes in one statement per table, with the COMMIT.
      const written = this.queueChangeSet(tx, changeSet);
      if (leases.length > 0) tx.queue(claims.insertPoolLeasesStatement(leases));
      return claimed.map((c, i) => ({ ...c, events: written[i] ?? [] }));
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
    return events.jobEvents(this.pool, this.locks.events, jobId, afterSeq, limit);
  }

  async eventsAfter(afterSeq: number, limit: number): Promise<BelayEvent[]> {
    return events.eventsAfter(this.pool, this.locks.events, afterSeq, limit);
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
    return events.maxEventSeq(this.pool, this.locks.events);
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

  // ---- schedules and queues (DESIGN §7; queries/schedules.ts) ----

  async insertSchedule(schedule: StoredSchedule): Promise<void> {
    await schedules.insertSchedule(this.pool, schedule);
  }

  async getSchedule(idOrName: string, owner?: string): Promise<StoredSchedule | null> {
    return schedules.getSchedule(this.pool, idOrName, owner);
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    return schedules.listSchedules(this.pool);
  }

  async setSchedulePaused(id: string, paused: { by: string; at: string } | null, nextRunMs: number | null, now: string): Promise<boolean> {
    return schedules.setSchedulePaused(this.pool, id, paused, nextRunMs, now);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return schedules.deleteSchedule(this.pool, id);
  }

  async dueSchedules(nowMs: number, limit: number): Promise<StoredSchedule[]> {
    return schedules.dueSchedules(this.pool, nowMs, limit);
  }

  async claimScheduleFiring(id: string, expectedMs: number, nextRunMs: number | null, now: string): Promise<boolean> {
    return schedules.claimFiring(this.pool, id, expectedMs, nextRunMs, now);
  }

  async recordScheduleRun(id: string, run: ScheduleRun): Promise<void> {
    await schedules.recordRun(this.pool, id, run);
  }

  async pauseQueue(pause: QueuePause): Promise<boolean> {
    return schedules.pauseQueue(this.pool, pause);
  }

  async resumeQueue(queue: string): Promise<boolean> {
    return schedules.resumeQueue(this.pool, queue);
  }

  async listQueuePauses(): Promise<QueuePause[]> {
    return schedules.queuePauses(this.pool);
  }

  async queueCounts(): Promise<Record<string, { pending: number; running: number }>> {
    return schedules.queueCounts(this.pool);
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

  async touchToken(id: string, at: string, notBefore: string): Promise<void> {
    await tokens.touchToken(this.pool, id, at, notBefore);
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


/** The later of two ISO times (both UTC, same format, so they compare as strings). */
function laterOf(a: string, b: string): string {
  return a > b ? a : b;
}
