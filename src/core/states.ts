/**
 * Job and task state machines of DESIGN §2, as data. Every write of a status goes through
 * `assertJobTransition` / `assertTaskTransition`: an illegal transition is an error, never
 * a silent write.
 */
import { BelayError } from "./errors.ts";

export const jobStatuses = ["queued", "running", "cancelling", "succeeded", "failed", "partial", "cancelled"] as const;
export type JobStatus = (typeof jobStatuses)[number];

export const taskStatuses = ["pending", "running", "cancelling", "succeeded", "failed", "cancelled", "skipped"] as const;
export type TaskStatus = (typeof taskStatuses)[number];

const jobTransitions: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ["running", "cancelled", "cancelling"],
  // A running job finishes on its own, or a cancel moves it to `cancelling`.
  running: ["succeeded", "failed", "partial", "cancelling"],
  // Every task had already finished before the cancel took effect: the job keeps its
  // natural outcome (the record says `too_late`).
  cancelling: ["cancelled", "succeeded", "failed", "partial"],
  succeeded: [],
  failed: [],
  partial: [],
  cancelled: [],
};

const taskTransitions: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  pending: ["running", "cancelled", "skipped"],
  // `running → pending` is a failed attempt with retries left (attempt + 1).
  running: ["succeeded", "failed", "cancelling", "pending"],
  cancelling: ["cancelled", "succeeded", "failed"],
  succeeded: [],
  failed: [],
  cancelled: [],
  skipped: [],
};

export const terminalJobStatuses: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "partial", "cancelled"]);
export const terminalTaskStatuses: ReadonlySet<TaskStatus> = new Set(["succeeded", "failed", "cancelled", "skipped"]);
/** Job statuses a resume accepts (DESIGN §3). */
export const resumableJobStatuses: ReadonlySet<JobStatus> = new Set(["cancelled", "failed", "partial"]);

export function isTerminalJob(status: JobStatus): boolean {
  return terminalJobStatuses.has(status);
}

export function isTerminalTask(status: TaskStatus): boolean {
  return terminalTaskStatuses.has(status);
}

export function canTransitionJob(from: JobStatus, to: JobStatus): boolean {
  return jobTransitions[from].includes(to);
}

export function canTransitionTask(from: TaskStatus, to: TaskStatus): boolean {
  return taskTransitions[from].includes(to);
}

export function assertJobTransition(from: JobStatus, to: JobStatus, jobId: string): void {
  if (!canTransitionJob(from, to)) {
    throw new BelayError("ILLEGAL_TRANSITION", `job ${jobId}: illegal transition ${from} → ${to}`, {
      details: { jobId, from, to },
    });
  }
}

export function assertTaskTransition(from: TaskStatus, to: TaskStatus, jobId: string, key: string): void {
  if (!canTransitionTask(from, to)) {
    throw new BelayError("ILLEGAL_TRANSITION", `task ${jobId}/${key}: illegal transition ${from} → ${to}`, {
      details: { jobId, taskKey: key, from, to },
    });
  }
}

/** Every allowed transition, for tests and docs. */
export function allJobTransitions(): Array<[JobStatus, JobStatus]> {
  return jobStatuses.flatMap((from) => jobTransitions[from].map((to): [JobStatus, JobStatus] => [from, to]));
}

export function allTaskTransitions(): Array<[TaskStatus, TaskStatus]> {
  return taskStatuses.flatMap((from) => taskTransitions[from].map((to): [TaskStatus, TaskStatus] => [from, to]));
}
