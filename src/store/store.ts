/**
 * The one seam between Belay and its databases. The engine never touches SQL; each dialect
 * (`sqlite/`, later `postgres/`) implements this interface and passes one conformance suite.
 *
 * Concurrency contract: every method that changes state is one transaction. State changes
 * go through `mutateJob`, which hands the pure rules of `src/core` a snapshot of the job
 * loaded *inside* the transaction (row-locked where the dialect has row locks) and writes
 * the draft's changes before committing. Two mutations of one job are therefore
 * serialised: the store decides every race (claim vs. cancel, exit vs. signal), and
 * whichever transaction commits first wins.
 */
import type { JobChanges, JobSnapshot } from "../core/draft.ts";
import { JobDraft } from "../core/draft.ts";
import type { BelayEvent, CancellationRecord, CancellationStatus, Job, LogLine } from "../core/model.ts";
import type { Schedule } from "../core/schedules.ts";
import type { JobStatus } from "../core/states.ts";

export interface JobFilter {
  ids?: string[];
  status?: JobStatus[];
  queue?: string;
  /** Every label must match. */
  labels?: Record<string, string>;
  owner?: string;
  /** ISO time: only jobs created strictly before. */
  createdBefore?: string;
  /** Only jobs whose id starts with this (lower-case hex and dashes): how the CLI takes `0190a7` for a whole id. */
  idPrefix?: string;
  /** ISO time: only jobs created at or after. */
  createdAfter?: string;
  /** Case-insensitive substring of the job's name. */
  nameContains?: string;
  /** Only jobs made by this schedule. */
  scheduleId?: string;
  /** Only the children of this job (DESIGN §7 `GET /jobs?parent=ID`). */
  parentJobId?: string;
}

export interface Page {
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string | null;
}

export interface JobPage {
  items: Job[];
  nextCursor: string | null;
}

export interface CancellationFilter {
  jobId?: string;
  status?: CancellationStatus;
  parentId?: string;
}

/** What a mutation returns: the value of the pure function, and the events written (numbered). */
export interface MutationResult<T> {
  value: T;
  job: Job;
  events: BelayEvent[];
}

export type Mutator<T> = (draft: JobDraft) => T;

/** One job's result in a bulk mutation: its mutation, or why it was refused. */
export type BulkResult<T> = MutationResult<T> | { error: unknown; jobId: string };

export interface BulkMutationOptions<T> {
  /**
   * Called inside each chunk's transaction once its jobs are mutated, with the chunk's
   * results: a record it returns (the bulk record with its progress) is written with the
   * chunk, so progress is visible as each chunk commits and never ahead of it. Pure and
   * synchronous, like a mutator.
   */
  progress?: (chunk: ReadonlyArray<BulkResult<T>>) => CancellationRecord | null;
  /** Called once each chunk has committed, with its results (publish its events, start its work). */
  afterChunk?: (chunk: ReadonlyArray<BulkResult<T>>) => void;
  /**
   * Give up on a chunk whose job rows are not all locked within this long (the chunk's
   * transaction then fails with a `LockNotGranted` store error and writes nothing), rather
   * than wait behind another transaction. PostgreSQL only (its `lock_timeout`); SQLite has one
   * writer at a time and ignores it.
   */
  lockWaitMs?: number;
}

/** A `mutateJobs` chunk that gave up waiting for a row lock (`lockWaitMs`): nothing of it was written. */
export function isLockNotGranted(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "55P03";
}

export interface ClaimOptions {
  nodeId: string;
  /** Claim at most this many tasks. */
  max: number;
  /** Only tasks of these queues (all queues when absent). */
  queues?: string[];
  /** Pool capacities; a task that uses a full pool is passed over. */
  pools: Record<string, number>;
  now: string;
}

export interface ClaimedTask<T> {
  jobId: string;
  taskKey: string;
  value: T;
  job: Job;
  events: BelayEvent[];
}

/** One runner (task attempt) as recorded for orphan detection and history. */
export interface RunnerRecord {
  jobId: string;
  taskKey: string;
  attempt: number;
  kind: string;
  nodeId: string;
  pid: number | null;
  pidStartTime: string | null;
  remoteId: string | null;
  workDir: string | null;
  startedAt: string;
  endedAt: string | null;
  exitCode: number | null;
  outcome: string | null;
}

export interface NewLogLine {
  jobId: string;
  taskKey: string;
  attempt: number;
  stream: LogLine["stream"];
  line: string;
  time: string;
}

export interface ExpiredJob {
  jobId: string;
  kind: "queue_timeout" | "timeout";
}

/** A running task past its stall deadline (DESIGN §7 stall watchdog). */
export interface StalledTask {
  jobId: string;
  taskKey: string;
}

/** A Belay process (serve, worker or library) using the store; its lease is renewed by heartbeats. */
export interface NodeRecord {
  id: string;
  hostname: string;
  pid: number;
  /** With `pid`, recognises the process even if its pid is reused (orphan killing). */
  pidStartTime: string | null;
  role: string;
  startedAt: string;
  /** Epoch ms of the last heartbeat; the lease ends at `heartbeatMs + leaseMs`. */
  heartbeatMs: number;
  leaseMs: number;
  /** Set by a clean shutdown. */
  stoppedAt: string | null;
  /** Set by the node that found the lease expired and recovered the node's tasks. */
  deadAt: string | null;
}

/** A task attempt that is `running` or `cancelling`, and the node running it. */
export interface ActiveTask {
  jobId: string;
  taskKey: string;
  attempt: number;
  status: "running" | "cancelling";
  nodeId: string | null;
}

/** What nodes tell each other (PostgreSQL NOTIFY). Delivery is best effort: each has a polling fallback. */
export type NodeMessage =
  /** A cancel of a job with tasks running on other nodes; `force` asks their owners to kill now. */
  | { type: "cancel"; jobId: string; recordId: string; force: boolean }
  /** New events were stored, up to `seq`. */
  | { type: "events"; seq: number }
  /** New work may be claimable (a submit, a resume, a freed dependency). */
  | { type: "work" };

export interface Notifier {
  publish(message: NodeMessage): Promise<void>;
  /**
   * Receive every node's messages (this node's own too). `onReconnect` runs after the
   * listening connection was lost and re-established: messages sent meanwhile are lost, so
   * the caller catches up by polling. Resolves once listening; returns the unsubscribe.
   */
  subscribe(listener: (message: NodeMessage) => void, onReconnect: () => void): Promise<() => Promise<void>>;
}

import type { Role } from "../core/policy.ts";
export type { Role };

export interface TokenRecord {
  id: string;
  name: string;
  /** Who the token acts as: jobs it submits are owned by this principal. */
  principal: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** When it stops working; null: never. */
  expiresAt: string | null;
}

export interface WebhookRecord {
  id: string;
  url: string;
  /** Event types delivered; empty means every type. */
  eventTypes: string[];
  secret: string;
  createdBy: string;
  createdAt: string;
}

export interface WebhookDelivery {
  seq: number;
  webhookId: string;
  eventSeq: number;
  event: BelayEvent;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  nextAttemptMs: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** A paused queue (DESIGN §7): its tasks are not claimed until it is resumed. */
export interface QueuePause {
  queue: string;
  pausedBy: string;
  pausedAt: string;
  reason: string | null;
}

/** A schedule as stored: its next firing as epoch ms, the value a firing's compare-and-set is on. */
export interface StoredSchedule extends Schedule {
  nextRunMs: number | null;
}

/** What a claimed firing writes beside moving the next firing. */
export interface ScheduleRun {
  lastRunAt: string;
  lastJobId: string | null;
  lastOutcome: Schedule["lastOutcome"];
  lastError: string | null;
}

export interface Store {
  /** Human description for logs, e.g. `sqlite:/home/me/.belay/belay.db`. */
  readonly description: string;

  /**
   * Whether several engines may use the store at once (PostgreSQL). A store that is not
   * shared has one engine (SQLite enforces it with a lock file), so every other node in it is dead.
   */
  readonly shared: boolean;

  /** Cross-node messages; null for a store one engine uses. */
  readonly notifier: Notifier | null;

  /** Apply pending migrations (numbered SQL files, recorded in a ledger). Idempotent. */
  migrate(): Promise<void>;

  close(): Promise<void>;

  /**
   * Insert a new job with its tasks and events in one transaction. When the job carries an
   * `idempotencyKey` already used by the same owner, nothing is written and the existing job is
   * returned with `created: false`.
   */
  insertJob(build: (draft: JobDraft) => void, job: Job): Promise<{ job: Job; created: boolean; events: BelayEvent[] }>;

  /**
   * `insertJob` for many jobs in one transaction, all or none (bulk submit). Results in the
   * order of `items`; a job whose key its owner already used — before, or earlier in `items`
   * — is the job that has the key, with `created: false`.
   */
  insertJobs(items: Array<{ build: (draft: JobDraft) => void; job: Job }>): Promise<Array<{ job: Job; created: boolean; events: BelayEvent[] }>>;

  /** A job with its tasks and latest cancellation summary, or null. */
  getJob(id: string): Promise<Job | null>;

  /** Jobs matching the filter, newest first, paginated by cursor. */
  listJobs(filter: JobFilter, page: Page): Promise<JobPage>;

  /** Ids of non-terminal jobs matching the filter (for bulk cancel), oldest first, at most `limit`. */
  findJobIds(filter: JobFilter, limit: number): Promise<{ ids: string[]; total: number }>;

  /**
   * Load the job inside a transaction, run `mutate` on its draft, write the draft's changes
   * and commit. `mutate` must be pure and synchronous; if it throws, nothing is written and
   * the error propagates. Throws JOB_NOT_FOUND for an unknown id.
   */
  mutateJob<T>(jobId: string, now: string, mutate: Mutator<T>): Promise<MutationResult<T>>;

  /**
   * `mutateJob` for many jobs in as few transactions as is efficient (bulk cancel): chunks,
   * each locked and loaded at once, decided job by job by `mutate` in memory, and written
   * set-based (one statement per table per chunk). The result for a job whose mutation threw
   * is that error; the others still commit.
   */
  mutateJobs<T>(jobIds: string[], now: string, mutate: Mutator<T>, options?: BulkMutationOptions<T>): Promise<Array<BulkResult<T>>>;

  /**
   * Claim up to `max` ready tasks, by job priority (higher first) then age, each claimed by
   * running `claim` on its job's draft in the same transaction as the selection. A task
   * whose `claim` returns null is not claimed.
   */
  claimTasks<T>(options: ClaimOptions, claim: (draft: JobDraft, taskKey: string) => T | null): Promise<Array<ClaimedTask<T>>>;

  /** Pool name → tasks currently holding a slot (`jobId/taskKey`). */
  poolHolders(): Promise<Record<string, string[]>>;

  /** Record a runner that has just started an attempt. */
  insertRunner(runner: RunnerRecord): Promise<void>;

  /** Record that a runner has exited. */
  endRunner(jobId: string, taskKey: string, attempt: number, end: { endedAt: string; exitCode: number | null; outcome: string }): Promise<void>;

  /** Runners that have not ended, optionally only those of one node. */
  liveRunners(nodeId?: string): Promise<RunnerRecord[]>;

  /** Runners of one job (history of attempts), oldest first. */
  jobRunners(jobId: string): Promise<RunnerRecord[]>;

  /** Append task log lines (one transaction). */
  appendLogs(lines: NewLogLine[]): Promise<void>;

  /** Log lines of a job, optionally of one task, after `afterSeq`, at most `limit`; `tail` takes the last lines instead. */
  getLogs(jobId: string, options: { taskKey?: string; afterSeq?: number; limit?: number; tail?: number }): Promise<LogLine[]>;

  /** A job's events after `afterSeq`, oldest first. */
  jobEvents(jobId: string, afterSeq: number, limit: number): Promise<BelayEvent[]>;

  /** Events of every job after `afterSeq` (live streams resuming from Last-Event-ID). */
  eventsAfter(afterSeq: number, limit: number): Promise<BelayEvent[]>;

  getCancellation(id: string): Promise<CancellationRecord | null>;

  /** A bulk record by its idempotency key. */
  getCancellationByIdempotencyKey(key: string): Promise<CancellationRecord | null>;

  /** Records newest first, with the total for offset pagination. */
  listCancellations(filter: CancellationFilter, page: { limit: number; offset: number }): Promise<{ items: CancellationRecord[]; total: number }>;

  /** Insert a record that belongs to no single job (bulk). */
  insertCancellation(record: CancellationRecord): Promise<void>;

  /** Replace a bulk record (progress, steps, status). Job and task records change only through `mutateJob`. */
  updateCancellation(record: CancellationRecord): Promise<void>;

  /** Records still `in_progress` (recovery finishes them). */
  openCancellations(): Promise<CancellationRecord[]>;

  /** Jobs past their `queueTimeoutMs` (still queued) or `timeoutMs` (still running). */
  expiredJobs(nowMs: number, limit: number): Promise<ExpiredJob[]>;

  /**
   * Move a running attempt's stall deadline to `deadlineMs` (never back, within one attempt);
   * a write for an attempt that is no longer the running one changes nothing.
   */
  setStallDeadline(jobId: string, taskKey: string, attempt: number, deadlineMs: number): Promise<void>;

  /** Running tasks whose stall deadline, written for their current attempt, is at or before `nowMs`. */
  stalledTasks(nowMs: number, limit: number): Promise<StalledTask[]>;

  /** Tasks `running` or `cancelling`, of one node, or of every node when `nodeId` is undefined. */
  activeTasks(nodeId?: string): Promise<ActiveTask[]>;

  /** The highest event seq stored (0 when none): where a node starts following other nodes' events. */
  maxEventSeq(): Promise<number>;

  // ---- nodes and leases ----

  /** Insert this node, or bring back a node of this id (clearing `stoppedAt` and `deadAt`). */
  registerNode(node: NodeRecord): Promise<void>;
  /** Renew the lease. False if the node was declared dead meanwhile (its tasks were recovered). */
  heartbeat(nodeId: string, nowMs: number): Promise<boolean>;
  listNodes(): Promise<NodeRecord[]>;
  /** Nodes neither stopped nor dead whose lease ended before `nowMs`. */
  expiredNodes(nowMs: number): Promise<NodeRecord[]>;
  /** Declare a node dead; true only for the one caller that did it (that caller recovers its tasks). */
  markNodeDead(nodeId: string, at: string): Promise<boolean>;
  /** A clean shutdown. */
  markNodeStopped(nodeId: string, at: string): Promise<void>;

  // ---- schedules and queues (DESIGN §7) ----

  /** Insert a schedule; SCHEDULE_NAME_TAKEN when its owner already has one of that name. */
  insertSchedule(schedule: StoredSchedule): Promise<void>;
  /** A schedule by id, or by (owner, name) when `owner` is given and no id matches. */
  getSchedule(idOrName: string, owner?: string): Promise<StoredSchedule | null>;
  /** Every schedule, by name then id. */
  listSchedules(): Promise<StoredSchedule[]>;
  /** Pause (next firing cleared) or resume (next firing set); false for an unknown id. */
  setSchedulePaused(id: string, paused: { by: string; at: string } | null, nextRunMs: number | null, now: string): Promise<boolean>;
  /** Returns false for an unknown id. */
  deleteSchedule(id: string): Promise<boolean>;
  /** Schedules not paused whose next firing is at or before `nowMs`, soonest first. */
  dueSchedules(nowMs: number, limit: number): Promise<StoredSchedule[]>;
  /**
   * Claim one firing: move the next firing from `expectedMs` to `nextRunMs`, only if it is
   * still `expectedMs` and the schedule is not paused (a compare-and-set in one statement).
   * True for the one node that moved it: that node fires; every other node sees false.
   */
  claimScheduleFiring(id: string, expectedMs: number, nextRunMs: number | null, now: string): Promise<boolean>;
  /** Record how a firing went (after the job was submitted, skipped or refused). */
  recordScheduleRun(id: string, run: ScheduleRun): Promise<void>;
  /** Pause a queue (idempotent: a paused queue keeps its first pause). True if it was not paused. */
  pauseQueue(pause: QueuePause): Promise<boolean>;
  /** True if the queue was paused. */
  resumeQueue(queue: string): Promise<boolean>;
  listQueuePauses(): Promise<QueuePause[]>;
  /** Queue → tasks waiting in it (pending) and running in it (running or cancelling). */
  queueCounts(): Promise<Record<string, { pending: number; running: number }>>;

  /** Count of jobs by status. */
  countJobs(): Promise<Record<JobStatus, number>>;

  // ---- tokens (only a hash of the secret is stored) ----

  insertToken(token: TokenRecord, hash: string): Promise<void>;
  /** The token with this hash, unless revoked (an expired one is returned: the caller says why it is refused). */
  findToken(hash: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  /** Returns false for an unknown id. */
  revokeToken(id: string, at: string): Promise<boolean>;
  /**
   * Record a use of the token: sets `lastUsedAt` to `at` unless it is already later than
   * `notBefore`, so a token used many times a minute costs one write a minute.
   */
  touchToken(id: string, at: string, notBefore: string): Promise<void>;
  countTokens(): Promise<number>;

  // ---- webhooks ----

  insertWebhook(hook: WebhookRecord): Promise<void>;
  /** Webhooks not deleted. */
  listWebhooks(): Promise<WebhookRecord[]>;
  /** Returns false for an unknown id. */
  deleteWebhook(id: string, at: string): Promise<boolean>;
  /** Queue a delivery of an event to a webhook (ignored if already queued). */
  enqueueDelivery(webhookId: string, event: BelayEvent, nowMs: number, now: string): Promise<void>;
  /**
   * Claim pending deliveries whose next attempt is due, for `leaseMs`: their next attempt is
   * moved to `nowMs + leaseMs`, so another server sharing the store does not send them too
   * (one that dies mid-send lets the lease run out: at-least-once). Returned with the due
   * time they had, oldest due first.
   */
  claimDueDeliveries(nowMs: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]>;
  updateDelivery(delivery: WebhookDelivery): Promise<void>;
  /** A webhook's deliveries, newest first. */
  listDeliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]>;
}

/** Run a mutator against a snapshot and collect its changes; shared by every dialect. */
export function applyMutator<T>(snapshot: JobSnapshot, now: string, mutate: Mutator<T>): { value: T; changes: JobChanges } {
  const draft = new JobDraft(snapshot, now);
  const value = mutate(draft);
  return { value, changes: draft.changes() };
}

/**
 * The snapshot a job has after `changes` (its records replaced or added by id): where a second
 * mutation of the same job in one transaction starts (a job named twice in a bulk, a second
 * task of one job claimed).
 */
export function nextSnapshot(before: JobSnapshot, changes: JobChanges): JobSnapshot {
  const records = new Map(before.cancellations.map((r) => [r.id, r]));
  for (const record of changes.cancellations) records.set(record.id, record);
  return { job: changes.job, cancellations: [...records.values()] };
}
