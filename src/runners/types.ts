/**
 * The seam between the engine and the things that execute one task attempt.
 *
 * The engine owns the policy (when to signal, how long the grace period is, when to force);
 * a runner owns the mechanism (process groups, worker threads, remote calls). A runner
 * never touches the store: everything it learns flows back through the callbacks of its
 * `RunContext` and the `exited` promise.
 */
import type { JobSpec, Json, TaskSpec } from "../core/model.ts";
import type { JobStatus } from "../core/states.ts";

export interface ProgressUpdate {
  ratio?: number;
  message?: string;
  data?: Json;
}

export interface RunContext {
  jobId: string;
  taskKey: string;
  attempt: number;
  spec: TaskSpec;
  /** The job's `params`. */
  params: Json;
  /** Scratch directory of this attempt; exists when `start` is called, removed by the engine's cleanup. */
  workDir: string;
  /** Directory whose files are kept after the task ends (`$BELAY_ARTIFACTS`); exists when `start` is called. */
  artifactsDir: string;
  /** The last checkpoint a previous attempt saved, or null. */
  lastCheckpoint: Json | null;
  onProgress(update: ProgressUpdate): void;
  onCheckpoint(data: Json): void;
  onLog(stream: "stdout" | "stderr" | "log", line: string): void;
  /** Something the task's author should know that is not an error of the task (e.g. an unreadable progress line). */
  onWarning?(message: string): void;
  /** Child jobs of this task (DESIGN §7); given by the engine. */
  children?: ChildJobs;
}

/** A child job as a runner sees it. */
export interface ChildJobInfo {
  id: string;
  name: string;
  status: JobStatus;
  /** The parent's cancel does not reach it. */
  detached: boolean;
  /** Task key → output, for the tasks that have one. */
  outputs: { [key: string]: Json };
  /** The first failed task's error, if any. */
  error: string | null;
}

/** What the engine lets a task do with child jobs: start them under it, cancel them, wait for them. */
export interface ChildJobs {
  /** Submit a child of this task's job; `idempotencyKey` finds the child an earlier attempt made. */
  submit(spec: Json, options?: { idempotencyKey?: string }): Promise<ChildJobInfo>;
  /** Submit a `job` task's child, its spec parsed (and checked) when the parent was submitted. */
  submitParsed(spec: JobSpec, options: { idempotencyKey: string }): Promise<ChildJobInfo>;
  /**
   * Cancel a child because the task was signalled: as part of its parent's cancel when there
   * is one. False when the task is not being cancelled (its node is shutting down: an
   * interruption, not a cancel): the child is left running for the task's next attempt.
   */
  cancel(childId: string, options: { force: boolean; reason: string | null }): Promise<boolean>;
  /** This task's children that have not ended (a new attempt takes over the one its interrupted attempt left). */
  live(): Promise<ChildJobInfo[]>;
  /** Resolves with the child once it has ended. */
  ended(childId: string): Promise<ChildJobInfo>;
}

export interface RunnerExit {
  /** `cancelled`: a `job` task whose child job was cancelled on its own (the task ends with it). */
  outcome: "succeeded" | "failed" | "cancelled";
  /** Process exit code; null for handlers and remote jobs, or when killed by a signal. */
  exitCode: number | null;
  /** The signal that ended the process, if any (e.g. "SIGKILL"). */
  signal: string | null;
  error: string | null;
  output: Json | null;
  /** True when `kill()` ended it. */
  forced: boolean;
  /** A cluster job that had already ended when the cancel reached it: it keeps its result (DESIGN §3). */
  finishedBeforeSignal?: boolean;
}

/** What the engine records so that a restarted engine can find an orphan without mistaking a reused pid. */
export interface RunnerIdentity {
  pid: number | null;
  /** Process start time in clock ticks since boot (`/proc/<pid>/stat` field 22), as a string. */
  pidStartTime: string | null;
  /** Remote job id, for remote tasks. */
  remoteId: string | null;
}

export interface RemoteCancelResult {
  attempted: boolean;
  cancelled: boolean;
  error: string | null;
  /** The remote job the cancel was for. */
  remoteId?: string;
  /** The runner saw the job end after the cancel (a Slurm job that left the cluster); absent: accepted and not forced. */
  stopped?: boolean;
  /** The job's final state as its cluster reported it (`CANCELLED`, `COMPLETED`…), when the runner saw it end. */
  finalState?: string;
}

export interface RunningTask {
  readonly identity: RunnerIdentity;
  /**
   * Deliver the cooperative stop: SIGTERM to the process group, the AbortSignal of a
   * handler, the adapter's cancel of a remote job. Resolves once delivered (the
   * acknowledgement), or false if the runner was already gone. Never rejects.
   */
  signal(): Promise<boolean>;
  /** Force the stop: SIGKILL to the process group, terminate the worker thread. Never rejects. */
  kill(): Promise<void>;
  /** Resolves when the runner has fully exited: for a process, when its whole process group is gone. Never rejects. */
  readonly exited: Promise<RunnerExit>;
  /** Remote tasks: what the adapter's cancel did (after `signal()`). */
  remoteCancel?: RemoteCancelResult;
}

export interface Runner {
  /** Start one attempt. Rejects only if nothing was started (e.g. the command does not exist). */
  start(ctx: RunContext): Promise<RunningTask>;
  /**
   * Follow again a job that outlives Belay (a Slurm job) after a restart: its status and its
   * output after the `skipLines` lines already in the task log. Only such runners have it.
   */
  reattach?(ctx: RunContext, remoteId: string, skipLines: number): RunningTask;
  close(): Promise<void>;
}
