/**
 * The grace of a runner between its signal and its kill: its upper limit, and which of the
 * request's, the task's and the job's values applies. Its own module so that the cancel and
 * drain rules and the lifecycle read it without importing one another.
 */
import type { Job, Task } from "./model.ts";

/** Largest `graceMs` (job, task, cancel request, a node's shutdown): 24 hours. */
export const maxGraceMs = 24 * 60 * 60 * 1000;

/**
 * Grace of one runner between its signal and its kill: a request's `graceMs` wins, then
 * the task's own, then the job's. `force` means none.
 */
export function graceFor(job: Job, task: Task, req: { force: boolean; graceMs: number | null } = { force: false, graceMs: null }): number {
  if (req.force) return 0;
  return req.graceMs ?? task.spec.graceMs ?? job.graceMs;
}
