/**
 * The pure rules of a job's life outside cancellation: creation, readiness of tasks, claims,
 * the end of an attempt (with retries and failFast), progress, checkpoints and resume.
 * Each function changes a `JobDraft`; the store writes the draft's changes in one transaction.
 */
import { BelayError } from "./errors.ts";
import type { JobDraft } from "./draft.ts";
import type { Job, JobSpec, Json, RemoteStop, StopMode, StopOutcome, Task, TaskStopReport } from "./model.ts";
import { countPendingRemote, emitRemoteCancel } from "./remote-stops.ts";
import { finishDrainStops } from "./drain.ts";
import { graceFor } from "./grace.ts";
import { refreshProgress, settle } from "./settle.ts";
import { resumableJobStatuses } from "./states.ts";

export function newJob(
  spec: JobSpec,
  ids: {
    id: string;
    owner: string;
    now: string;
    scheduleId?: string | null;
    parent?: { jobId: string; taskKey: string | null; depth: number } | null;
    submitterRole?: string | null;
  },
): Job {
  const tasks: Task[] = spec.tasks.map((t) => ({
    key: t.key,
    kind: t.kind,
    spec: t,
    dependsOn: t.dependsOn,
    runOn: t.runOn,
    status: "pending",
    attempt: 0,
    retries: t.retries,
    retriesUsed: 0,
    exitCode: null,
    error: null,
    output: null,
    progress: null,
    checkpoint: null,
    startedAt: null,
    finishedAt: null,
    nodeId: null,
    ready: false,
  }));
  return {
    id: ids.id,
    name: spec.name,
    queue: spec.queue,
    priority: spec.priority,
    labels: spec.labels,
    owner: ids.owner,
    params: spec.params,
    tasks,
    status: "queued",
    progress: { ratio: 0, message: null },
    timeoutMs: spec.timeoutMs,
    queueTimeoutMs: spec.queueTimeoutMs,
    graceMs: spec.graceMs,
    failFast: spec.failFast,
    attempt: 1,
    idempotencyKey: spec.idempotencyKey,
    scheduleId: ids.scheduleId ?? null,
    createdAt: ids.now,
    startedAt: null,
    finishedAt: null,
    cancellation: null,
    parentJobId: ids.parent?.jobId ?? null,
    parentTaskKey: ids.parent?.taskKey ?? null,
    onParentCancel: spec.onParentCancel ?? "cancel",
    depth: ids.parent === null || ids.parent === undefined ? 0 : ids.parent.depth + 1,
    submitterRole: ids.submitterRole ?? null,
  };
}

/**
 * When a job times out (epoch ms): `queueTimeoutMs` after its creation while queued,
 * `timeoutMs` after its start while running. Stores keep these beside the job so the
 * timeout sweep is an index range.
 */
export function jobDeadlines(job: Job): { queueDeadlineMs: number | null; runDeadlineMs: number | null } {
  return {
    queueDeadlineMs: job.queueTimeoutMs === null ? null : Date.parse(job.createdAt) + job.queueTimeoutMs,
    runDeadlineMs: job.timeoutMs === null || job.startedAt === null ? null : Date.parse(job.startedAt) + job.timeoutMs,
  };
}

/**
 * The stall timeout of a task (DESIGN §7); null means no watchdog. The job's value is copied
 * onto each task that has none of its own when the spec is validated (`parseJobSpec`).
 */
export function stallTimeoutFor(task: Pick<Task, "spec">): number | null {
  return task.spec.stallTimeoutMs ?? null;
}

export interface ClaimResult {
  task: Task;
  /** The last checkpoint an earlier attempt saved. */
  lastCheckpoint: Json | null;
}

/**
 * Start the next attempt of a ready task. Returns null when the task can no longer be
 * claimed (its job is being cancelled, or it is not pending any more): that is how the
 * claim of a task and the cancel of its job cannot both win.
 */
export function claimTask(d: JobDraft, key: string, nodeId: string): ClaimResult | null {
  if (d.job.status !== "queued" && d.job.status !== "running") return null;
  const task = d.task(key);
  if (task.status !== "pending" || !task.ready || task.runOn !== "normal") return null;
  task.attempt += 1;
  task.nodeId = nodeId;
  task.ready = false;
  task.exitCode = null;
  task.error = null;
  task.output = null;
  task.progress = null;
  d.setTaskStatus(key, "running", { nodeId });
  if (d.job.status === "queued") d.setJobStatus("running");
  return { task, lastCheckpoint: task.checkpoint };
}

/** How an attempt ended, as its runner saw it. */
export interface AttemptEnd {
  /** `cancelled`: the task ended cancelled without a cancel of its own (a `job` task whose child job was cancelled). */
  outcome: "succeeded" | "failed" | "cancelled";
  exitCode: number | null;
  error: string | null;
  output: Json | null;
  /** The runner received the cancel signal before it exited (DESIGN §3: it counts as cancelled). */
  signalDelivered: boolean;
  /** `kill()` ended it. */
  forced: boolean;
  /** Remote tasks: what the adapter's cancel did, if it was called, and the remote job's id. */
  remoteCancel?: { attempted: boolean; cancelled: boolean; error: string | null; remoteId?: string | null; stopped?: boolean; finalState?: string } | null;
  /** When this node sent the cancel signal, and when the runner acknowledged it. */
  signalledAt?: string | null;
  acknowledgedAt?: string | null;
  /** The node shut down under it: not the task's failure, so it goes back to pending without using a retry. */
  interrupted?: boolean;
}

export interface AttemptEndResult {
  /** False when the attempt was not the task's current running attempt (a late or repeated report). */
  applied: boolean;
  /** Running tasks that failFast moved to `cancelling`: the engine must stop their runners within their grace. */
  toStop: Array<{ key: string; graceMs: number }>;
}

export function endAttempt(d: JobDraft, key: string, attempt: number, end: AttemptEnd): AttemptEndResult {
  const task = d.task(key);
  if (task.attempt !== attempt || (task.status !== "running" && task.status !== "cancelling")) {
    return { applied: false, toStop: [] };
  }
  task.exitCode = end.exitCode;
  task.error = end.error;
  task.output = end.output;
  const toStop: AttemptEndResult["toStop"] = [];
  if (task.status === "cancelling") {
    const stopped = end.signalDelivered || end.forced;
    const status = stopped || end.outcome === "cancelled" ? "cancelled" : end.outcome;
    const mode = stopMode(end, stopped);
    d.setTaskStatus(key, status, { exitCode: end.exitCode, error: end.error, stopMode: mode });
    reportStop(d, task, end, stopped ? "mid_run" : "finished_first", mode);
  } else if (end.interrupted === true && d.job.status === "running") {
    d.setTaskStatus(key, "pending", { interrupted: true });
    task.ready = true;
    // A drained node's record of handing the attempt back (core/drain.ts) learns how it stopped.
    reportStop(d, task, end, "mid_run", stopMode(end, true));
  } else if (end.outcome === "succeeded") {
    d.setTaskStatus(key, "succeeded", { exitCode: end.exitCode });
  } else if (end.outcome === "cancelled") {
    // Its child job was cancelled on its own: the task ends with it (DESIGN §7), through `cancelling` as every cancelled run does.
    d.setTaskStatus(key, "cancelling", { reason: end.error });
    d.setTaskStatus(key, "cancelled", { reason: end.error });
  } else if (task.retriesUsed < task.retries && d.job.status === "running") {
    task.retriesUsed += 1;
    d.setTaskStatus(key, "pending");
    task.ready = true;
    d.emit("belay.task.failed", key, { attempt, exitCode: end.exitCode, error: end.error, retrying: true });
  } else {
    d.setTaskStatus(key, "failed", { exitCode: end.exitCode, error: end.error });
    if (d.job.failFast && d.job.status === "running") toStop.push(...failFast(d, key));
  }
  // An attempt a drain meant to hand back ended on its own first: its record says so.
  reportStop(d, task, end, "finished_first", null);
  finishDrainStops(d);
  settle(d);
  return { applied: true, toStop };
}

/** failFast: a failed task cancels its independent branches; the job ends `failed`. */
function failFast(d: JobDraft, failedKey: string): AttemptEndResult["toStop"] {
  const toStop: AttemptEndResult["toStop"] = [];
  for (const t of d.workTasks) {
    if (t.status === "pending") {
      d.setTaskStatus(t.key, "cancelled", { reason: `failFast: task "${failedKey}" failed` });
    } else if (t.status === "running") {
      d.setTaskStatus(t.key, "cancelling", { reason: `failFast: task "${failedKey}" failed` });
      toStop.push({ key: t.key, graceMs: graceFor(d.job, t) });
    }
  }
  return toStop;
}

/** How a signalled runner stopped; a remote job whose cancel was not accepted was not stopped at all. */
function stopMode(end: AttemptEnd, stopped: boolean): StopMode | null {
  if (!stopped) return null;
  if (end.remoteCancel?.attempted === true && !end.remoteCancel.cancelled) return "remote_refused";
  if (end.forced) return "forced";
  return end.remoteCancel?.cancelled === true ? "remote" : "graceful";
}

/**
 * A remote or Slurm task's side of its stop. Its job is known to have stopped only when the
 * cancel was accepted and the runner then saw the job end (not when the grace ran out and
 * the task was force-stopped while the job still ran). A Slurm runner's kill waits for the
 * job to leave the cluster, so it says itself whether the job was seen to end (`stopped`).
 */
function remoteStop(task: Task, end: AttemptEnd, now: string): RemoteStop | null {
  const cancel = end.remoteCancel;
  if ((task.kind !== "remote" && task.kind !== "slurm") || cancel === null || cancel === undefined || !cancel.attempted) return null;
  const stopped = cancel.stopped ?? (cancel.cancelled && !end.forced);
  return {
    adapter: task.kind === "slurm" ? "slurm" : (task.spec.remote?.adapter ?? ""),
    ...(task.kind === "slurm" ? { runner: "slurm" as const } : {}),
    remoteId: cancel.remoteId ?? null,
    cancelled: cancel.cancelled,
    stopped,
    attempts: 1,
    error: cancel.error,
    stoppedAt: stopped ? now : null,
    finalState: stopped ? (cancel.finalState ?? "cancelled") : null,
  };
}

/** Fill in, on every open cancellation record that awaits this task, how it stopped. */
function reportStop(d: JobDraft, task: Task, end: AttemptEnd, outcome: StopOutcome, mode: StopMode | null): void {
  for (const record of d.openCancellations()) {
    const report = record.tasks.find((r) => r.key === task.key && r.attempt === task.attempt);
    if (report === undefined || report.stoppedAt !== null) continue;
    // Written once per task (stoppedAt guards it), so each remote cancel is counted once.
    report.stoppedAt = d.now;
    report.signalledAt = end.signalledAt ?? report.signalledAt;
    report.acknowledgedAt = end.acknowledgedAt ?? report.acknowledgedAt;
    const remote = end.remoteCancel;
    if (remote?.attempted === true) {
      record.remote.attempted += 1;
      if (remote.cancelled) record.remote.cancelled += 1;
      else record.errors.push(`remote ${task.key}: cancel failed${remote.error === null ? "" : `: ${remote.error}`}`);
    }
    report.outcome = outcome;
    report.mode = mode;
    report.exitCode = task.exitCode;
    const stop = outcome === "mid_run" ? remoteStop(task, end, d.now) : null;
    if (stop !== null) {
      report.remote = stop;
      countPendingRemote(record);
    }
    if (outcome === "mid_run") {
      if (mode === "forced") record.runnersTerminated.forced += 1;
      else if (mode !== "remote_refused") record.runnersTerminated.graceful += 1;
    }
    record.affectedTasks.push({ key: task.key, from: "running", to: task.status });
    d.putCancellation(record);
    if (stop !== null && !stop.cancelled) emitRemoteCancel(d, record, report as TaskStopReport & { remote: RemoteStop }, "refused", stop.error);
  }
}

export function recordProgress(
  d: JobDraft,
  key: string,
  attempt: number,
  update: { ratio?: number; message?: string; data?: Json },
): boolean {
  const task = d.task(key);
  if (task.attempt !== attempt || (task.status !== "running" && task.status !== "cancelling")) return false;
  const ratio = clampRatio(update.ratio ?? task.progress?.ratio ?? 0);
  const message = update.message ?? task.progress?.message ?? null;
  task.progress = { ratio, message };
  d.touchTask(key);
  const data: Record<string, Json> = { attempt, ratio, message };
  if (update.data !== undefined) data["data"] = update.data;
  d.emit("belay.task.progress", key, data);
  refreshProgress(d, update.message ?? null);
  return true;
}

/** A warning about a running attempt (e.g. a progress line that could not be read): one event, nothing else changes. */
export function recordWarning(d: JobDraft, key: string, attempt: number, message: string): boolean {
  const task = d.task(key);
  if (task.attempt !== attempt || (task.status !== "running" && task.status !== "cancelling")) return false;
  d.emit("belay.task.warning", key, { attempt, message });
  return true;
}

function clampRatio(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.max(0, Math.min(1, value));
}

export function saveCheckpoint(d: JobDraft, key: string, attempt: number, data: Json): boolean {
  const task = d.task(key);
  if (task.attempt !== attempt || (task.status !== "running" && task.status !== "cancelling")) return false;
  task.checkpoint = data;
  d.touchTask(key);
  return true;
}

/**
 * Resume: a cancelled, failed or partial job starts a new attempt (attempt + 1) from
 * `queued`. Finished attempts are not rewritten — their outcomes stay in the event log and
 * the runner history; succeeded tasks keep their results, the others start over and a
 * handler gets its last checkpoint.
 */
export function resumeJob(d: JobDraft, requestedBy: string): void {
  const job = d.job;
  if (!resumableJobStatuses.has(job.status)) {
    throw new BelayError("JOB_NOT_RESUMABLE", `job ${job.id} is ${job.status}; only cancelled, failed or partial jobs can be resumed`, {
      details: { jobId: job.id, status: job.status },
    });
  }
  const from = job.status;
  job.attempt += 1;
  job.status = "queued";
  job.finishedAt = null;
  d.touchJob();
  for (const task of d.tasks) {
    if (task.status === "succeeded" && task.runOn === "normal") continue;
    task.status = "pending";
    task.ready = false;
    task.retriesUsed = 0;
    task.exitCode = null;
    task.error = null;
    task.finishedAt = null;
    task.progress = null;
    d.touchTask(task.key);
  }
  d.emit("belay.job.resumed", null, { from, status: "queued", attempt: job.attempt, requestedBy });
  settle(d);
}

/**
 * Start a compensation task (`runOn: "cancel"`) during a job cancellation. It bypasses the
 * dispatch block on purpose: it is the cancellation's own work, run after every runner of
 * the job has exited. Returns null when one of its dependencies did not succeed (it is skipped).
 */
export function startCompensation(d: JobDraft, key: string, nodeId: string): ClaimResult | null {
  const task = d.task(key);
  if (task.runOn !== "cancel" || task.status !== "pending" || d.job.status !== "cancelling") return null;
  const blocker = task.dependsOn.map((dep) => d.task(dep.key)).find((dep) => dep.status !== "succeeded");
  if (blocker !== undefined) {
    d.setTaskStatus(key, "skipped", { reason: `compensation dependency "${blocker.key}" ${blocker.status}` });
    return null;
  }
  task.attempt += 1;
  task.nodeId = nodeId;
  task.exitCode = null;
  task.error = null;
  task.output = null;
  d.setTaskStatus(key, "running", { nodeId, compensation: true });
  return { task, lastCheckpoint: task.checkpoint };
}
