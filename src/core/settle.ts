/**
 * Bringing a job up to date after any change (`settle`), its natural outcome and its
 * progress. Its own module so that the lifecycle and the cancel rules both call it without
 * importing one another (lifecycle → drain → cancellation → settle has no way back).
 */
import type { JobDraft } from "./draft.ts";
import type { Progress, Task } from "./model.ts";
import { isTerminalTask } from "./states.ts";
import type { JobStatus } from "./states.ts";

/** Status of a finished job that no job-level cancel stopped (DESIGN §2). */
export function naturalOutcome(tasks: readonly Task[]): JobStatus {
  const work = tasks.filter((t) => t.runOn === "normal");
  if (work.some((t) => t.status === "failed")) return "failed";
  if (work.every((t) => t.status === "succeeded")) return "succeeded";
  return "partial";
}

/**
 * Bring a queued or running job up to date after any change: mark pending tasks ready when
 * their dependencies are satisfied, skip those whose dependencies failed or were skipped,
 * recompute progress, and finish the job when its last work task has ended.
 *
 * A dependency is satisfied by `succeeded`, and by `cancelled`: a cancel that should stop
 * the dependents (cascade) has already cancelled them when it was accepted, so a cancelled
 * dependency left for a pending task is one whose edge says `skip`.
 */
export function settle(d: JobDraft): void {
  if (d.job.status !== "queued" && d.job.status !== "running") return;
  let changed = true;
  while (changed) {
    changed = false;
    for (const task of d.workTasks) {
      if (task.status !== "pending" || task.ready) continue;
      const deps = task.dependsOn.map((dep) => d.task(dep.key));
      const blocker = deps.find((dep) => dep.status === "failed" || dep.status === "skipped");
      if (blocker !== undefined) {
        d.setTaskStatus(task.key, "skipped", { reason: `dependency "${blocker.key}" ${blocker.status}` });
        changed = true;
      } else if (deps.every((dep) => dep.status === "succeeded" || dep.status === "cancelled")) {
        task.ready = true;
        d.touchTask(task.key);
      }
    }
  }
  refreshProgress(d, null);
  if (d.workTasks.every((t) => isTerminalTask(t.status))) {
    for (const task of d.tasks) {
      if (task.runOn === "cancel" && task.status === "pending") {
        d.setTaskStatus(task.key, "skipped", { reason: "the job was not cancelled" });
      }
    }
    // A job that never started (every task skipped or cancelled while queued) passes through running.
    if (d.job.status === "queued") d.setJobStatus("running");
    d.setJobStatus(naturalOutcome(d.tasks));
  }
}

/**
 * How much of one task's work is done, 0..1: the job's progress is the mean over its work
 * tasks. It is the work done, not the tasks ended: a succeeded task counts whole, a task
 * that ran and then was cancelled or failed counts for the progress it last reported, and
 * a task that never ran (pending, skipped, cancelled before it started) counts nothing.
 */
export function workDone(task: Pick<Task, "status" | "progress">): number {
  if (task.status === "succeeded") return 1;
  if (task.status === "pending" || task.status === "skipped") return 0;
  return task.progress?.ratio ?? 0;
}

/** Recompute the job's progress from its work tasks; `message` replaces the last one when given. */
export function refreshProgress(d: JobDraft, message: string | null): void {
  const work = d.workTasks;
  if (work.length === 0) return;
  let sum = 0;
  for (const t of work) sum += workDone(t);
  const ratio = Math.min(1, sum / work.length);
  const next: Progress = { ratio, message: message ?? d.job.progress.message };
  if (next.ratio !== d.job.progress.ratio || next.message !== d.job.progress.message) {
    d.job.progress = next;
    d.touchJob();
  }
}
