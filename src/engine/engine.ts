/**
 * The Belay engine: the library API of DESIGN §5 (`openBelay` returns one). It reads the
 * store and delegates every change: jobs to the job writer, claims to the scheduler, cancels
 * to the cancel requests (docs/architecture.md names each part).
 */
import type { Logger } from "pino";
import { BelayError } from "../core/errors.ts";
import { resumeJob } from "../core/lifecycle.ts";
import type { BelayEvent, CancellationRecord, EventType, Job, JobSpec, LogLine } from "../core/model.ts";
import type { BulkCancelOptions, CancelJobOptions, CancelTaskOptions } from "../core/requests.ts";
import type { Policy, Principal } from "../core/policy.ts";
import { readJobTree } from "./job-tree.ts";
import type { JobTree } from "./job-tree.ts";
import { ActingBelay } from "./acting.ts";
import { isTerminalJob } from "../core/states.ts";
import type { JobStatus } from "../core/states.ts";
import type { CancellationFilter, JobFilter, JobPage, Mutator, Store } from "../store/store.ts";
import type { CancelRequests } from "./cancel-requests.ts";
import type { BulkCancelResult, CancelPreviewResult, CancelResult, PoolView, PrincipalCalls, QueueView, SubmitOptions, ChildOf } from "./types.ts";
import type { EventBus, EventListener, NodeEventListener } from "./event-bus.ts";
import type { DrainReport } from "../core/drain.ts";
import type { Drainer } from "./drain.ts";
import type { JobWriter } from "./job-writer.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Schedules } from "./schedules.ts";
import type { Submissions } from "./submissions.ts";
import type { Schedule } from "../core/schedules.ts";
import type { EventLog, TokenStore, WebhookStore } from "./store-views.ts";

export type { BulkCancelResult, CancelPreviewResult, CancelResult, ChildOf, PoolView, QueueView, Quiesced, SubmitOptions } from "./types.ts";
export type { JobTree, JobTreeNode } from "./job-tree.ts";

export interface EngineParts {
  store: Store;
  bus: EventBus;
  writer: JobWriter;
  scheduler: Scheduler;
  requests: CancelRequests;
  schedules: Schedules;
  /** Making jobs: `submit`, `submitJobs` (and, without the engine, child jobs and schedules' firings). */
  submissions: Submissions;
  logger: Logger;
  nodeId: string;
  pools: Record<string, number>;
  /** Who may do what (DESIGN §6), applied to callers that act as a principal. */
  policy: Policy;
  now: () => string;
  drainer: Drainer;
  onClose: (graceMs: number) => Promise<void>;
}

/** The default of `drain`'s `timeoutMs` (and of `--drain-timeout`). */
export const defaultDrainTimeoutMs = 30_000;

export class Belay implements PrincipalCalls {
  readonly nodeId: string;
  private readonly parts: EngineParts;
  private closed = false;

  constructor(parts: EngineParts) {
    this.parts = parts;
    this.nodeId = parts.nodeId;
  }

  /** The whole store, for tests and tools; the server uses the narrow views below. */
  get store(): Store {
    return this.parts.store;
  }

  /** The policy this engine applies to principals (DESIGN §6). */
  get policy(): Policy {
    return this.parts.policy;
  }

  /**
   * The engine as one principal sees it: every call is checked against the policy (who may
   * submit which kind of task, cancel or resume whose job, read logs) and jobs come back with
   * what the principal may see. The HTTP API and MCP act through this; so can a program
   * that embeds Belay for its own users.
   */
  as(principal: Principal): ActingBelay {
    return new ActingBelay(this, principal);
  }

  /** API tokens (the server's authentication and /tokens). */
  get tokens(): TokenStore {
    return this.parts.store;
  }

  /** Webhooks and their deliveries (the server's dispatcher and /webhooks). */
  get webhooks(): WebhookStore {
    return this.parts.store;
  }

  /** The stored events, for a replay after a seq (SSE `Last-Event-ID`). */
  get events(): EventLog {
    return this.parts.store;
  }

  /** Jobs by status, counted in the store (metrics; readiness: the store answers). */
  countJobs(): Promise<Record<JobStatus, number>> {
    return this.parts.store.countJobs();
  }

  /** Apply a pure change to a job and publish its events (the job writer's). */
  readonly mutate = <T>(jobId: string, mutator: Mutator<T>): Promise<{ value: T; job: Job }> => this.parts.writer.mutate(jobId, mutator);

  // ---- jobs ---------------------------------------------------------------------------

  /** Submit a job spec (DESIGN §4). With an `idempotencyKey` already used by the owner, returns that job. */
  async submitJob(input: unknown, options: SubmitOptions = {}): Promise<Job> {
    return (await this.submit(input, options)).job;
  }

  /** `submitJob`, also telling whether the job was created or found by its idempotency key. */
  submit(input: unknown, options: SubmitOptions = {}): Promise<{ job: Job; created: boolean }> {
    return this.parts.submissions.submit(input, options);
  }

  /**
   * A job with its descendants (DESIGN §7 `job tree`), children in creation order, at most
   * `maxNodes` jobs in all (`truncated` says when more exist).
   */
  async getJobTree(id: string, options: { maxNodes?: number } = {}): Promise<JobTree> {
    return readJobTree(this.parts.store, await this.getJob(id), options.maxNodes ?? 1000);
  }

  /**
   * Submit a child job under `parent` (DESIGN §7), as a handler's `ctx.submitChild` and a task
   * of kind `job` do (they reach `Submissions.submitChild` without the engine): owned by the
   * parent's owner, checked as the tree's root submitter, refused with `JOB_CANCELLING` once
   * a cancel of the tree was accepted.
   */
  submitChild(parent: ChildOf, input: unknown, options: { idempotencyKey?: string; parsed?: JobSpec } = {}): Promise<{ job: Job; created: boolean }> {
    return this.parts.submissions.submitChild(parent, input, options);
  }

  /**
   * Submit many job specs at once (bulk submit): all or none, at most 10,000. A spec that is
   * not valid refuses the whole batch with INVALID_REQUEST naming its index (`details.index`);
   * nothing is stored. Idempotency keys are honoured as by `submit`, also between specs of
   * the batch (the later one gets the earlier one's job). Results are in the specs' order.
   */
  submitJobs(inputs: unknown, options: SubmitOptions = {}): Promise<Array<{ job: Job; created: boolean }>> {
    return this.parts.submissions.submitJobs(inputs, options);
  }

  async getJob(id: string): Promise<Job> {
    const job = await this.parts.store.getJob(id);
    if (job === null) throw new BelayError("JOB_NOT_FOUND", `job ${id} not found`, { details: { jobId: id } });
    return job;
  }

  async listJobs(filter: JobFilter = {}, page: { limit?: number; cursor?: string | null } = {}): Promise<JobPage> {
    const limit = page.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new BelayError("INVALID_REQUEST", "limit must be an integer from 1 to 1000", { details: { field: "limit" } });
    }
    return this.parts.store.listJobs(filter, { limit, cursor: page.cursor ?? null });
  }

  /** Resolves with the job once it is terminal, or with its latest state after `timeoutMs`. */
  async waitForJob(id: string, options: { timeoutMs?: number; statuses?: JobStatus[] } = {}): Promise<Job> {
    const done = (job: Job): boolean => (options.statuses === undefined ? isTerminalJob(job.status) : options.statuses.includes(job.status));
    const job = await this.getJob(id);
    if (done(job)) return job;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        unsubscribe();
        clearTimeout(timer);
        this.getJob(id).then(resolve, reject);
      };
      const unsubscribe = this.parts.bus.on("*", (event) => {
        if (event.subject !== id || !event.type.startsWith("belay.job.")) return;
        const status = event.data["status"];
        if (typeof status === "string" && (options.statuses === undefined ? isTerminalJob(status as JobStatus) : options.statuses.includes(status as JobStatus))) {
          finish();
        }
      });
      const timer = setTimeout(finish, options.timeoutMs ?? 60_000);
      // The job may have finished between the read and the subscription.
      void this.getJob(id).then((latest) => done(latest) && finish(), () => undefined);
    });
  }

  async resumeJob(id: string, options: { requestedBy?: string } = {}): Promise<Job> {
    this.assertOpen();
    const { job } = await this.mutate(id, (d) => resumeJob(d, options.requestedBy ?? "library"));
    this.parts.scheduler.wake();
    return job;
  }

  async getJobEvents(jobId: string, options: { after?: number; limit?: number } = {}): Promise<BelayEvent[]> {
    await this.getJob(jobId);
    return this.parts.store.jobEvents(jobId, options.after ?? 0, options.limit ?? 1000);
  }

  async getLogs(jobId: string, options: { taskKey?: string; tail?: number; afterSeq?: number; limit?: number } = {}): Promise<LogLine[]> {
    const job = await this.getJob(jobId);
    if (options.taskKey !== undefined && !job.tasks.some((t) => t.key === options.taskKey)) {
      throw new BelayError("TASK_NOT_FOUND", `job ${jobId} has no task "${options.taskKey}"`, { details: { jobId, taskKey: options.taskKey } });
    }
    return this.parts.store.getLogs(jobId, options);
  }

  // ---- cancellation -------------------------------------------------------------------

  /**
   * Cancel a job (DESIGN §3). With `dryRun: true`, only answer what the cancel would do
   * (`preview`: tasks and runners to stop, compensations, descendants), planned by the same
   * rule as the cancel, and change nothing (DESIGN §7 "Preview").
   */
  cancelJob(jobId: string, options: CancelJobOptions & { dryRun: true }): Promise<CancelPreviewResult>;
  cancelJob(jobId: string, options?: CancelJobOptions & { dryRun?: false | undefined }): Promise<CancelResult>;
  cancelJob(jobId: string, options?: CancelJobOptions): Promise<CancelResult | CancelPreviewResult>;
  async cancelJob(jobId: string, options: CancelJobOptions = {}): Promise<CancelResult | CancelPreviewResult> {
    this.assertOpen();
    if (options.dryRun === true) return this.parts.requests.previewJob(jobId, options);
    return this.parts.requests.cancelJob(jobId, options);
  }

  /** Cancel one task, with its dependents unless `cascade` is false (DESIGN §3); `dryRun` previews it. */
  cancelTask(jobId: string, taskKey: string, options: CancelTaskOptions & { dryRun: true }): Promise<CancelPreviewResult>;
  cancelTask(jobId: string, taskKey: string, options?: CancelTaskOptions & { dryRun?: false | undefined }): Promise<CancelResult>;
  cancelTask(jobId: string, taskKey: string, options?: CancelTaskOptions): Promise<CancelResult | CancelPreviewResult>;
  async cancelTask(jobId: string, taskKey: string, options: CancelTaskOptions = {}): Promise<CancelResult | CancelPreviewResult> {
    this.assertOpen();
    if (options.dryRun === true) return this.parts.requests.previewTask(jobId, taskKey, options);
    return this.parts.requests.cancelTask(jobId, taskKey, options);
  }

  /** Cancel every non-terminal job matching a filter; `dryRun` only counts (DESIGN §3 "Bulk cancel"). */
  async cancelJobs(options: BulkCancelOptions): Promise<BulkCancelResult> {
    this.assertOpen();
    return this.parts.requests.cancelJobs(options);
  }

  /** A record by its id, or a job's latest record by the job id. */
  async getCancellation(id: string): Promise<CancellationRecord> {
    const record = await this.parts.store.getCancellation(id);
    if (record !== null) return record;
    const job = await this.parts.store.getJob(id);
    if (job?.cancellation !== null && job?.cancellation !== undefined) {
      const latest = await this.parts.store.getCancellation(job.cancellation.id);
      if (latest !== null) return latest;
    }
    if (job !== null) throw new BelayError("NOT_FOUND", `job ${id} has no cancellation`, { details: { jobId: id } });
    throw new BelayError("NOT_FOUND", `no cancellation or job ${id}`, { details: { id } });
  }

  async listCancellations(filter: CancellationFilter = {}, page: { limit?: number; offset?: number } = {}): Promise<{ items: CancellationRecord[]; total: number }> {
    const limit = page.limit ?? 50;
    const offset = page.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BelayError("INVALID_REQUEST", "limit must be an integer from 1 to 1000", { details: { field: "limit" } });
    if (!Number.isInteger(offset) || offset < 0) throw new BelayError("INVALID_REQUEST", "offset must be a non-negative integer", { details: { field: "offset" } });
    return this.parts.store.listCancellations(filter, { limit, offset });
  }

  // ---- schedules and queues (DESIGN §7) ----------------------------------------------------

  /**
   * Create a schedule: `{name, cron, timeZone, job, overlap, catchUp}`. Its job spec is checked
   * now as a submit by `principal` would be (a free-command process task needs the role that
   * submitting one needs); each firing submits it as `owner`.
   */
  async createSchedule(input: unknown, options: { owner?: string; principal?: Principal } = {}): Promise<Schedule> {
    this.assertOpen();
    return this.parts.schedules.create(input, { owner: options.owner ?? options.principal?.name ?? "library", principal: options.principal });
  }

  /** A schedule by id, or by name among `owner`'s schedules. */
  getSchedule(idOrName: string, options: { owner?: string } = {}): Promise<Schedule> {
    return this.parts.schedules.get(idOrName, options.owner);
  }

  /** Every schedule, with its next firing (`nextRunAt`, null while paused). */
  listSchedules(): Promise<Schedule[]> {
    return this.parts.schedules.list();
  }

  pauseSchedule(idOrName: string, options: { by?: string; owner?: string } = {}): Promise<Schedule> {
    return this.parts.schedules.pause(idOrName, { by: options.by ?? "library", owner: options.owner });
  }

  /** Fire again, from the next time after now: the paused time is not caught up. */
  resumeSchedule(idOrName: string, options: { owner?: string } = {}): Promise<Schedule> {
    return this.parts.schedules.resume(idOrName, options);
  }

  deleteSchedule(idOrName: string, options: { owner?: string } = {}): Promise<Schedule> {
    return this.parts.schedules.delete(idOrName, options);
  }

  /** Queues with tasks or a pause, and whether each is paused. */
  listQueues(): Promise<QueueView[]> {
    return this.parts.schedules.listQueues();
  }

  /** Pause a queue: no node claims its tasks until it is resumed (they can still be cancelled). */
  pauseQueue(name: string, options: { by?: string; reason?: string | null } = {}): Promise<QueueView> {
    return this.parts.schedules.pauseQueue(name, { by: options.by ?? "library", reason: options.reason });
  }

  async resumeQueue(name: string): Promise<QueueView> {
    const queue = await this.parts.schedules.resumeQueue(name);
    this.parts.scheduler.wake();
    return queue;
  }

  // ---- events and lifecycle ---------------------------------------------------------------

  /**
   * Subscribe to events of one type, or of every job event with "*"; `belay.node.drained` is
   * this node's (not a job's) and only reaches its own subscribers. Returns the unsubscribe function.
   */
  on(type: "belay.node.drained", listener: NodeEventListener): () => void;
  on(type: EventType | "*", listener: EventListener): () => void;
  on(type: EventType | "*" | "belay.node.drained", listener: EventListener | NodeEventListener): () => void {
    if (type === "belay.node.drained") return this.parts.bus.onNode(listener as NodeEventListener);
    return this.parts.bus.on(type, listener as EventListener);
  }

  /**
   * Drain this node (DESIGN §7): stop claiming at once, give the running tasks `timeoutMs`
   * (default 30 s) to end on their own, then stop the rest and hand them back to the queue,
   * each with a record (`requestedBy: "system:drain"`); their attempts go back to `pending`
   * without using a retry, for another node (or this one's next start) to run from the last
   * checkpoint. Resolves with the counts; a repeat joins the drain under way. Call `close()`
   * after it; the engine keeps answering reads and cancels while it drains.
   */
  drain(options: { timeoutMs?: number } = {}): Promise<DrainReport> {
    this.assertOpen();
    const timeoutMs = options.timeoutMs ?? defaultDrainTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new BelayError("INVALID_REQUEST", "drain timeoutMs must be an integer ≥ 0", { details: { field: "timeoutMs" } });
    }
    return this.parts.drainer.drain(timeoutMs);
  }

  /** Cut a drain under way short: the tasks left are handed back now, killed (a second SIGTERM). */
  hurryDrain(): void {
    this.parts.drainer.hurry();
  }

  /** True from the moment a drain starts (readiness then fails). */
  get draining(): boolean {
    return this.parts.drainer.draining;
  }

  /**
   * The pools this node is configured with (DESIGN §7), by name: capacity, slots in use and
   * who holds them (the task, its node, and since when: the start of its attempt).
   */
  async listPools(): Promise<PoolView[]> {
    const holders = await this.parts.store.poolHolders();
    const jobs = new Map<string, Job | null>();
    for (const key of Object.values(holders).flat()) {
      const jobId = key.slice(0, key.indexOf("/"));
      if (!jobs.has(jobId)) jobs.set(jobId, await this.parts.store.getJob(jobId).catch(() => null));
    }
    return Object.entries(this.parts.pools)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, capacity]) => {
        const held = (holders[name] ?? []).map((key) => {
          const slash = key.indexOf("/");
          const jobId = key.slice(0, slash);
          const taskKey = key.slice(slash + 1);
          const task = jobs.get(jobId)?.tasks.find((t) => t.key === taskKey);
          return { jobId, taskKey, nodeId: task?.nodeId ?? null, since: task?.startedAt ?? null };
        });
        return { name, capacity, inUse: held.length, holders: held };
      });
  }

  /** Pool name → capacity and the tasks holding a slot. */
  async pools(): Promise<Record<string, { capacity: number; holders: string[] }>> {
    const holders = await this.parts.store.poolHolders();
    return Object.fromEntries(Object.entries(this.parts.pools).map(([name, capacity]) => [name, { capacity, holders: holders[name] ?? [] }]));
  }

  /**
   * Stop claiming, stop this node's runners (signal, `graceMs`, then kill) and close the
   * store. Interrupted attempts go back to `pending` and run again on the next start;
   * cancellations in progress are finished by the next start's recovery.
   */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.parts.submissions.close();
    await this.parts.requests.settled();
    await this.parts.onClose(options.graceMs ?? 0);
  }

  private assertOpen(): void {
    if (this.closed) throw new BelayError("INTERNAL", "the engine is closed");
  }
}
