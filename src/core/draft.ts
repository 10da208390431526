/**
 * A `JobDraft` is one job, loaded inside a store transaction, that the pure rules of core
 * change in memory. It records what changed so the store writes exactly that, in the same
 * transaction. Every status write is checked against the state machine, and every state
 * change appends its event: no change can be written without its event, or vice versa.
 */
import { BelayError } from "./errors.ts";
import type { CancellationRecord, ChildRef, EventType, Job, Json, NewEvent, Task } from "./model.ts";
import { assertJobTransition, assertTaskTransition, isTerminalJob, isTerminalTask } from "./states.ts";
import type { JobStatus, TaskStatus } from "./states.ts";

/** What a store loads for a mutation: the job with its tasks, and its open or latest cancellation records. */
export interface JobSnapshot {
  job: Job;
  /** Records of this job that are `in_progress`, plus the latest job-scope record; oldest first. */
  cancellations: CancellationRecord[];
  /**
   * The job's children, read in the mutation's transaction (after its lock): a cancel knows
   * whether it has a tree to cancel. Absent for a job being inserted.
   */
  children?: ChildRef[];
}

export interface JobChanges {
  job: Job;
  jobChanged: boolean;
  changedTasks: Task[];
  events: NewEvent[];
  cancellations: CancellationRecord[];
  /** Tasks whose pool slots must be given back (they left `running`/`cancelling`). */
  releasedTasks: string[];
}

const taskEventByStatus: Partial<Record<TaskStatus, EventType>> = {
  running: "belay.task.started",
  succeeded: "belay.task.succeeded",
  failed: "belay.task.failed",
  cancelled: "belay.task.cancelled",
  skipped: "belay.task.skipped",
};

const jobEventByStatus: Partial<Record<JobStatus, EventType>> = {
  running: "belay.job.started",
  succeeded: "belay.job.succeeded",
  failed: "belay.job.failed",
  partial: "belay.job.partial",
  cancelled: "belay.job.cancelled",
  cancelling: "belay.job.cancel_requested",
};

export class JobDraft {
  readonly job: Job;
  readonly now: string;
  readonly cancellations: CancellationRecord[];
  readonly children: readonly ChildRef[];
  private jobChanged = false;
  private readonly changedTaskKeys = new Set<string>();
  private readonly changedCancellationIds = new Set<string>();
  private readonly released = new Set<string>();
  private readonly events: NewEvent[] = [];
  private readonly tasksByKey: Map<string, Task>;

  constructor(snapshot: JobSnapshot, now: string) {
    this.job = snapshot.job;
    this.cancellations = snapshot.cancellations;
    this.children = snapshot.children ?? [];
    this.now = now;
    this.tasksByKey = new Map(snapshot.job.tasks.map((t) => [t.key, t]));
  }

  task(key: string): Task {
    const task = this.tasksByKey.get(key);
    if (task === undefined) {
      throw new BelayError("TASK_NOT_FOUND", `job ${this.job.id} has no task "${key}"`, {
        details: { jobId: this.job.id, taskKey: key },
      });
    }
    return task;
  }

  get tasks(): Task[] {
    return this.job.tasks;
  }

  /** Tasks of the job's normal graph (not compensation tasks). */
  get workTasks(): Task[] {
    return this.job.tasks.filter((t) => t.runOn === "normal");
  }

  setJobStatus(to: JobStatus, data: Record<string, Json> = {}): void {
    const job = this.job;
    assertJobTransition(job.status, to, job.id);
    const from = job.status;
    job.status = to;
    if (to === "running" && job.startedAt === null) job.startedAt = this.now;
    if (isTerminalJob(to)) {
      job.finishedAt = this.now;
      if (to === "succeeded") job.progress = { ratio: 1, message: job.progress.message };
    }
    this.jobChanged = true;
    const type = jobEventByStatus[to];
    if (type !== undefined) this.emit(type, null, { from, status: to, ...data });
  }

  /** Any change to the job besides its status (progress, attempt, cancellation summary). */
  touchJob(): void {
    this.jobChanged = true;
  }

  setTaskStatus(key: string, to: TaskStatus, extra: Record<string, Json> = {}): Task {
    let data = extra;
    const task = this.task(key);
    assertTaskTransition(task.status, to, this.job.id, key);
    const from = task.status;
    task.status = to;
    if (to === "running") {
      task.startedAt = this.now;
      task.finishedAt = null;
    }
    if (isTerminalTask(to)) {
      task.finishedAt = this.now;
      if (task.startedAt !== null && from !== "pending") data = { ...data, durationMs: Date.parse(this.now) - Date.parse(task.startedAt) };
    }
    if ((from === "running" || from === "cancelling") && to !== "cancelling") this.released.add(key);
    this.changedTaskKeys.add(key);
    const type = taskEventByStatus[to];
    if (type !== undefined) this.emit(type, key, { from, status: to, attempt: task.attempt, ...data });
    return task;
  }

  /** Any change to a task besides its status (progress, checkpoint, readiness). */
  touchTask(key: string): Task {
    const task = this.task(key);
    this.changedTaskKeys.add(key);
    return task;
  }

  emit(type: EventType, taskKey: string | null, data: Record<string, Json>): void {
    this.events.push({ type, jobId: this.job.id, taskKey, time: this.now, data });
  }

  cancellation(id: string): CancellationRecord | undefined {
    return this.cancellations.find((c) => c.id === id);
  }

  putCancellation(record: CancellationRecord): void {
    if (!this.cancellations.includes(record)) this.cancellations.push(record);
    this.changedCancellationIds.add(record.id);
  }

  /** The job's `in_progress` records. */
  openCancellations(): CancellationRecord[] {
    return this.cancellations.filter((c) => c.status === "in_progress");
  }

  changes(): JobChanges {
    return {
      job: this.job,
      jobChanged: this.jobChanged,
      changedTasks: this.job.tasks.filter((t) => this.changedTaskKeys.has(t.key)),
      events: this.events,
      cancellations: this.cancellations.filter((c) => this.changedCancellationIds.has(c.id)),
      releasedTasks: [...this.released],
    };
  }
}
