/**
 * The seam between the engine and the things that execute one task attempt.
 *
 * The engine owns the policy (when to signal, how long the grace period is, when to force);
 * a runner owns the mechanism (process groups, worker threads, remote calls). A runner
 * never touches the store: everything it learns flows back through the callbacks of its
 * `RunContext` and the `exited` promise.
 */
import type { Json, TaskSpec } from "../core/model.ts";

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
}

export interface RunnerExit {
  outcome: "succeeded" | "failed";
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
