/**
 * Types the engine's parts share, and nothing else: the answers of a cancel, what a part that
 * cancels needs of the cancel requests, what a quiesce paused, and the calls `belay.as()`
 * checks. They live here, not beside the code that makes them, so that the parts naming them
 * (`cancel-requests`, `cancel-executor`, `cancel-tree`, `schedules`, `timeouts`, `acting`)
 * need not import one another (test/lint/cycles.test.ts). No code: a type module only.
 */
import type { CancellationRecord, BelayEvent, DescendantCancel, Job, LogLine } from "../core/model.ts";
import type { Policy, Principal } from "../core/policy.ts";
import type { CancelPreview } from "../core/preview.ts";
import type { BulkCancelOptions, CancelJobOptions, CancelTaskOptions } from "../core/requests.ts";
import type { Queue } from "../core/responses.ts";
import type { Schedule } from "../core/schedules.ts";
import type { CancellationFilter, JobFilter, JobPage } from "../store/store.ts";
import type { JobTree } from "./job-tree.ts";

export interface CancelResult {
  job: Job;
  cancellation: CancellationRecord;
  /** The job (or task) was already cancelled: this is the existing record. */
  alreadyCancelled: boolean;
}

/** A cancel's dry run (`dryRun: true`): the job as it is, and what the cancel would do. Nothing changed. */
export interface CancelPreviewResult {
  job: Job;
  /** No record: nothing was cancelled. */
  cancellation: null;
  dryRun: true;
  preview: CancelPreview;
}

export interface BulkCancelResult {
  matched: number;
  cancelled: number;
  /** Dry run: ids of some matching jobs. */
  sample?: string[];
  /** The bulk record; null for a dry run. */
  cancellation: CancellationRecord | null;
}

/** Cancelling a job or a task: what the scheduler's timeout sweep (and a schedule's overlap rule) needs, and nothing else. */
export interface JobCanceller {
  cancelJob(jobId: string, options?: CancelJobOptions): Promise<CancelResult>;
  cancelTask(jobId: string, taskKey: string, options?: CancelTaskOptions): Promise<CancelResult>;
}

/** What a quiesce paused: the schedules and queues a bulk cancel's filter names. */
export interface Quiesced {
  schedules: Array<{ id: string; name: string }>;
  queues: string[];
}

/** What the cancel of a job's descendants did (`cancelTree`, the `cancel_descendants` step). */
export interface TreeOutcome {
  descendants: DescendantCancel[];
  counts: { descendants: number; cancelled: number; alreadyEnded: number; detached: number };
}

/** A queue as `GET /queues` shows it: the response contract's `Queue` (core/responses.ts). */
export type QueueView = Queue;

/** How `submit` makes a job: for whom, and from which schedule. */
export interface SubmitOptions {
  /** The principal that owns the job. Default "library" (or the acting principal's name). */
  owner?: string;
  /** Who submits: each task is checked against the policy (`belay.as(principal)` sets it). */
  principal?: Principal | undefined;
  /** The schedule making the job (its firings set it). */
  scheduleId?: string;
}

/** Where a child job hangs in its tree (DESIGN §7). */
export interface ChildOf {
  /** The parent job. */
  jobId: string;
  /** The parent's task that starts the child (a handler calling `ctx.submitChild`, or a `job` task). */
  taskKey: string | null;
}

/** One resource pool as `GET /pools` shows it. */
export interface PoolView {
  name: string;
  capacity: number;
  inUse: number;
  holders: Array<{ jobId: string; taskKey: string; nodeId: string | null; since: string | null }>;
}

/**
 * The engine's calls that `ActingBelay` (acting.ts) checks against the policy and forwards.
 * `Belay` implements it, so the compiler keeps the two in step; acting.ts reads this, not the
 * class, because engine.ts builds an `ActingBelay` (`belay.as(principal)`).
 */
export interface PrincipalCalls {
  readonly policy: Policy;
  submit(input: unknown, options: { owner?: string; principal?: Principal | undefined }): Promise<{ job: Job; created: boolean }>;
  submitJobs(inputs: unknown, options: { owner?: string; principal?: Principal | undefined }): Promise<Array<{ job: Job; created: boolean }>>;
  getJob(id: string): Promise<Job>;
  getJobTree(id: string): Promise<JobTree>;
  listPools(): Promise<PoolView[]>;
  listJobs(filter?: JobFilter, page?: { limit?: number; cursor?: string | null }): Promise<JobPage>;
  getJobEvents(jobId: string, options?: { after?: number; limit?: number }): Promise<BelayEvent[]>;
  getLogs(jobId: string, options?: { taskKey?: string; tail?: number; afterSeq?: number; limit?: number }): Promise<LogLine[]>;
  cancelJob(jobId: string, options?: CancelJobOptions): Promise<CancelResult | CancelPreviewResult>;
  cancelTask(jobId: string, taskKey: string, options?: CancelTaskOptions): Promise<CancelResult | CancelPreviewResult>;
  cancelJobs(options: BulkCancelOptions): Promise<BulkCancelResult>;
  resumeJob(id: string, options?: { requestedBy?: string }): Promise<Job>;
  getCancellation(id: string): Promise<CancellationRecord>;
  listCancellations(filter?: CancellationFilter, page?: { limit?: number; offset?: number }): Promise<{ items: CancellationRecord[]; total: number }>;
  createSchedule(input: unknown, options?: { owner?: string; principal?: Principal }): Promise<Schedule>;
  getSchedule(idOrName: string, options?: { owner?: string }): Promise<Schedule>;
  listSchedules(): Promise<Schedule[]>;
  pauseSchedule(idOrName: string, options?: { by?: string; owner?: string }): Promise<Schedule>;
  resumeSchedule(idOrName: string, options?: { owner?: string }): Promise<Schedule>;
  deleteSchedule(idOrName: string, options?: { owner?: string }): Promise<Schedule>;
  listQueues(): Promise<QueueView[]>;
  pauseQueue(name: string, options?: { by?: string; reason?: string | null }): Promise<QueueView>;
  resumeQueue(name: string): Promise<QueueView>;
}
