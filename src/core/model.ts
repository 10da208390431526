/**
 * Belay's public model (DESIGN §1).
 *
 * Terminology:
 * - **Job**: a small graph of tasks submitted together; it has one status and one owner.
 * - **Task**: one node of the graph, run by a runner; `key` is unique within its job.
 * - **Attempt**: one execution of a task by a runner. Retries and resumes start new attempts;
 *   a finished attempt is never rewritten.
 * - **Runner**: what executes one attempt: a child process (own process group), a worker
 *   thread running a handler, or a handle on a remote job.
 * - **Cancellation**: the record of one cancel request and of its execution, step by step.
 * - **Event**: one entry of a job's append-only log (CloudEvents types `belay.*`).
 * - **Node**: one engine process (embedded server or worker) that claims and runs tasks.
 *
 * Times are ISO-8601 strings; durations carry their unit in their name (`graceMs`).
 */
import type { JobStatus, TaskStatus } from "./states.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type TaskKind = "process" | "handler" | "remote" | "slurm" | "job";

/** What a child job does when its parent is cancelled (DESIGN §7): `cancel` (the default) or `detach` (keeps running). */
export type OnParentCancel = "cancel" | "detach";
export type CancelPolicy = "cascade" | "skip";

export interface Dependency {
  key: string;
  /** What happens to this task when the dependency is cancelled on its own. Default `cascade`. */
  onCancel: CancelPolicy;
}

/** An env value: text, or a server-side secret resolved when the process starts (never stored). */
export type EnvValue = string | { secret: string };

export interface ProcessSpec {
  command: string[] | string;
  shell?: boolean;
  cwd?: string;
  env?: Record<string, EnvValue>;
}

/** Where a process task came from when it was submitted as a template task. */
export interface TemplateUse {
  name: string;
  params: { [key: string]: Json };
}

export interface HandlerSpec {
  handler: string;
  input?: Json;
}

export interface RemoteSpec {
  adapter: string;
  input?: Json;
}

/** A batch job on a Slurm cluster: `script` (a batch script) or `command` (wrapped by sbatch). */
export interface SlurmSpec {
  script?: string;
  command?: string;
  partition?: string;
  /** Slurm's time limit syntax (`--time`), e.g. "10", "1:30:00", "2-00:00:00". */
  time?: string;
  cpus?: number;
  /** Slurm's memory syntax (`--mem`), e.g. "512M", "4G". */
  memory?: string;
  gres?: string;
  env?: Record<string, string>;
  /** Extra `sbatch` options, each one `--name=value` argument. */
  sbatchArgs?: string[];
}

/** A task spec after validation: dependencies normalised, defaults filled in. */
export interface TaskSpec {
  key: string;
  kind: TaskKind;
  dependsOn: Dependency[];
  /** Extra attempts after a failure, per job attempt. Default 0. */
  retries: number;
  /** Overrides the job's grace period for this task. */
  graceMs?: number;
  /** Overrides the job's stall timeout for this task (DESIGN §7 stall watchdog). */
  stallTimeoutMs?: number | null;
  /** `cancel`: a compensation task, run only after a job cancellation. */
  runOn: "normal" | "cancel";
  /** Resource pools this task holds a slot of while it runs. */
  uses: string[];
  process?: ProcessSpec;
  /** Set on a process task expanded from a template: its `process` is the template's, not the submitter's. */
  template?: TemplateUse;
  handler?: HandlerSpec;
  remote?: RemoteSpec;
  slurm?: SlurmSpec;
  /** A `job` task: the child job it runs (validated, and checked against the policy, with the parent at submit). */
  job?: JobSpec;
}

/** A job spec after validation. */
export interface JobSpec {
  name: string;
  queue: string;
  priority: number;
  labels: Record<string, string>;
  params: Json;
  tasks: TaskSpec[];
  timeoutMs: number | null;
  queueTimeoutMs: number | null;
  /**
   * Cancel a running task (requestedBy `system`, reason `stalled`) that reported no progress,
   * checkpoint or log line for this long. Absent (specs stored before it existed) or null: no watchdog.
   */
  stallTimeoutMs?: number | null;
  graceMs: number;
  failFast: boolean;
  idempotencyKey: string | null;
  /** For a child job: what its parent's cancel does to it. Absent: `cancel`. */
  onParentCancel?: OnParentCancel;
}

export interface Progress {
  ratio: number;
  message: string | null;
}

export interface Task {
  key: string;
  kind: TaskKind;
  spec: TaskSpec;
  dependsOn: Dependency[];
  runOn: "normal" | "cancel";
  status: TaskStatus;
  /** Attempt number of the latest attempt, 0 before the first start. Increases across retries and resumes. */
  attempt: number;
  retries: number;
  /** Failed attempts in the current job attempt. */
  retriesUsed: number;
  exitCode: number | null;
  error: string | null;
  output: Json | null;
  progress: Progress | null;
  checkpoint: Json | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Node that runs the current attempt. */
  nodeId: string | null;
  /** A pending task whose dependencies are satisfied: it may be claimed. */
  ready: boolean;
}

export interface CancellationSummary {
  id: string;
  status: CancellationStatus;
  scope: CancellationScope;
  taskKey: string | null;
  reason: string | null;
  requestedBy: string;
  requestedAt: string;
  completedAt: string | null;
}

export interface Job {
  id: string;
  name: string;
  queue: string;
  priority: number;
  labels: Record<string, string>;
  owner: string;
  params: Json;
  tasks: Task[];
  status: JobStatus;
  progress: Progress;
  timeoutMs: number | null;
  queueTimeoutMs: number | null;
  graceMs: number;
  failFast: boolean;
  attempt: number;
  idempotencyKey: string | null;
  /** The schedule that made the job (DESIGN §7); null for a job submitted directly. */
  scheduleId?: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  cancellation: CancellationSummary | null;
  /** The job that started this one (a handler's `ctx.submitChild`, or a task of kind `job`); null for a root job. */
  parentJobId: string | null;
  /** The parent's task that started it. */
  parentTaskKey: string | null;
  /** What the parent's cancel does to this job (DESIGN §7). */
  onParentCancel: OnParentCancel;
  /** 0 for a root job, the parent's depth + 1 for a child. */
  depth: number;
  /**
   * The role of the principal that submitted the root of this job's tree, or null when a
   * trusted caller (the library, without a principal) did: its children are checked against
   * the policy as that principal (DESIGN §6).
   */
  submitterRole: string | null;
}

/** A job's child as a cancel sees it, loaded in the cancel's transaction. */
export interface ChildRef {
  id: string;
  status: JobStatus;
  onParentCancel: OnParentCancel;
  parentTaskKey: string | null;
}

/** One descendant in a tree cancellation's record (DESIGN §7). */
export interface DescendantCancel {
  jobId: string;
  parentJobId: string;
  depth: number;
  /** `cancelled` by this cancel, `already_ended` before it, or `detached` (left running, with its subtree). */
  outcome: "cancelled" | "already_ended" | "detached";
  /** The descendant's own cancellation record, when it has one. */
  cancellationId: string | null;
  /** Its status once the tree cancel ended. */
  status: JobStatus;
}

export type CancellationScope = "job" | "task" | "bulk";
export type CancellationStatus = "in_progress" | "completed" | "partial" | "failed" | "too_late";
export type StepName =
  | "block_dispatch"
  | "cancel_pending_tasks"
  | "signal_runners"
  | "await_runners"
  | "force_kill"
  | "cleanup"
  | "compensate"
  | "finalize"
  | "quiesce"
  | "cancel_jobs"
  | "cancel_children";
export type StepStatus = "pending" | "running" | "completed" | "skipped" | "failed";

export interface CancellationStep {
  name: StepName;
  status: StepStatus;
  startedAt: string | null;
  finishedAt: string | null;
  detail: Record<string, Json> | null;
}

export interface AffectedTask {
  key: string;
  from: TaskStatus;
  to: TaskStatus;
}

/**
 * How a task's runner stopped: `remote_refused` is a remote job whose cancel the service
 * refused (or did not answer): the local task ended, the remote job may still run.
 */
export type StopMode = "graceful" | "forced" | "remote" | "remote_refused";

/** A remote task's side of a cancellation: whether its remote job is known to have stopped. */
export interface RemoteStop {
  /** The remote adapter's name; `slurm` for a Slurm job (then `runner` is `slurm`). */
  adapter: string;
  /** Which runner follows the job up: absent for a remote adapter's job, `slurm` for a Slurm job. */
  runner?: "slurm";
  remoteId: string | null;
  /** The service accepted a cancel. */
  cancelled: boolean;
  /** The remote job is known to have ended (its service reported a final state). */
  stopped: boolean;
  /** Cancel requests sent so far. */
  attempts: number;
  /** The last refusal's error, null once one was accepted. */
  error: string | null;
  /** When Belay learnt the remote job had stopped. */
  stoppedAt: string | null;
  /** The remote job's final state, as its service reported it. */
  finalState: string | null;
}
export type StopOutcome = "before_start" | "mid_run" | "finished_first";

/** What happened to one task's runner during a cancellation. */
export interface TaskStopReport {
  key: string;
  attempt: number;
  nodeId: string | null;
  signalledAt: string | null;
  acknowledgedAt: string | null;
  stoppedAt: string | null;
  mode: StopMode | null;
  outcome: StopOutcome;
  exitCode: number | null;
  /** Grace period this runner got between the signal and the forced kill. */
  graceMs: number | null;
  /** Remote tasks: what became of the remote job (absent for other kinds). */
  remote?: RemoteStop | null;
}

export interface CompensationResult {
  key: string;
  status: TaskStatus;
  error: string | null;
  output: Json | null;
}

export interface CancellationRecord {
  id: string;
  jobId: string | null;
  taskKey: string | null;
  scope: CancellationScope;
  /** For a job or task record made by a bulk cancel: the bulk record. */
  parentId: string | null;
  /** The job attempt the cancel applied to (a resume starts a new one); 0 for bulk records. */
  jobAttempt: number;
  /**
   * The node executing the steps that need I/O (null for bulk records). If it dies, a node
   * that finds its lease expired takes the record over.
   */
  executorNodeId: string | null;
  reason: string | null;
  requestedBy: string;
  force: boolean;
  cascade: boolean;
  graceMs: number;
  status: CancellationStatus;
  steps: CancellationStep[];
  affectedTasks: AffectedTask[];
  tasks: TaskStopReport[];
  runnersTerminated: { graceful: number; forced: number };
  /**
   * Remote cancels: sent, accepted, and remote jobs not yet known to have stopped. While
   * `pending` > 0 the record is `partial`; it becomes `completed` when the last one stops.
   */
  remote: { attempted: number; cancelled: number; pending?: number };
  compensation: CompensationResult[];
  /** Bulk records: how far the bulk cancel has got. */
  progress: { total: number; done: number } | null;
  errors: string[];
  idempotencyKey: string | null;
  requestedAt: string;
  completedAt: string | null;
  durationMs: number | null;
  /**
   * A job record whose job had children: every descendant and what the cancel did to it
   * (filled in when the `cancel_children` step ends). Absent otherwise.
   */
  descendants?: DescendantCancel[];
}

export const eventTypes = [
  "belay.job.created",
  "belay.job.started",
  "belay.job.cancel_requested",
  "belay.job.cancelled",
  "belay.job.succeeded",
  "belay.job.failed",
  "belay.job.partial",
  "belay.job.resumed",
  "belay.task.started",
  "belay.task.progress",
  "belay.task.cancelled",
  "belay.task.succeeded",
  "belay.task.failed",
  "belay.task.skipped",
  "belay.task.warning",
  "belay.cancellation.step",
  "belay.cancellation.remote",
  "belay.cancellation.tree_completed",
] as const;
export type EventType = (typeof eventTypes)[number];

/** An event as the engine creates it, before the store numbers it. */
export interface NewEvent {
  type: EventType;
  jobId: string;
  taskKey: string | null;
  time: string;
  data: Record<string, Json>;
}

/** A stored event, shaped as a CloudEvents 1.0 JSON object. */
export interface BelayEvent {
  specversion: "1.0";
  /** The global event sequence number, as a string: unique, increasing, for de-duplication. */
  id: string;
  seq: number;
  source: "belay";
  type: EventType;
  /** The job id. */
  subject: string;
  time: string;
  datacontenttype: "application/json";
  data: Record<string, Json> & { jobId: string; taskKey?: string };
}

export interface LogLine {
  seq: number;
  jobId: string;
  taskKey: string;
  attempt: number;
  stream: "stdout" | "stderr" | "log";
  line: string;
  time: string;
}
