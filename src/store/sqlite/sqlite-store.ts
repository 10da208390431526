/**
 * The embedded store: one SQLite file (WAL) through `node:sqlite`.
 *
 * node:sqlite is synchronous, so inside one process a transaction can never interleave
 * with another: a mutation runs from BEGIN to COMMIT without yielding to the event loop.
 * Across processes, `BEGIN IMMEDIATE` takes the write lock up front (with a busy timeout),
 * so a read-then-write transaction never fails half-way on a lock upgrade.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { SQLInputValue, SQLOutputValue, StatementResultingChanges, StatementSync } from "node:sqlite";
import { BelayError } from "../../core/errors.ts";
import type { JobChanges, JobSnapshot } from "../../core/draft.ts";
import { JobDraft } from "../../core/draft.ts";
import type { BelayEvent, CancellationRecord, Job, LogLine, NewEvent, Task } from "../../core/model.ts";
import { jobStatuses, terminalJobStatuses } from "../../core/states.ts";
import type { JobStatus } from "../../core/states.ts";
import { toBelayEvent } from "../../core/events.ts";
import { jobDeadlines } from "../../core/lifecycle.ts";
import { applyMutator, nextSnapshot } from "../store.ts";
import { SqliteSchedules } from "./schedules.ts";
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
  Role,
  RunnerRecord,
  Store,
  TokenRecord,
  WebhookDelivery,
  WebhookRecord,
} from "../store.ts";
import { WalCheckpointer } from "./checkpointer.ts";
import { migrate } from "./migrate.ts";
import { jsonText, rowToActiveTask, rowToAncestor, rowToCancellation, rowToChildRef, rowToEvent, rowToJob, rowToLog, rowToNode, rowToRunner, rowToTask } from "./rows.ts";
import { assertParentAccepts } from "../../core/children.ts";
import type { AncestorRow } from "../../core/children.ts";
import type { Row } from "./rows.ts";

/** A prepared statement whose executions are counted (positional parameters only, as every query here uses). */
interface CountedStatement {
  run(...params: SQLInputValue[]): StatementResultingChanges;
  get(...params: SQLInputValue[]): Record<string, SQLOutputValue> | undefined;
  all(...params: SQLInputValue[]): Array<Record<string, SQLOutputValue>>;
}

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. */
  path: string;
  /**
   * `normal` (default): WAL with synchronous=NORMAL — a crash of the process loses nothing
   * committed; a power loss or OS crash may lose the last transactions committed before it
   * (never corrupts the file). `strict`: synchronous=FULL — every commit is on disk when it returns.
   */
  durability?: "normal" | "strict";
  /** How long a transaction waits for another process's write lock. Default 5000. */
  busyTimeoutMs?: number;
}

/** Transactions per chunk in `mutateJobs`: big enough to amortise the commit, small enough not to hold the lock for long. */
const bulkChunk = 500;
const terminalList = [...terminalJobStatuses];

export class SqliteStore implements Store {
  readonly description: string;
  /** One engine per file (the engine lock): nodes need no messages, and every other node is dead. */
  readonly shared = false;
  readonly notifier = null;
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  private readonly checkpointer: WalCheckpointer | null = null;

  constructor(options: SqliteStoreOptions) {
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    this.db = new DatabaseSync(options.path);
    this.description = `sqlite:${options.path}`;
    this.db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec(`PRAGMA synchronous = ${options.durability === "strict" ? "FULL" : "NORMAL"}`);
    if (options.path !== ":memory:") {
      this.db.exec("PRAGMA wal_autocheckpoint = 0");
      this.checkpointer = new WalCheckpointer(options.path);
    }
  }

  /** Statements executed (SQLite runs in this process: no round trips, but each costs a step of the VM). */
  private statementCount = 0;

  /** Prepared statements are cached by their SQL text; each execution is counted. */
  private sql(text: string): CountedStatement {
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return this.counted(statement);
  }

  private counted(statement: StatementSync): CountedStatement {
    return {
      run: (...params) => {
        this.statementCount += 1;
        return statement.run(...params);
      },
      get: (...params) => {
        this.statementCount += 1;
        return statement.get(...params);
      },
      all: (...params) => {
        this.statementCount += 1;
        return statement.all(...params);
      },
    };
  }

  private exec(text: string): void {
    this.statementCount += 1;
    this.db.exec(text);
  }

  /** Statements executed so far (`roundTrips` equals `statements`: each is a call into SQLite). For the round-trip benchmark. */
  roundTrips(): { statements: number; roundTrips: number } {
    return { statements: this.statementCount, roundTrips: this.statementCount };
  }

  private transaction<T>(fn: () => T): T {
    this.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.exec("COMMIT");
      return result;
    } catch (error) {
      // After some errors (SQLITE_FULL among them) SQLite has already rolled back; a second
      // ROLLBACK would throw "no transaction is active" and hide the real error.
      if (this.db.isTransaction) this.exec("ROLLBACK");
      throw error;
    }
  }

  async migrate(): Promise<void> {
    migrate(this.db);
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    this.statements.clear();
    if (this.db.isOpen) this.db.close();
  }

  // ---- jobs -------------------------------------------------------------------------

  async insertJob(build: (draft: JobDraft) => void, job: Job): Promise<{ job: Job; created: boolean; events: BelayEvent[] }> {
    return this.transaction(() => this.insertOne(build, job));
  }

  /**
   * Insert many jobs in one transaction, all or none, with the same prepared statements as one
   * submit. A job whose owner already used its idempotency key (before, or earlier in `items`)
   * is not inserted: the job that has the key is returned with `created: false`.
   */
  async insertJobs(items: Array<{ build: (draft: JobDraft) => void; job: Job }>): Promise<Array<{ job: Job; created: boolean; events: BelayEvent[] }>> {
    if (items.length === 0) return [];
    return this.transaction(() => items.map((item) => this.insertOne(item.build, item.job)));
  }

  private insertOne(build: (draft: JobDraft) => void, job: Job): { job: Job; created: boolean; events: BelayEvent[] } {
    // In the insert's transaction (BEGIN IMMEDIATE: the cancel's too), so a cancel accepted
    // before it is seen, and one after it sees the child (DESIGN §7).
    if (job.parentJobId !== null) assertParentAccepts(job, this.ancestors(job.parentJobId));
    if (job.idempotencyKey !== null) {
      const row = this.sql("SELECT id FROM jobs WHERE owner = ? AND idempotency_key = ?").get(job.owner, job.idempotencyKey) as Row | undefined;
      if (row !== undefined) {
        const existing = this.loadJob(row["id"] as string);
        if (existing !== null) return { job: existing, created: false, events: [] };
      }
    }
    const draft = new JobDraft({ job, cancellations: [] }, job.createdAt);
    build(draft);
    const changes = draft.changes();
    const { queueDeadlineMs, runDeadlineMs } = jobDeadlines(job);
    const result = this.sql(
      `INSERT INTO jobs (id, name, queue, priority, owner, status, labels, params, progress, timeout_ms, queue_timeout_ms,
        grace_ms, fail_fast, attempt, idempotency_key, created_at, started_at, finished_at, cancellation, queue_deadline_ms, run_deadline_ms,
        parent_job_id, parent_task_key, on_parent_cancel, depth, submitter_role, schedule_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      job.id,
      job.name,
      job.queue,
      job.priority,
      job.owner,
      job.status,
      JSON.stringify(job.labels),
      JSON.stringify(job.params),
      JSON.stringify(job.progress),
      job.timeoutMs,
      job.queueTimeoutMs,
      job.graceMs,
      job.failFast ? 1 : 0,
      job.attempt,
      job.idempotencyKey,
      job.createdAt,
      job.startedAt,
      job.finishedAt,
      job.cancellation === null ? null : JSON.stringify(job.cancellation),
      queueDeadlineMs,
      runDeadlineMs,
      job.parentJobId,
      job.parentTaskKey,
      job.onParentCancel,
      job.depth,
      job.submitterRole,
      job.scheduleId ?? null,
    );
    const jobSeq = Number(result.lastInsertRowid);
    const insertTask = this.sql(
      `INSERT INTO tasks (job_id, key, idx, job_seq, priority, queue, status, ready, run_on, spec, attempt, retries_used,
        exit_code, error, output, progress, checkpoint, started_at, finished_at, node_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    job.tasks.forEach((t, idx) => {
      insertTask.run(
        job.id,
        t.key,
        idx,
        jobSeq,
        job.priority,
        job.queue,
        t.status,
        t.ready ? 1 : 0,
        t.runOn,
        JSON.stringify(t.spec),
        t.attempt,
        t.retriesUsed,
        t.exitCode,
        t.error,
        jsonText(t.output),
        t.progress === null ? null : JSON.stringify(t.progress),
        jsonText(t.checkpoint),
        t.startedAt,
        t.finishedAt,
        t.nodeId,
      );
    });
    const events = this.insertEvents(changes.events);
    return { job, created: true, events };
  }

  async getJob(id: string): Promise<Job | null> {
    return this.loadJob(id);
  }

  private loadJob(id: string): Job | null {
    const row = this.sql("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
    if (row === undefined) return null;
    return rowToJob(row, this.loadTasks(id));
  }

  private loadTasks(jobId: string): Task[] {
    return (this.sql("SELECT * FROM tasks WHERE job_id = ? ORDER BY idx").all(jobId) as Row[]).map(rowToTask);
  }

  private loadSnapshot(jobId: string): JobSnapshot {
    const job = this.loadJob(jobId);
    if (job === null) throw new BelayError("JOB_NOT_FOUND", `job ${jobId} not found`, { details: { jobId } });
    const cancellations = (this.sql("SELECT record FROM cancellations WHERE job_id = ? ORDER BY seq").all(jobId) as Row[]).map(
      rowToCancellation,
    );
    const children = (this.sql("SELECT id, status, on_parent_cancel, parent_task_key FROM jobs WHERE parent_job_id = ? ORDER BY seq").all(jobId) as Row[]).map(rowToChildRef);
    return { job, cancellations, children };
  }

  /** The job and its ancestors, nearest first (a parent's row is never deleted; a tree is at most a few deep). */
  private ancestors(jobId: string): AncestorRow[] {
    const chain: AncestorRow[] = [];
    let id: string | null = jobId;
    while (id !== null && chain.length <= 64) {
      const row = this.sql("SELECT id, status, on_parent_cancel, parent_job_id, depth FROM jobs WHERE id = ?").get(id) as Row | undefined;
      if (row === undefined) break;
      const ancestor = rowToAncestor(row);
      chain.push(ancestor);
      id = ancestor.parentJobId;
    }
    return chain;
  }

  async listJobs(filter: JobFilter, page: Page): Promise<JobPage> {
    const { where, params } = jobWhere(filter);
    if (page.cursor !== undefined && page.cursor !== null) {
      const seq = Number.parseInt(page.cursor, 10);
      if (!Number.isSafeInteger(seq)) throw new BelayError("INVALID_REQUEST", "cursor is not valid", { details: { field: "cursor" } });
      where.push("seq < ?");
      params.push(seq);
    }
    const rows = this.db
      .prepare(`SELECT * FROM jobs ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`)
      .all(...params, page.limit + 1) as Row[];
    const more = rows.length > page.limit;
    const items = rows.slice(0, page.limit).map((row) => rowToJob(row, this.loadTasks(row["id"] as string)));
    const last = rows[page.limit - 1];
    return { items, nextCursor: more && last !== undefined ? String(last["seq"]) : null };
  }

  async findJobIds(filter: JobFilter, limit: number): Promise<{ ids: string[]; total: number }> {
    const { where, params } = jobWhere(filter);
    where.push(`status NOT IN (${terminalList.map(() => "?").join(", ")})`);
    params.push(...terminalList);
    const clause = `WHERE ${where.join(" AND ")}`;
    const total = Number((this.db.prepare(`SELECT count(*) AS n FROM jobs ${clause}`).get(...params) as Row)["n"]);
    const ids = (this.db.prepare(`SELECT id FROM jobs ${clause} ORDER BY seq LIMIT ?`).all(...params, limit) as Row[]).map(
      (r) => r["id"] as string,
    );
    return { ids, total };
  }

  // ---- mutations ----------------------------------------------------------------------

  async mutateJob<T>(jobId: string, now: string, mutate: Mutator<T>): Promise<MutationResult<T>> {
    return this.transaction(() => this.mutateInTransaction(jobId, now, mutate));
  }

  private mutateInTransaction<T>(jobId: string, now: string, mutate: Mutator<T>): MutationResult<T> {
    const snapshot = this.loadSnapshot(jobId);
    const { value, changes } = applyMutator(snapshot, now, mutate);
    const events = this.writeChanges(changes);
    return { value, job: changes.job, events };
  }

  async mutateJobs<T>(jobIds: string[], now: string, mutate: Mutator<T>, options: BulkMutationOptions<T> = {}): Promise<Array<BulkResult<T>>> {
    const results: Array<BulkResult<T>> = [];
    for (let i = 0; i < jobIds.length; i += bulkChunk) {
      const chunk = jobIds.slice(i, i + bulkChunk);
      const chunkResults = this.transaction(() => {
        // The chunk is loaded with one statement per table, decided job by job in memory, and
        // written with one statement per table (writeChangeSet).
        const snapshots = this.loadSnapshots(chunk);
        const out: Array<BulkResult<T>> = [];
        const changeSet: JobChanges[] = [];
        const outcomes: Array<{ value: T; job: Job; at: number }> = [];
        for (const jobId of chunk) {
          // A mutator is pure and writes nothing until it returns, so a refusal of one job
          // (already finished, say) leaves the rest of the chunk's transaction intact.
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
        const written = this.writeChangeSet(changeSet);
        outcomes.forEach((o, k) => {
          out[o.at] = { value: o.value, job: o.job, events: written[k] ?? [] };
        });
        const record = options.progress?.(out);
        if (record !== undefined && record !== null) this.upsertCancellation(record);
        return out;
      });
      results.push(...chunkResults);
      options.afterChunk?.(chunkResults);
      // Let other work (runner exits, requests) through between chunks.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return results;
  }

  /** Snapshots of the jobs that exist among `jobIds`, by id: one statement per table. */
  private loadSnapshots(jobIds: string[]): Map<string, JobSnapshot> {
    const ids = JSON.stringify(jobIds);
    const tasksOf = new Map<string, Task[]>();
    for (const row of this.sql("SELECT * FROM tasks WHERE job_id IN (SELECT value FROM json_each(?)) ORDER BY job_id, idx").all(ids) as Row[]) {
      const jobId = row["job_id"] as string;
      let list = tasksOf.get(jobId);
      if (list === undefined) tasksOf.set(jobId, (list = []));
      list.push(rowToTask(row));
    }
    const recordsOf = new Map<string, CancellationRecord[]>();
    for (const row of this.sql("SELECT job_id, record FROM cancellations WHERE job_id IN (SELECT value FROM json_each(?)) ORDER BY seq").all(ids) as Row[]) {
      const jobId = row["job_id"] as string;
      let list = recordsOf.get(jobId);
      if (list === undefined) recordsOf.set(jobId, (list = []));
      list.push(rowToCancellation(row));
    }
    const out = new Map<string, JobSnapshot>();
    for (const row of this.sql("SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(?))").all(ids) as Row[]) {
      const id = row["id"] as string;
      out.set(id, { job: rowToJob(row, tasksOf.get(id) ?? []), cancellations: recordsOf.get(id) ?? [] });
    }
    return out;
  }

  /**
   * The writes of many drafts, set-based: one statement per table whatever the number of
   * jobs, each reading its rows from one JSON array parameter (values that are JSON documents
   * travel as strings, so their text is stored exactly as written). A job changed twice is
   * written as the last draft left it. Returns each draft's events, numbered.
   */
  private writeChangeSet(changeSet: JobChanges[]): BelayEvent[][] {
    const jobsById = new Map<string, Job>();
    const tasksByKey = new Map<string, { jobId: string; task: Task }>();
    const released = new Map<string, [string, string]>();
    const records = new Map<string, CancellationRecord>();
    for (const changes of changeSet) {
      const jobId = changes.job.id;
      if (changes.jobChanged) jobsById.set(jobId, changes.job);
      for (const task of changes.changedTasks) tasksByKey.set(`${jobId}\u0000${task.key}`, { jobId, task });
      for (const key of changes.releasedTasks) released.set(`${jobId}\u0000${key}`, [jobId, key]);
      for (const record of changes.cancellations) records.set(record.id, record);
    }
    if (jobsById.size > 0) {
      const rows = [...jobsById.values()].map((job) => {
        const { queueDeadlineMs, runDeadlineMs } = jobDeadlines(job);
        return [
          job.id, job.status, JSON.stringify(job.progress), job.attempt, job.startedAt, job.finishedAt,
          job.cancellation === null ? null : JSON.stringify(job.cancellation), queueDeadlineMs, runDeadlineMs,
        ];
      });
      this.sql(
        `UPDATE jobs SET status = u.value ->> 1, progress = u.value ->> 2, attempt = u.value ->> 3, started_at = u.value ->> 4,
           finished_at = u.value ->> 5, cancellation = u.value ->> 6, queue_deadline_ms = u.value ->> 7, run_deadline_ms = u.value ->> 8
         FROM json_each(?) AS u WHERE jobs.id = u.value ->> 0`,
      ).run(JSON.stringify(rows));
    }
    if (tasksByKey.size > 0) {
      const rows = [...tasksByKey.values()].map(({ jobId, task: t }) => [
        jobId, t.key, t.status, t.ready ? 1 : 0, t.attempt, t.retriesUsed, t.exitCode, t.error, jsonText(t.output),
        t.progress === null ? null : JSON.stringify(t.progress), jsonText(t.checkpoint), t.startedAt, t.finishedAt, t.nodeId,
      ]);
      this.sql(
        `UPDATE tasks SET status = u.value ->> 2, ready = u.value ->> 3, attempt = u.value ->> 4, retries_used = u.value ->> 5,
           exit_code = u.value ->> 6, error = u.value ->> 7, output = u.value ->> 8, progress = u.value ->> 9, checkpoint = u.value ->> 10,
           started_at = u.value ->> 11, finished_at = u.value ->> 12, node_id = u.value ->> 13
         FROM json_each(?) AS u WHERE tasks.job_id = u.value ->> 0 AND tasks.key = u.value ->> 1`,
      ).run(JSON.stringify(rows));
    }
    if (released.size > 0) {
      this.sql("DELETE FROM pool_leases WHERE (job_id, task_key) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))").run(JSON.stringify([...released.values()]));
    }
    if (records.size > 0) {
      const rows = [...records.values()].map((r) => [r.id, r.jobId, r.taskKey, r.scope, r.parentId, r.status, r.idempotencyKey, r.requestedAt, JSON.stringify(r)]);
      this.sql(
        `INSERT INTO cancellations (id, job_id, task_key, scope, parent_id, status, idempotency_key, requested_at, record)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8
         FROM json_each(?) WHERE true ORDER BY key
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record`,
      ).run(JSON.stringify(rows));
    }
    const all = changeSet.flatMap((c) => c.events);
    if (all.length === 0) return changeSet.map(() => []);
    const seqs = (this.sql(
      `INSERT INTO events (job_id, task_key, type, time, data)
       SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) WHERE true ORDER BY key
       RETURNING seq`,
    ).all(JSON.stringify(all.map((e) => [e.jobId, e.taskKey, e.type, e.time, JSON.stringify(e.data)]))) as Row[])
      .map((r) => Number(r["seq"]))
      .sort((a, b) => a - b);
    let next = 0;
    return changeSet.map((c) => c.events.map((e) => toBelayEvent(seqs[next++] ?? 0, e)));
  }

  private writeChanges(changes: JobChanges): BelayEvent[] {
    const job = changes.job;
    if (changes.jobChanged) {
      const { queueDeadlineMs, runDeadlineMs } = jobDeadlines(job);
      this.sql(
        `UPDATE jobs SET status = ?, progress = ?, attempt = ?, started_at = ?, finished_at = ?, cancellation = ?,
           queue_deadline_ms = ?, run_deadline_ms = ? WHERE id = ?`,
      ).run(
        job.status,
        JSON.stringify(job.progress),
        job.attempt,
        job.startedAt,
        job.finishedAt,
        job.cancellation === null ? null : JSON.stringify(job.cancellation),
        queueDeadlineMs,
        runDeadlineMs,
        job.id,
      );
    }
    const updateTask = changes.changedTasks.length > 0
      ? this.sql(
          `UPDATE tasks SET status = ?, ready = ?, attempt = ?, retries_used = ?, exit_code = ?, error = ?, output = ?, progress = ?,
             checkpoint = ?, started_at = ?, finished_at = ?, node_id = ? WHERE job_id = ? AND key = ?`,
        )
      : undefined;
    for (const t of changes.changedTasks) {
      updateTask?.run(
        t.status,
        t.ready ? 1 : 0,
        t.attempt,
        t.retriesUsed,
        t.exitCode,
        t.error,
        jsonText(t.output),
        t.progress === null ? null : JSON.stringify(t.progress),
        jsonText(t.checkpoint),
        t.startedAt,
        t.finishedAt,
        t.nodeId,
        job.id,
        t.key,
      );
    }
    for (const key of changes.releasedTasks) {
      this.sql("DELETE FROM pool_leases WHERE job_id = ? AND task_key = ?").run(job.id, key);
    }
    for (const record of changes.cancellations) this.upsertCancellation(record);
    return this.insertEvents(changes.events);
  }

  private insertEvents(events: NewEvent[]): BelayEvent[] {
    if (events.length === 0) return [];
    const insert = this.sql("INSERT INTO events (job_id, task_key, type, time, data) VALUES (?, ?, ?, ?, ?)");
    // Built from the event in hand: re-reading (or re-parsing) what was just written costs on every write.
    return events.map((e) => toBelayEvent(Number(insert.run(e.jobId, e.taskKey, e.type, e.time, JSON.stringify(e.data)).lastInsertRowid), e));
  }

  private upsertCancellation(record: CancellationRecord): void {
    this.sql(
      `INSERT INTO cancellations (id, job_id, task_key, scope, parent_id, status, idempotency_key, requested_at, record)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record`,
    ).run(
      record.id,
      record.jobId,
      record.taskKey,
      record.scope,
      record.parentId,
      record.status,
      record.idempotencyKey,
      record.requestedAt,
      JSON.stringify(record),
    );
  }

  // ---- claims and pools ---------------------------------------------------------------------

  async claimTasks<T>(options: ClaimOptions, claim: (draft: JobDraft, taskKey: string) => T | null): Promise<Array<ClaimedTask<T>>> {
    if (options.max <= 0) return [];
    return this.transaction(() => {
      const queueFilter = options.queues !== undefined && options.queues.length > 0
        ? `AND queue IN (${options.queues.map(() => "?").join(", ")})`
        : "";
      // Read more candidates than needed: some may wait for a full pool.
      const candidates = this.sql(
        // A paused queue's tasks are passed over here, in the claim's own transaction (DESIGN §7).
        `SELECT job_id, key, spec FROM tasks WHERE status = 'pending' AND ready = 1 ${queueFilter}
           AND NOT EXISTS (SELECT 1 FROM paused_queues p WHERE p.queue = tasks.queue)
         ORDER BY priority DESC, job_seq, idx LIMIT ?`,
      ).all(...(options.queues ?? []), options.max * 4 + 16) as Row[];
      const claimed: Array<ClaimedTask<T>> = [];
      const poolUse = new Map<string, number>();
      for (const row of candidates) {
        if (claimed.length >= options.max) break;
        const uses = (JSON.parse(row["spec"] as string) as { uses: string[] }).uses;
        if (!this.poolsHaveRoom(uses, options.pools, poolUse)) continue;
        const jobId = row["job_id"] as string;
        const key = row["key"] as string;
        const result = this.mutateInTransaction(jobId, options.now, (draft) => claim(draft, key));
        if (result.value === null) continue;
        for (const pool of uses) {
          this.sql("INSERT INTO pool_leases (pool, job_id, task_key) VALUES (?, ?, ?)").run(pool, jobId, key);
          poolUse.set(pool, (poolUse.get(pool) ?? 0) + 1);
        }
        claimed.push({ jobId, taskKey: key, value: result.value, job: result.job, events: result.events });
      }
      return claimed;
    });
  }

  private poolsHaveRoom(uses: string[], capacities: Record<string, number>, poolUse: Map<string, number>): boolean {
    for (const pool of uses) {
      const capacity = capacities[pool];
      // An unknown pool has no slots: the task waits until the server is configured with it.
      if (capacity === undefined) return false;
      if (!poolUse.has(pool)) {
        poolUse.set(pool, Number((this.sql("SELECT count(*) AS n FROM pool_leases WHERE pool = ?").get(pool) as Row)["n"]));
      }
      if ((poolUse.get(pool) ?? 0) >= capacity) return false;
    }
    return true;
  }

  async poolHolders(): Promise<Record<string, string[]>> {
    const holders: Record<string, string[]> = {};
    for (const row of this.sql("SELECT pool, job_id, task_key FROM pool_leases ORDER BY pool").all() as Row[]) {
      (holders[row["pool"] as string] ??= []).push(`${row["job_id"] as string}/${row["task_key"] as string}`);
    }
    return holders;
  }

  // ---- runners and logs ---------------------------------------------------------------

  async insertRunner(r: RunnerRecord): Promise<void> {
    this.sql(
      `INSERT OR REPLACE INTO runners (job_id, task_key, attempt, kind, node_id, pid, pid_start_time, remote_id, work_dir, started_at, ended_at, exit_code, outcome)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.jobId, r.taskKey, r.attempt, r.kind, r.nodeId, r.pid, r.pidStartTime, r.remoteId, r.workDir, r.startedAt, r.endedAt, r.exitCode, r.outcome);
  }

  async endRunner(jobId: string, taskKey: string, attempt: number, end: { endedAt: string; exitCode: number | null; outcome: string }): Promise<void> {
    this.sql("UPDATE runners SET ended_at = ?, exit_code = ?, outcome = ? WHERE job_id = ? AND task_key = ? AND attempt = ?").run(
      end.endedAt,
      end.exitCode,
      end.outcome,
      jobId,
      taskKey,
      attempt,
    );
  }

  async liveRunners(nodeId?: string): Promise<RunnerRecord[]> {
    const rows = nodeId === undefined
      ? this.sql("SELECT * FROM runners WHERE ended_at IS NULL").all()
      : this.sql("SELECT * FROM runners WHERE ended_at IS NULL AND node_id = ?").all(nodeId);
    return (rows as Row[]).map(rowToRunner);
  }

  async jobRunners(jobId: string): Promise<RunnerRecord[]> {
    return (this.sql("SELECT * FROM runners WHERE job_id = ? ORDER BY started_at, task_key, attempt").all(jobId) as Row[]).map(rowToRunner);
  }

  async appendLogs(lines: NewLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    this.transaction(() => {
      const insert = this.sql("INSERT INTO task_logs (job_id, task_key, attempt, stream, line, time) VALUES (?, ?, ?, ?, ?, ?)");
      for (const l of lines) insert.run(l.jobId, l.taskKey, l.attempt, l.stream, l.line, l.time);
    });
  }

  async getLogs(jobId: string, options: { taskKey?: string; afterSeq?: number; limit?: number; tail?: number }): Promise<LogLine[]> {
    const where = ["job_id = ?"];
    const params: Array<string | number> = [jobId];
    if (options.taskKey !== undefined) {
      where.push("task_key = ?");
      params.push(options.taskKey);
    }
    if (options.afterSeq !== undefined) {
      where.push("seq > ?");
      params.push(options.afterSeq);
    }
    const clause = where.join(" AND ");
    if (options.tail !== undefined) {
      const rows = this.db.prepare(`SELECT * FROM task_logs WHERE ${clause} ORDER BY seq DESC LIMIT ?`).all(...params, options.tail) as Row[];
      return rows.reverse().map(rowToLog);
    }
    const rows = this.db.prepare(`SELECT * FROM task_logs WHERE ${clause} ORDER BY seq LIMIT ?`).all(...params, options.limit ?? 10_000) as Row[];
    return rows.map(rowToLog);
  }

  // ---- events -------------------------------------------------------------------------

  async jobEvents(jobId: string, afterSeq: number, limit: number): Promise<BelayEvent[]> {
    return (this.sql("SELECT * FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?").all(jobId, afterSeq, limit) as Row[]).map(rowToEvent);
  }

  async eventsAfter(afterSeq: number, limit: number): Promise<BelayEvent[]> {
    return (this.sql("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?").all(afterSeq, limit) as Row[]).map(rowToEvent);
  }

  // ---- cancellations -------------------------------------------------------------------

  async getCancellation(id: string): Promise<CancellationRecord | null> {
    const row = this.sql("SELECT record FROM cancellations WHERE id = ?").get(id) as Row | undefined;
    return row === undefined ? null : rowToCancellation(row);
  }

  async getCancellationByIdempotencyKey(key: string): Promise<CancellationRecord | null> {
    const row = this.sql("SELECT record FROM cancellations WHERE idempotency_key = ?").get(key) as Row | undefined;
    return row === undefined ? null : rowToCancellation(row);
  }

  async listCancellations(filter: CancellationFilter, page: { limit: number; offset: number }): Promise<{ items: CancellationRecord[]; total: number }> {
    const { where, params } = equalities([
      ["job_id", filter.jobId],
      ["status", filter.status],
      ["parent_id", filter.parentId],
    ]);
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const total = Number((this.db.prepare(`SELECT count(*) AS n FROM cancellations ${clause}`).get(...params) as Row)["n"]);
    const rows = this.db.prepare(`SELECT record FROM cancellations ${clause} ORDER BY seq DESC LIMIT ? OFFSET ?`).all(...params, page.limit, page.offset) as Row[];
    return { items: rows.map(rowToCancellation), total };
  }

  async insertCancellation(record: CancellationRecord): Promise<void> {
    this.transaction(() => this.upsertCancellation(record));
  }

  async updateCancellation(record: CancellationRecord): Promise<void> {
    this.transaction(() => this.upsertCancellation(record));
  }

  async openCancellations(): Promise<CancellationRecord[]> {
    return (this.sql("SELECT record FROM cancellations WHERE status = 'in_progress' ORDER BY seq").all() as Row[]).map(rowToCancellation);
  }

  // ---- sweeps ---------------------------------------------------------------------------

  async expiredJobs(nowMs: number, limit: number): Promise<ExpiredJob[]> {
    // INDEXED BY: left to itself the planner picks jobs_status and scans every queued job
    // (26-35 ms with 100,000 queued, every poll); the partial deadline indexes make it a range read.
    const queued = this.sql(
      "SELECT id FROM jobs INDEXED BY jobs_queue_deadline WHERE status = 'queued' AND queue_deadline_ms IS NOT NULL AND queue_deadline_ms <= ? LIMIT ?",
    ).all(nowMs, limit) as Row[];
    const running = this.sql(
      "SELECT id FROM jobs INDEXED BY jobs_run_deadline WHERE status = 'running' AND run_deadline_ms IS NOT NULL AND run_deadline_ms <= ? LIMIT ?",
    ).all(nowMs, limit) as Row[];
    return [
      ...queued.map((r): ExpiredJob => ({ jobId: r["id"] as string, kind: "queue_timeout" })),
      ...running.map((r): ExpiredJob => ({ jobId: r["id"] as string, kind: "timeout" })),
    ];
  }

  async setStallDeadline(jobId: string, taskKey: string, attempt: number, deadlineMs: number): Promise<void> {
    this.sql(
      `UPDATE tasks SET
         stall_deadline_ms = CASE WHEN stall_attempt = ?3 THEN MAX(stall_deadline_ms, ?4) ELSE ?4 END,
         stall_attempt = ?3
       WHERE job_id = ?1 AND key = ?2 AND attempt = ?3 AND status = 'running'`,
    ).run(jobId, taskKey, attempt, deadlineMs);
  }

  async stalledTasks(nowMs: number, limit: number): Promise<StalledTask[]> {
    const found = this.sql(
      `SELECT job_id, key FROM tasks INDEXED BY tasks_stall_deadline
       WHERE status = 'running' AND stall_deadline_ms IS NOT NULL AND stall_deadline_ms <= ? AND stall_attempt = attempt LIMIT ?`,
    ).all(nowMs, limit) as Row[];
    return found.map((r) => ({ jobId: r["job_id"] as string, taskKey: r["key"] as string }));
  }

  async activeTasks(nodeId?: string): Promise<ActiveTask[]> {
    const rows = nodeId === undefined
      ? (this.sql("SELECT job_id, key, attempt, status, node_id FROM tasks WHERE status IN ('running', 'cancelling')").all() as Row[])
      : (this.sql("SELECT job_id, key, attempt, status, node_id FROM tasks WHERE node_id = ? AND status IN ('running', 'cancelling')").all(nodeId) as Row[]);
    return rows.map(rowToActiveTask);
  }

  async maxEventSeq(): Promise<number> {
    return Number((this.sql("SELECT coalesce(max(seq), 0) AS seq FROM events").get() as Row)["seq"]);
  }

  // ---- nodes ------------------------------------------------------------------------------

  async registerNode(n: NodeRecord): Promise<void> {
    this.sql(
      `INSERT INTO nodes (id, hostname, pid, pid_start_time, role, started_at, heartbeat_ms, lease_ms, stopped_at, dead_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)
       ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, lease_ms = excluded.lease_ms, stopped_at = NULL, dead_at = NULL`,
    ).run(n.id, n.hostname, n.pid, n.pidStartTime, n.role, n.startedAt, n.heartbeatMs, n.leaseMs);
  }

  async heartbeat(nodeId: string, nowMs: number): Promise<boolean> {
    return this.sql("UPDATE nodes SET heartbeat_ms = ? WHERE id = ? AND dead_at IS NULL").run(nowMs, nodeId).changes > 0;
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (this.sql("SELECT * FROM nodes ORDER BY started_at").all() as Row[]).map(rowToNode);
  }

  async expiredNodes(nowMs: number): Promise<NodeRecord[]> {
    return (this.sql("SELECT * FROM nodes WHERE stopped_at IS NULL AND dead_at IS NULL AND heartbeat_ms + lease_ms < ?").all(nowMs) as Row[]).map(rowToNode);
  }

  async markNodeDead(nodeId: string, at: string): Promise<boolean> {
    return this.sql("UPDATE nodes SET dead_at = ? WHERE id = ? AND dead_at IS NULL AND stopped_at IS NULL").run(at, nodeId).changes > 0;
  }

  async markNodeStopped(nodeId: string, at: string): Promise<void> {
    this.sql("UPDATE nodes SET stopped_at = ? WHERE id = ? AND dead_at IS NULL").run(at, nodeId);
  }

  // ---- schedules and queues (DESIGN §7; src/store/sqlite/schedules.ts) ----

  private readonly schedules = new SqliteSchedules((text) => this.sql(text));

  async insertSchedule(schedule: StoredSchedule): Promise<void> {
    this.transaction(() => this.schedules.insert(schedule));
  }

  async getSchedule(idOrName: string, owner?: string): Promise<StoredSchedule | null> {
    return this.schedules.get(idOrName, owner);
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    return this.schedules.list();
  }

  async setSchedulePaused(id: string, paused: { by: string; at: string } | null, nextRunMs: number | null, now: string): Promise<boolean> {
    return this.schedules.setPaused(id, paused, nextRunMs, now);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return this.schedules.delete(id);
  }

  async dueSchedules(nowMs: number, limit: number): Promise<StoredSchedule[]> {
    return this.schedules.due(nowMs, limit);
  }

  async claimScheduleFiring(id: string, expectedMs: number, nextRunMs: number | null, now: string): Promise<boolean> {
    return this.schedules.claimFiring(id, expectedMs, nextRunMs, now);
  }

  async recordScheduleRun(id: string, run: ScheduleRun): Promise<void> {
    this.schedules.recordRun(id, run);
  }

  async pauseQueue(pause: QueuePause): Promise<boolean> {
    return this.schedules.pauseQueue(pause);
  }

  async resumeQueue(queue: string): Promise<boolean> {
    return this.schedules.resumeQueue(queue);
  }

  async listQueuePauses(): Promise<QueuePause[]> {
    return this.schedules.queuePauses();
  }

  async queueCounts(): Promise<Record<string, { pending: number; running: number }>> {
    return this.schedules.queueCounts();
  }

  async countJobs(): Promise<Record<JobStatus, number>> {
    const counts = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const row of this.sql("SELECT status, count(*) AS n FROM jobs GROUP BY status").all() as Row[]) {
      counts[row["status"] as JobStatus] = Number(row["n"]);
    }
    return counts;
  }

  // ---- tokens -------------------------------------------------------------------------

  async insertToken(token: TokenRecord, hash: string): Promise<void> {
    this.sql("INSERT INTO tokens (id, name, principal, role, hash, created_at, last_used_at, revoked_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
      token.id,
      token.name,
      token.principal,
      token.role,
      hash,
      token.createdAt,
      token.lastUsedAt,
      token.revokedAt,
      token.expiresAt,
    );
  }

  async findToken(hash: string): Promise<TokenRecord | null> {
    const row = this.sql("SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL").get(hash) as Row | undefined;
    return row === undefined ? null : rowToToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (this.sql("SELECT * FROM tokens ORDER BY created_at, id").all() as Row[]).map(rowToToken);
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    const result = this.sql("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?").run(at, id);
    return Number(result.changes) > 0;
  }

  async touchToken(id: string, at: string, notBefore: string): Promise<void> {
    this.sql("UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)").run(at, id, notBefore);
  }

  async countTokens(): Promise<number> {
    return Number((this.sql("SELECT count(*) AS n FROM tokens").get() as Row)["n"]);
  }

  // ---- webhooks -------------------------------------------------------------------------

  async insertWebhook(hook: WebhookRecord): Promise<void> {
    this.sql("INSERT INTO webhooks (id, url, event_types, secret, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
      hook.id,
      hook.url,
      JSON.stringify(hook.eventTypes),
      hook.secret,
      hook.createdBy,
      hook.createdAt,
    );
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    return (this.sql("SELECT * FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id").all() as Row[]).map((row) => ({
      id: row["id"] as string,
      url: row["url"] as string,
      eventTypes: JSON.parse(row["event_types"] as string) as string[],
      secret: row["secret"] as string,
      createdBy: row["created_by"] as string,
      createdAt: row["created_at"] as string,
    }));
  }

  async deleteWebhook(id: string, at: string): Promise<boolean> {
    const result = this.sql("UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").run(at, id);
    return Number(result.changes) > 0;
  }

  async enqueueDelivery(webhookId: string, event: BelayEvent, nowMs: number, now: string): Promise<void> {
    this.sql(
      `INSERT INTO webhook_deliveries (webhook_id, event_seq, event, status, attempts, next_attempt_ms, created_at)
       VALUES (?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (webhook_id, event_seq) DO NOTHING`,
    ).run(webhookId, event.seq, JSON.stringify(event), nowMs, now);
  }

  async claimDueDeliveries(nowMs: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    return this.transaction(() => {
      const due = (this.sql("SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms, seq LIMIT ?").all(nowMs, limit) as Row[]).map(rowToDelivery);
      const claim = this.sql("UPDATE webhook_deliveries SET next_attempt_ms = ? WHERE seq = ?");
      for (const d of due) claim.run(nowMs + leaseMs, d.seq);
      return due;
    });
  }

  async updateDelivery(d: WebhookDelivery): Promise<void> {
    this.sql(
      "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_ms = ?, last_status_code = ?, last_error = ?, delivered_at = ? WHERE seq = ?",
    ).run(d.status, d.attempts, d.nextAttemptMs, d.lastStatusCode, d.lastError, d.deliveredAt, d.seq);
  }

  async listDeliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]> {
    return (this.sql("SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?").all(webhookId, limit) as Row[]).map(rowToDelivery);
  }
}

/** `column = ?` conditions for the filter fields that are set. */
function equalities(pairs: Array<[string, string | undefined]>): { where: string[]; params: string[] } {
  const set = pairs.filter((pair): pair is [string, string] => pair[1] !== undefined);
  return { where: set.map(([column]) => `${column} = ?`), params: set.map(([, value]) => value) };
}

function jobWhere(filter: JobFilter): { where: string[]; params: Array<string | number> } {
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (filter.ids !== undefined) {
    where.push(`id IN (${filter.ids.map(() => "?").join(", ") || "NULL"})`);
    params.push(...filter.ids);
  }
  if (filter.status !== undefined && filter.status.length > 0) {
    where.push(`status IN (${filter.status.map(() => "?").join(", ")})`);
    params.push(...filter.status);
  }
  const equal = equalities([
    ["queue", filter.queue],
    ["owner", filter.owner],
    ["schedule_id", filter.scheduleId],
  ]);
  where.push(...equal.where);
  params.push(...equal.params);
  if (filter.parentJobId !== undefined) {
    where.push("parent_job_id = ?");
    params.push(filter.parentJobId);
  }
  if (filter.createdBefore !== undefined) {
    where.push("created_at < ?");
    params.push(filter.createdBefore);
  }
  if (filter.idPrefix !== undefined) {
    // A range on the primary key ('~' sorts after every character of an id).
    where.push("id >= ? AND id < ?");
    params.push(filter.idPrefix, `${filter.idPrefix}~`);
  }
  if (filter.createdAfter !== undefined) {
    where.push("created_at >= ?");
    params.push(filter.createdAfter);
  }
  if (filter.nameContains !== undefined) {
    // instr, not LIKE: % and _ in what a person types are plain characters.
    where.push("instr(lower(name), lower(?)) > 0");
    params.push(filter.nameContains);
  }
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    where.push("json_extract(labels, ?) = ?");
    params.push(`$."${key.replaceAll('"', '""')}"`, value);
  }
  return { where, params };
}

function rowToToken(row: Row): TokenRecord {
  return {
    id: row["id"] as string,
    name: row["name"] as string,
    principal: row["principal"] as string,
    role: row["role"] as Role,
    createdAt: row["created_at"] as string,
    lastUsedAt: (row["last_used_at"] as string | null) ?? null,
    revokedAt: (row["revoked_at"] as string | null) ?? null,
    expiresAt: (row["expires_at"] as string | null) ?? null,
  };
}

function rowToDelivery(row: Row): WebhookDelivery {
  return {
    seq: Number(row["seq"]),
    webhookId: row["webhook_id"] as string,
    eventSeq: Number(row["event_seq"]),
    event: JSON.parse(row["event"] as string) as BelayEvent,
    status: row["status"] as WebhookDelivery["status"],
    attempts: Number(row["attempts"]),
    nextAttemptMs: row["next_attempt_ms"] === null ? null : Number(row["next_attempt_ms"]),
    lastStatusCode: row["last_status_code"] === null ? null : Number(row["last_status_code"]),
    lastError: (row["last_error"] as string | null) ?? null,
    createdAt: row["created_at"] as string,
    deliveredAt: (row["delivered_at"] as string | null) ?? null,
  };
}
