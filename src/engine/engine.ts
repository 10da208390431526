/**
 * The Belay engine: the library API of DESIGN §5 (`openBelay` returns one). It wires the
 * store, the runners of this node, the scheduler and the cancellation executor.
 */
import type { Logger } from "pino";
import { newRecord, requestJobCancel, requestTaskCancel } from "../core/cancellation.ts";
import type { CancelOutcome } from "../core/cancellation.ts";
import { BelayError } from "../core/errors.ts";
import { newJob, resumeJob, settle } from "../core/lifecycle.ts";
import type { BelayEvent, CancellationRecord, EventType, Job, LogLine } from "../core/model.ts";
import { parseBulkFilter, parseCancelOptions } from "../core/requests.ts";
import type { BulkCancelOptions, CancelJobOptions, CancelTaskOptions } from "../core/requests.ts";
import { parseJobSpec } from "../core/spec.ts";
import { authorizeSubmit } from "../core/policy.ts";
import type { Policy, Principal } from "../core/policy.ts";
import type { TemplateSet } from "../core/templates.ts";
import { ActingBelay } from "./acting.ts";
import { isTerminalJob } from "../core/states.ts";
import type { JobStatus } from "../core/states.ts";
import type { CancellationFilter, JobFilter, JobPage, Mutator, Store } from "../store/store.ts";
import type { CancelExecutor } from "./cancel-executor.ts";
import { crashPoint } from "./crash-points.ts";
import type { EventBus, EventListener } from "./event-bus.ts";
import { newId } from "./ids.ts";
import { logStep } from "./step-log.ts";
import { validateRunnable } from "./runnable.ts";
import type { NodeRunners } from "./runnable.ts";
import type { Runs } from "./runs.ts";
import type { Scheduler } from "./scheduler.ts";

export interface CancelResult {
  job: Job;
  cancellation: CancellationRecord;
  /** The job (or task) was already cancelled: this is the existing record. */
  alreadyCancelled: boolean;
}

export interface BulkCancelResult {
  matched: number;
  cancelled: number;
  /** Dry run: ids of some matching jobs. */
  sample?: string[];
  /** The bulk record; null for a dry run. */
  cancellation: CancellationRecord | null;
}

export interface SubmitOptions {
  /** The principal that owns the job. Default "library" (or the acting principal's name). */
  owner?: string;
  /** Who submits: each task is checked against the policy (`belay.as(principal)` sets it). */
  principal?: Principal;
}

export interface EngineParts {
  store: Store;
  bus: EventBus;
  runs: Runs;
  scheduler: Scheduler;
  executor: CancelExecutor;
  runners: NodeRunners;
  logger: Logger;
  nodeId: string;
  pools: Record<string, number>;
  /** Who may do what (DESIGN §6), applied to callers that act as a principal. */
  policy: Policy;
  /** The server's task templates. */
  templates: TemplateSet;
  /** Whether a secret of this name can be resolved here (checked at submit). */
  hasSecret: (name: string) => boolean;
  now: () => string;
  /** Ask the nodes running a job's tasks to stop them (shared store; a no-op otherwise). */
  sendCancel: (jobId: string, recordId: string, force: boolean) => void;
  onClose: (graceMs: number) => Promise<void>;
}

export class Belay {
  readonly nodeId: string;
  private readonly parts: EngineParts;
  private closed = false;
  private readonly bulkExecutions = new Set<Promise<void>>();

  constructor(parts: EngineParts) {
    this.parts = parts;
    this.nodeId = parts.nodeId;
  }

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

  /** Apply a pure change to a job and publish its events. */
  readonly mutate = async <T>(jobId: string, mutator: Mutator<T>): Promise<{ value: T; job: Job }> => {
    const result = await this.parts.store.mutateJob(jobId, this.parts.now(), mutator);
    this.parts.bus.emit(result.events);
    return { value: result.value, job: result.job };
  };

  // ---- jobs ---------------------------------------------------------------------------

  /** Submit a job spec (DESIGN §4). With an `idempotencyKey` already used by the owner, returns that job. */
  async submitJob(input: unknown, options: SubmitOptions = {}): Promise<Job> {
    return (await this.submit(input, options)).job;
  }

  /** `submitJob`, also telling whether the job was created or found by its idempotency key. */
  async submit(input: unknown, options: SubmitOptions = {}): Promise<{ job: Job; created: boolean }> {
    this.assertOpen();
    const spec = parseJobSpec(input, { templates: this.parts.templates });
    if (options.principal !== undefined) authorizeSubmit(this.parts.policy, options.principal, spec);
    spec.tasks.forEach((task, i) => {
      for (const [name, value] of Object.entries(task.process?.env ?? {})) {
        if (typeof value !== "string" && !this.parts.hasSecret(value.secret)) {
          throw new BelayError("INVALID_REQUEST", `tasks[${i}].env.${name}: unknown secret "${value.secret}" (define it with --secrets-file or BELAY_SECRET_${value.secret})`, {
            details: { field: `tasks[${i}].env.${name}`, secret: value.secret },
          });
        }
      }
    });
    await validateRunnable(spec, this.parts.runners, this.parts.pools, this.parts.store.shared);
    const job = newJob(spec, { id: newId(), owner: options.owner ?? options.principal?.name ?? "library", now: this.parts.now() });
    const result = await this.parts.store.insertJob((d) => {
      d.emit("belay.job.created", null, { status: "queued", name: job.name, queue: job.queue, owner: job.owner });
      settle(d);
    }, job);
    crashPoint("submit");
    this.parts.bus.emit(result.events);
    if (result.created) this.parts.scheduler.wake();
    return { job: result.job, created: result.created };
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

  /** Cancel a job (DESIGN §3). */
  async cancelJob(jobId: string, options: CancelJobOptions = {}): Promise<CancelResult> {
    this.assertOpen();
    const opts = parseCancelOptions(options);
    if (opts.cascade !== null) throw new BelayError("INVALID_REQUEST", "cascade applies to task cancels only", { details: { field: "cascade" } });
    const { value: outcome, job } = await this.mutate(jobId, (d) =>
      requestJobCancel(d, newId(), {
        reason: opts.reason,
        requestedBy: opts.requestedBy,
        force: opts.force,
        graceMs: opts.graceMs,
        onlyIfPending: opts.onlyIfPending,
        parentId: null,
        nodeId: this.nodeId,
      }),
    );
    return this.afterCancel(job, outcome, opts.wait ? opts.waitMs : null);
  }

  /** Cancel one task, with its dependents unless `cascade` is false (DESIGN §3). */
  async cancelTask(jobId: string, taskKey: string, options: CancelTaskOptions = {}): Promise<CancelResult> {
    this.assertOpen();
    const opts = parseCancelOptions(options);
    const { value: outcome, job } = await this.mutate(jobId, (d) =>
      requestTaskCancel(d, newId(), taskKey, {
        reason: opts.reason,
        requestedBy: opts.requestedBy,
        force: opts.force,
        graceMs: opts.graceMs,
        cascade: opts.cascade,
        nodeId: this.nodeId,
      }),
    );
    // Dependents of a task cancelled without cascade may be ready now.
    this.parts.scheduler.wake();
    return this.afterCancel(job, outcome, opts.wait ? opts.waitMs : null);
  }

  private async afterCancel(job: Job, outcome: CancelOutcome, waitMs: number | null): Promise<CancelResult> {
    crashPoint("cancel.requested");
    if (outcome.escalated) {
      // The executor may be here or on another node, and the runners anywhere: tell everyone.
      this.parts.executor.escalate(outcome.record.id);
      this.parts.sendCancel(job.id, outcome.record.id, true);
    }
    if (outcome.needsExecution) void this.parts.executor.execute(outcome.record);
    if (!outcome.alreadyCancelled) this.logInstantSteps(outcome.record);
    if (waitMs !== null && outcome.record.status === "in_progress") {
      await Promise.race([this.parts.executor.whenDone(outcome.record.id), new Promise((r) => setTimeout(r, waitMs).unref())]);
      const [latestJob, latestRecord] = await Promise.all([this.getJob(job.id), this.parts.store.getCancellation(outcome.record.id)]);
      return { job: latestJob, cancellation: latestRecord ?? outcome.record, alreadyCancelled: outcome.alreadyCancelled && latestRecord?.status !== "in_progress" };
    }
    return {
      job,
      cancellation: outcome.record,
      alreadyCancelled: outcome.alreadyCancelled && outcome.record.status !== "in_progress",
    };
  }

  private logInstantSteps(record: CancellationRecord): void {
    for (const step of record.steps) if (step.finishedAt !== null) logStep(this.parts.logger, record, step);
  }

  /** Cancel every non-terminal job matching a filter; `dryRun` only counts (DESIGN §3 "Bulk cancel"). */
  async cancelJobs(options: BulkCancelOptions): Promise<BulkCancelResult> {
    this.assertOpen();
    if (typeof options !== "object" || options === null) throw new BelayError("INVALID_REQUEST", "bulk cancel options must be an object", { details: { field: "" } });
    const filter = parseBulkFilter(options.filter);
    const opts = parseCancelOptions({
      reason: options.reason,
      force: options.force,
      graceMs: options.graceMs,
      ...(options.requestedBy === undefined ? {} : { requestedBy: options.requestedBy }),
    });
    const key = options.idempotencyKey ?? null;
    if (key !== null && (typeof key !== "string" || key.length === 0 || key.length > 200)) {
      throw new BelayError("INVALID_REQUEST", "idempotencyKey must be a string of 1 to 200 characters", { details: { field: "idempotencyKey" } });
    }
    if (options.dryRun === true) {
      const { ids, total } = await this.parts.store.findJobIds(filter, options.sampleSize ?? 10);
      return { matched: total, cancelled: 0, sample: ids, cancellation: null };
    }
    if (key !== null) {
      const existing = await this.parts.store.getCancellationByIdempotencyKey(key);
      if (existing !== null) {
        const detail = existing.steps[0]?.detail;
        return { matched: Number(detail?.["matched"] ?? existing.progress?.total ?? 0), cancelled: Number(detail?.["cancelled"] ?? 0), cancellation: existing };
      }
    }
    const { ids, total } = await this.parts.store.findJobIds(filter, 10_000_000);
    const bulk = newRecord({
      id: newId(),
      jobId: null,
      taskKey: null,
      scope: "bulk",
      parentId: null,
      reason: opts.reason,
      requestedBy: opts.requestedBy,
      force: opts.force,
      cascade: true,
      graceMs: opts.graceMs ?? 0,
      now: this.parts.now(),
      steps: ["cancel_jobs", "finalize"],
      idempotencyKey: key,
    });
    bulk.progress = { total, done: 0 };
    const cancelStep = bulk.steps[0];
    if (cancelStep !== undefined) {
      cancelStep.status = "running";
      cancelStep.startedAt = bulk.requestedAt;
    }
    await this.parts.store.insertCancellation(bulk);

    const results = await this.parts.store.mutateJobs(ids, this.parts.now(), (d) =>
      requestJobCancel(d, newId(), {
        reason: opts.reason,
        requestedBy: opts.requestedBy,
        force: opts.force,
        graceMs: opts.graceMs,
        onlyIfPending: false,
        parentId: bulk.id,
        nodeId: this.nodeId,
      }),
    );
    let cancelled = 0;
    const running: Array<Promise<void>> = [];
    const errors: string[] = [];
    for (const result of results) {
      if ("error" in result) {
        // A job that finished between the selection and its cancel is not an error of the bulk cancel.
        if (!(result.error instanceof BelayError && result.error.code === "JOB_ALREADY_FINISHED")) {
          errors.push(`${result.jobId}: ${(result.error as Error).message}`);
        }
        continue;
      }
      this.parts.bus.emit(result.events);
      const outcome = result.value;
      if (!outcome.alreadyCancelled) cancelled += 1;
      if (outcome.needsExecution) running.push(this.parts.executor.execute(outcome.record));
    }
    bulk.errors.push(...errors);
    bulk.progress = { total, done: total - running.length };
    if (cancelStep !== undefined) cancelStep.detail = { matched: total, cancelled };
    await this.parts.store.updateCancellation(bulk);
    const finishing = this.finishBulk(bulk, running);
    this.bulkExecutions.add(finishing);
    void finishing.finally(() => this.bulkExecutions.delete(finishing));
    return { matched: total, cancelled, cancellation: bulk };
  }

  /** A bulk record is finished when each of its job records is. */
  private async finishBulk(bulk: CancellationRecord, running: Array<Promise<void>>): Promise<void> {
    const total = bulk.progress?.total ?? 0;
    let done = total - running.length;
    await Promise.all(
      running.map(async (p) => {
        await p;
        done += 1;
        bulk.progress = { total, done };
      }),
    );
    const children = await this.parts.store.listCancellations({ parentId: bulk.id }, { limit: 100_000, offset: 0 });
    const bad = children.items.filter((c) => c.status === "partial" || c.status === "failed");
    const now = this.parts.now();
    for (const step of bulk.steps) {
      step.startedAt ??= bulk.requestedAt;
      step.finishedAt = now;
      step.status = "completed";
    }
    const cancelStep = bulk.steps[0];
    if (cancelStep !== undefined) cancelStep.detail = { ...cancelStep.detail, jobs: children.items.length, partial: bad.length };
    bulk.status = bad.length > 0 || bulk.errors.length > 0 ? "partial" : "completed";
    bulk.progress = { total, done: total };
    bulk.completedAt = now;
    bulk.durationMs = Date.parse(now) - Date.parse(bulk.requestedAt);
    await this.parts.store.updateCancellation(bulk);
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

  // ---- events and lifecycle ---------------------------------------------------------------

  /** Subscribe to events of one type, or of every type with "*". Returns the unsubscribe function. */
  on(type: EventType | "*", listener: EventListener): () => void {
    return this.parts.bus.on(type, listener);
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
    await Promise.all(this.bulkExecutions);
    await this.parts.onClose(options.graceMs ?? 0);
  }

  private assertOpen(): void {
    if (this.closed) throw new BelayError("INTERNAL", "the engine is closed");
  }
}
