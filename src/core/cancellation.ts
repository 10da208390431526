/**
 * The pure rules of cancelling (DESIGN §3): what a cancel request does to a job in each
 * state, the record and its steps, and how a cancellation is finalised. The engine executes
 * the steps that need I/O (signals, waits, cleanup) and writes their results back here.
 */
import { BelayError } from "./errors.ts";
import type { JobDraft } from "./draft.ts";
import { transitiveDependents } from "./graph.ts";
import { graceFor } from "./grace.ts";
import { naturalOutcome, settle } from "./settle.ts";
import type {
  CancellationRecord,
  CancellationScope,
  CancellationStatus,
  CancellationStep,
  CancellationSummary,
  Json,
  StepName,
  StepStatus,
  Task,
  TaskStopReport,
} from "./model.ts";
import { pendingRemoteStops } from "./remote-stops.ts";
import { isTerminalJob, isTerminalTask } from "./states.ts";

export interface CancelRequest {
  reason: string | null;
  requestedBy: string;
  force: boolean;
  /** Overrides the job's (and tasks') grace period. */
  graceMs: number | null;
  onlyIfPending: boolean;
  parentId: string | null;
  /** The node that will execute the record's steps. */
  nodeId?: string | null;
  /**
   * Cancelled as a descendant in another job's tree cancel (DESIGN §7): that cancel walks the
   * whole tree, so this record has no `cancel_children` step of its own.
   */
  treeMember?: boolean;
}

export interface TaskCancelRequest {
  reason: string | null;
  requestedBy: string;
  force: boolean;
  graceMs: number | null;
  /** Overrides every edge's own `onCancel` policy when set. */
  cascade: boolean | null;
  /** The node that will execute the record's steps. */
  nodeId?: string | null;
}

export interface CancelOutcome {
  record: CancellationRecord;
  /** The request found an existing record (a repeat, DESIGN invariant 5). */
  alreadyCancelled: boolean;
  /** A repeat with `force` turned an in-progress graceful cancel into a forced one. */
  escalated: boolean;
  /** Running tasks the engine must now signal: the keys of `runnersToStop(record)`. */
  toSignal: string[];
  /** The record still needs the engine to execute its remaining steps. */
  needsExecution: boolean;
}

const jobSteps: StepName[] = ["block_dispatch", "cancel_pending_tasks", "signal_runners", "await_runners", "force_kill", "cleanup", "finalize"];

export function newRecord(input: {
  id: string;
  jobId: string | null;
  taskKey: string | null;
  scope: CancellationScope;
  parentId: string | null;
  reason: string | null;
  requestedBy: string;
  force: boolean;
  cascade: boolean;
  graceMs: number;
  now: string;
  steps: StepName[];
  idempotencyKey?: string | null;
  jobAttempt?: number;
  executorNodeId?: string | null;
}): CancellationRecord {
  return {
    id: input.id,
    jobId: input.jobId,
    taskKey: input.taskKey,
    scope: input.scope,
    parentId: input.parentId,
    jobAttempt: input.jobAttempt ?? 0,
    executorNodeId: input.executorNodeId ?? null,
    reason: input.reason,
    requestedBy: input.requestedBy,
    force: input.force,
    cascade: input.cascade,
    graceMs: input.graceMs,
    status: "in_progress",
    steps: input.steps.map((name) => ({ name, status: "pending", startedAt: null, finishedAt: null, detail: null })),
    affectedTasks: [],
    tasks: [],
    runnersTerminated: { graceful: 0, forced: 0 },
    remote: { attempted: 0, cancelled: 0 },
    compensation: [],
    progress: null,
    errors: [],
    idempotencyKey: input.idempotencyKey ?? null,
    requestedAt: input.now,
    completedAt: null,
    durationMs: null,
  };
}

/**
 * The runners a cancellation still has to stop: the tasks it found mid-run whose stop is not
 * recorded yet, with each one's attempt, node and grace. The one list of what to stop — the
 * request's `toSignal`, the executor's steps (here and after a takeover) and the cancel agent
 * of another node all read it.
 */
export function runnersToStop(record: CancellationRecord): TaskStopReport[] {
  return record.tasks.filter((r) => r.outcome === "mid_run" && r.stoppedAt === null);
}

function toSignal(record: CancellationRecord): string[] {
  return runnersToStop(record).map((r) => r.key);
}

export function findStep(record: CancellationRecord, name: StepName): CancellationStep {
  const step = record.steps.find((s) => s.name === name);
  if (step === undefined) throw new BelayError("INTERNAL", `cancellation ${record.id} has no step ${name}`);
  return step;
}

export function startStep(record: CancellationRecord, name: StepName, now: string): CancellationStep {
  const step = findStep(record, name);
  step.status = "running";
  step.startedAt = now;
  return step;
}

export function endStep(
  record: CancellationRecord,
  name: StepName,
  now: string,
  status: Exclude<StepStatus, "pending" | "running">,
  detail: Record<string, Json> | null = null,
): CancellationStep {
  const step = findStep(record, name);
  if (step.startedAt === null) step.startedAt = now;
  step.status = status;
  step.finishedAt = now;
  step.detail = detail;
  return step;
}

/** A step done in one instant inside the request's transaction. */
function instantStep(d: JobDraft, record: CancellationRecord, name: StepName, status: "completed" | "skipped", detail: Record<string, Json>): void {
  const step = endStep(record, name, d.now, status, detail);
  emitStep(d, record, step);
}

export function emitStep(d: JobDraft, record: CancellationRecord, step: CancellationStep): void {
  const data: Record<string, Json> = {
    cancellationId: record.id,
    scope: record.scope,
    force: record.force,
    step: step.name,
    status: step.status,
    startedAt: step.startedAt,
    finishedAt: step.finishedAt,
    detail: step.detail,
  };
  // The last step carries the record's outcome, so a subscriber (metrics, webhooks) needs nothing else.
  if (step.name === "finalize") {
    data["recordStatus"] = record.status;
    data["durationMs"] = record.durationMs;
    data["reason"] = record.reason;
    data["requestedBy"] = record.requestedBy;
  }
  d.emit("belay.cancellation.step", record.taskKey, data);
}

export function summarize(record: CancellationRecord): CancellationSummary {
  return {
    id: record.id,
    status: record.status,
    scope: record.scope,
    taskKey: record.taskKey,
    reason: record.reason,
    requestedBy: record.requestedBy,
    requestedAt: record.requestedAt,
    completedAt: record.completedAt,
  };
}

function latestJobRecord(d: JobDraft): CancellationRecord | undefined {
  return d.cancellations.filter((c) => c.scope === "job").at(-1);
}

function attachToJob(d: JobDraft, record: CancellationRecord): void {
  d.job.cancellation = summarize(record);
  d.touchJob();
  d.putCancellation(record);
}

function beforeStartReport(task: Task): TaskStopReport {
  return {
    key: task.key,
    attempt: task.attempt,
    nodeId: null,
    signalledAt: null,
    acknowledgedAt: null,
    stoppedAt: null,
    mode: null,
    outcome: "before_start",
    exitCode: null,
    graceMs: null,
  };
}

function midRunReport(task: Task, graceMs: number): TaskStopReport {
  // The outcome is provisional until the runner exits: `finished_first` if it ends before the signal lands.
  return { ...beforeStartReport(task), nodeId: task.nodeId, outcome: "mid_run", graceMs };
}

function cancelPending(d: JobDraft, record: CancellationRecord, task: Task, reason: string): void {
  d.setTaskStatus(task.key, "cancelled", { cancellationId: record.id, reason });
  record.affectedTasks.push({ key: task.key, from: "pending", to: "cancelled" });
  const report = beforeStartReport(task);
  report.stoppedAt = d.now;
  record.tasks.push(report);
}

function markCancelling(d: JobDraft, record: CancellationRecord, task: Task, graceMs: number): void {
  if (task.status === "running") d.setTaskStatus(task.key, "cancelling", { cancellationId: record.id });
  record.tasks.push(midRunReport(task, graceMs));
}

/**
 * A job cancel request, in every state of DESIGN §3's table. `newId` is used only if a new
 * record is created.
 */
export function requestJobCancel(d: JobDraft, newId: string, req: CancelRequest): CancelOutcome {
  const job = d.job;
  const existing = latestJobRecord(d);
  if (job.status === "cancelled" && existing !== undefined) {
    return { record: existing, alreadyCancelled: true, escalated: false, toSignal: [], needsExecution: false };
  }
  if (isTerminalJob(job.status)) {
    // Asked to cancel only a job that has not started, the caller hears that it has (seed
    // 003's contract), with the state it ended in.
    if (req.onlyIfPending) {
      throw new BelayError("JOB_NOT_PENDING", `job ${job.id} is not pending: it already ran and finished (${job.status}); onlyIfPending refused the cancel`, {
        details: { jobId: job.id, status: job.status, finished: true, finishedAt: job.finishedAt },
      });
    }
    throw new BelayError("JOB_ALREADY_FINISHED", `job ${job.id} already finished (${job.status}); nothing to cancel`, {
      details: { jobId: job.id, status: job.status },
    });
  }
  if (job.status === "cancelling" && existing !== undefined && existing.status === "in_progress") {
    const escalated = req.force && !existing.force;
    if (escalated) {
      existing.force = true;
      d.putCancellation(existing);
    }
    return { record: existing, alreadyCancelled: true, escalated, toSignal: [], needsExecution: false };
  }
  if (req.onlyIfPending && job.status !== "queued") {
    throw new BelayError("JOB_NOT_PENDING", `job ${job.id} has already started (${job.status}); onlyIfPending refused the cancel`, {
      details: { jobId: job.id, status: job.status },
    });
  }

  const compensation = d.tasks.filter((t) => t.runOn === "cancel");
  const steps = compensation.length > 0 ? [...jobSteps.slice(0, -1), "compensate" as const, "finalize" as const] : [...jobSteps];
  // A job with children cancels its tree (DESIGN §7): the children were read in this
  // transaction, after its lock, and no child can be created under the job from its commit on.
  const hasTree = req.treeMember !== true && d.children.length > 0;
  if (hasTree) steps.splice(steps.length - 1, 0, "cancel_children");
  const record = newRecord({
    id: newId,
    jobId: job.id,
    taskKey: null,
    scope: "job",
    parentId: req.parentId,
    reason: req.reason,
    requestedBy: req.requestedBy,
    force: req.force,
    cascade: true,
    graceMs: req.graceMs ?? job.graceMs,
    now: d.now,
    steps,
    jobAttempt: job.attempt,
    executorNodeId: req.nodeId ?? null,
  });
  if (hasTree) record.descendants = [];
  attachToJob(d, record);

  const wasQueued = job.status === "queued";
  d.setJobStatus("cancelling", { cancellationId: record.id, reason: req.reason, requestedBy: req.requestedBy, force: req.force });
  instantStep(d, record, "block_dispatch", "completed", { jobStatus: "cancelling" });

  let pending = 0;
  for (const task of d.workTasks) {
    if (task.status === "pending") {
      cancelPending(d, record, task, req.reason ?? "job cancelled");
      pending += 1;
    }
  }
  instantStep(d, record, "cancel_pending_tasks", "completed", { cancelled: pending });

  const running = d.workTasks.filter((t) => t.status === "running" || t.status === "cancelling");
  for (const task of running) markCancelling(d, record, task, graceFor(d.job, task, req));
  for (const task of d.workTasks) {
    if ((task.status === "succeeded" || task.status === "failed") && task.attempt > 0) {
      record.tasks.push({ ...beforeStartReport(task), nodeId: task.nodeId, stoppedAt: task.finishedAt, outcome: "finished_first", exitCode: task.exitCode });
    }
  }

  if (wasQueued && compensation.length === 0 && !hasTree) {
    // Nothing ever ran: the cancel completes in this transaction (DESIGN §3: 200, record completed).
    instantStep(d, record, "signal_runners", "skipped", { runners: 0 });
    instantStep(d, record, "await_runners", "skipped", { runners: 0 });
    instantStep(d, record, "force_kill", "skipped", { runners: 0 });
    instantStep(d, record, "cleanup", "skipped", { reason: "nothing ran" });
    finalizeCancellation(d, record.id, { cleanupFailed: false });
    return { record, alreadyCancelled: false, escalated: false, toSignal: [], needsExecution: false };
  }
  return { record, alreadyCancelled: false, escalated: false, toSignal: toSignal(record), needsExecution: true };
}

/** A cancel of one task (DESIGN §3 "Task cancel"). */
export function requestTaskCancel(d: JobDraft, newId: string, key: string, req: TaskCancelRequest): CancelOutcome {
  const job = d.job;
  const task = d.task(key);
  if (isTerminalJob(job.status)) {
    throw new BelayError("JOB_ALREADY_FINISHED", `job ${job.id} already finished (${job.status}); nothing to cancel`, {
      details: { jobId: job.id, status: job.status },
    });
  }
  // Only a record of this job attempt can be a repeat: a resume starts the task over.
  const taskRecords = d.cancellations.filter((c) => c.scope === "task" && c.taskKey === key && c.jobAttempt === job.attempt);
  const repeat = taskRecords.at(-1);
  if (job.status === "cancelling") {
    const jobRecord = latestJobRecord(d);
    if (jobRecord !== undefined) return requestJobCancel(d, newId, { ...req, onlyIfPending: false, parentId: null });
  }
  if (repeat !== undefined && (task.status === "cancelling" || task.status === "cancelled")) {
    const escalated = req.force && !repeat.force && repeat.status === "in_progress";
    if (escalated) {
      repeat.force = true;
      d.putCancellation(repeat);
    }
    return { record: repeat, alreadyCancelled: true, escalated, toSignal: [], needsExecution: false };
  }
  if (isTerminalTask(task.status) || task.status === "cancelling") {
    throw new BelayError("TASK_ALREADY_FINISHED", `task "${key}" of job ${job.id} already finished (${task.status}); nothing to cancel`, {
      details: { jobId: job.id, taskKey: key, status: task.status },
    });
  }
  if (task.runOn === "cancel") {
    throw new BelayError("INVALID_REQUEST", `task "${key}" is a compensation task; it runs only as part of a job cancellation`, {
      details: { field: "taskKey", taskKey: key },
    });
  }

  const cascadeFollows = (edge: { onCancel: "cascade" | "skip" }): boolean => (req.cascade === null ? edge.onCancel === "cascade" : req.cascade);
  const record = newRecord({
    id: newId,
    jobId: job.id,
    taskKey: key,
    scope: "task",
    parentId: null,
    reason: req.reason,
    requestedBy: req.requestedBy,
    force: req.force,
    cascade: req.cascade ?? true,
    graceMs: req.graceMs ?? task.spec.graceMs ?? job.graceMs,
    now: d.now,
    steps: jobSteps,
    jobAttempt: job.attempt,
    executorNodeId: req.nodeId ?? null,
  });
  attachToJob(d, record);

  instantStep(d, record, "block_dispatch", "completed", { taskKey: key });
  const dependents = transitiveDependents(d.workTasks.map((t) => t.spec), key, cascadeFollows);
  let pending = 0;
  const reason = req.reason ?? `task "${key}" cancelled`;
  if (task.status === "pending") {
    cancelPending(d, record, task, reason);
    pending += 1;
  }
  for (const depKey of dependents) {
    const dep = d.task(depKey);
    if (dep.status === "pending") {
      cancelPending(d, record, dep, `cascade from "${key}"`);
      pending += 1;
    }
  }
  instantStep(d, record, "cancel_pending_tasks", "completed", { cancelled: pending, cascade: dependents.length });

  if (task.status === "running") {
    markCancelling(d, record, task, graceFor(d.job, task, req));
    return { record, alreadyCancelled: false, escalated: false, toSignal: toSignal(record), needsExecution: true };
  }
  instantStep(d, record, "signal_runners", "skipped", { runners: 0 });
  instantStep(d, record, "await_runners", "skipped", { runners: 0 });
  instantStep(d, record, "force_kill", "skipped", { runners: 0 });
  instantStep(d, record, "cleanup", "skipped", { reason: "nothing ran" });
  finalizeCancellation(d, record.id, { cleanupFailed: false });
  return { record, alreadyCancelled: false, escalated: false, toSignal: [], needsExecution: false };
}

/**
 * The `finalize` step. For a job record, every work task must have ended (invariant 3: a job
 * is `cancelled` only when every runner has exited). When every affected task had finished
 * before the cancel took effect the record is `too_late` and the job keeps its natural outcome.
 */
export function finalizeCancellation(d: JobDraft, recordId: string, result: { cleanupFailed: boolean }): CancellationRecord {
  const record = d.cancellation(recordId);
  if (record === undefined) throw new BelayError("NOT_FOUND", `cancellation ${recordId} not found`);
  if (record.status !== "in_progress") return record;
  const stopped = record.tasks.some((r) => r.outcome !== "finished_first");
  // A remote job that may still run makes the record partial until it is known to have stopped (DESIGN §3).
  const remoteRunsOn = pendingRemoteStops(record).length > 0;
  let status: CancellationStatus = result.cleanupFailed || remoteRunsOn ? "partial" : stopped ? "completed" : "too_late";
  if (record.scope === "job") {
    const unfinished = d.workTasks.filter((t) => !isTerminalTask(t.status));
    if (unfinished.length > 0) {
      throw new BelayError("INTERNAL", `cannot finalize cancellation ${record.id}: tasks still running: ${unfinished.map((t) => t.key).join(", ")}`);
    }
    if (d.job.status === "cancelling") {
      if (stopped) d.setJobStatus("cancelled", { cancellationId: record.id, reason: record.reason });
      else d.setJobStatus(naturalOutcome(d.tasks), { cancellationId: record.id });
    }
    if (!stopped && !result.cleanupFailed) status = "too_late";
  }
  const step = endStep(record, "finalize", d.now, "completed", { status });
  record.status = status;
  record.completedAt = d.now;
  record.durationMs = Math.max(0, Date.parse(d.now) - Date.parse(record.requestedAt));
  emitStep(d, record, step);
  if (d.job.cancellation?.id === record.id) d.job.cancellation = summarize(record);
  d.touchJob();
  d.putCancellation(record);
  // A task cancel may unblock `skip` dependents or end the job as `partial`.
  settle(d);
  return record;
}
