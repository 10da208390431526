/**
 * The response shapes of the HTTP API (DESIGN §5), as data: Fastify serialises with them and
 * @fastify/swagger puts them in the OpenAPI document; the types the client and the web UI
 * read are written beside them. Objects that carry free-form data keep
 * `additionalProperties: true` so serialisation never drops a field.
 */
import { errorCodes } from "./errors.ts";
import { eventTypes } from "./model.ts";
import type { BelayEvent, CancellationRecord, Job, LogLine } from "./model.ts";
import type { CancelPreview } from "./preview.ts";
import { cancellationStatuses } from "./requests.ts";
import type { Schedule } from "./schedules.ts";
import { jobStatuses, taskStatuses } from "./states.ts";

const nullableString = { type: ["string", "null"] } as const;
const nullableInteger = { type: ["integer", "null"] } as const;
const anyJson = {} as const;

export const errorSchema = {
  $id: "Error",
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string", enum: Object.keys(errorCodes) },
        message: { type: "string" },
        details: { type: "object", additionalProperties: true },
      },
    },
  },
} as const;

export const taskSchema = {
  $id: "Task",
  type: "object",
  additionalProperties: true,
  properties: {
    key: { type: "string" },
    kind: { type: "string", enum: ["process", "handler", "remote", "slurm"] },
    spec: {
      type: "object",
      additionalProperties: true,
      description:
        "The task as validated. A task submitted as a template is a process task with `template: {name, params}`. " +
        '`process.env` values are shown to the job\'s owner and to callers allowed job.env.any (operator by default); others see each key with "***". ' +
        'A secret is shown as its reference `{"secret": NAME}`, never its value.',
    },
    status: { type: "string", enum: [...taskStatuses] },
    runOn: { type: "string", enum: ["normal", "cancel"] },
    attempt: { type: "integer" },
    retries: { type: "integer" },
    exitCode: nullableInteger,
    error: nullableString,
    output: anyJson,
    progress: anyJson,
    startedAt: nullableString,
    finishedAt: nullableString,
  },
} as const;

export const jobSchema = {
  $id: "Job",
  type: "object",
  additionalProperties: true,
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    queue: { type: "string" },
    priority: { type: "integer" },
    labels: { type: "object", additionalProperties: { type: "string" } },
    owner: { type: "string" },
    params: anyJson,
    status: { type: "string", enum: [...jobStatuses] },
    progress: { type: "object", additionalProperties: true, properties: { ratio: { type: "number" }, message: nullableString } },
    timeoutMs: nullableInteger,
    queueTimeoutMs: nullableInteger,
    graceMs: { type: "integer" },
    attempt: { type: "integer" },
    scheduleId: { type: ["string", "null"], description: "The schedule that made the job (DESIGN §7); null for a job submitted directly" },
    createdAt: { type: "string" },
    startedAt: nullableString,
    finishedAt: nullableString,
    tasks: { type: "array", items: { $ref: "Task#" } },
    cancellation: { anyOf: [{ type: "null" }, { type: "object", additionalProperties: true }] },
    parentJobId: { ...nullableString, description: "The job that started this one (DESIGN §7); null for a root job" },
    parentTaskKey: { ...nullableString, description: "The parent's task that started it" },
    onParentCancel: { type: "string", enum: ["cancel", "detach"], description: "What the parent's cancel does to this job" },
    depth: { type: "integer", description: "0 for a root job, the parent's depth + 1 for a child" },
  },
} as const;

export const cancellationSchema = {
  $id: "Cancellation",
  type: "object",
  additionalProperties: true,
  properties: {
    id: { type: "string" },
    jobId: nullableString,
    taskKey: nullableString,
    scope: { type: "string", enum: ["job", "task", "bulk"] },
    reason: nullableString,
    requestedBy: { type: "string" },
    force: { type: "boolean" },
    cascade: { type: "boolean" },
    executorNodeId: nullableString,
    status: { type: "string", enum: [...cancellationStatuses] },
    steps: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: true,
        properties: { name: { type: "string" }, status: { type: "string" }, startedAt: nullableString, finishedAt: nullableString, detail: anyJson },
      },
    },
    affectedTasks: { type: "array", items: { type: "object", additionalProperties: true } },
    tasks: { type: "array", items: { type: "object", additionalProperties: true } },
    runnersTerminated: { type: "object", additionalProperties: true, properties: { graceful: { type: "integer" }, forced: { type: "integer" } } },
    remote: { type: "object", additionalProperties: true, properties: { attempted: { type: "integer" }, cancelled: { type: "integer" } } },
    errors: { type: "array", items: { type: "string" } },
    requestedAt: { type: "string" },
    completedAt: nullableString,
    durationMs: nullableInteger,
    descendants: {
      type: "array",
      description: "A job record whose job had children (DESIGN §7): every descendant and what the cancel did to it",
      items: {
        type: "object",
        additionalProperties: true,
        properties: {
          jobId: { type: "string" },
          parentJobId: { type: "string" },
          depth: { type: "integer" },
          outcome: { type: "string", enum: ["cancelled", "already_ended", "detached"] },
          cancellationId: nullableString,
          status: { type: "string", enum: [...jobStatuses] },
        },
      },
    },
  },
} as const;

export const eventSchema = {
  $id: "Event",
  type: "object",
  additionalProperties: true,
  properties: {
    specversion: { type: "string" },
    id: { type: "string" },
    source: { type: "string" },
    type: { type: "string", enum: [...eventTypes] },
    subject: { type: "string" },
    time: { type: "string" },
    data: { type: "object", additionalProperties: true },
  },
} as const;

export const sharedSchemas = [errorSchema, taskSchema, jobSchema, cancellationSchema, eventSchema];


export const jobResponse = { type: "object", required: ["job"], properties: { job: { $ref: "Job#" } } } as const;

const taskStatusNames = { type: "string" } as const;

/** A cancel's dry run (`dryRun: true`): what the cancel would do (core/preview.ts). */
const cancelPreviewSchema = {
  type: "object",
  description: "What the cancel would do; nothing was changed",
  required: ["jobId", "taskKey", "scope", "outcome", "jobStatus", "completesAtOnce", "tasks", "runners", "compensations", "steps", "descendants"],
  properties: {
    jobId: { type: "string" },
    taskKey: { type: ["string", "null"] },
    scope: { type: "string", enum: ["job", "task"] },
    outcome: { type: "string", enum: ["cancel", "repeat", "escalate"], description: "A new cancellation, a repeat answered with the record under way, or a forced repeat that escalates it" },
    jobStatus: { type: "object", properties: { from: { type: "string" }, to: { type: "string" } } },
    completesAtOnce: { type: "boolean", description: "The cancel would end within the request (200) rather than run on (202)" },
    tasks: { type: "array", items: { type: "object", properties: { key: { type: "string" }, from: taskStatusNames, to: taskStatusNames } }, description: "Tasks the request would move" },
    runners: {
      type: "array",
      description: "Runners it would stop: `signal` (then a kill after graceMs) or `kill` at once",
      items: {
        type: "object",
        properties: { key: { type: "string" }, kind: { type: "string" }, attempt: { type: "integer" }, nodeId: { type: ["string", "null"] }, stop: { type: "string", enum: ["signal", "kill"] }, graceMs: { type: "integer" } },
      },
    },
    compensations: { type: "array", items: { type: "object", properties: { key: { type: "string" }, kind: { type: "string" } } }, description: "Compensation tasks that would run" },
    steps: { type: "array", items: { type: "string" } },
    descendants: { type: "array", items: { type: "object", additionalProperties: true }, description: "Child jobs a job cancel would reach: unfinished descendants it would cancel, and detached children (onParentCancel detach) it would leave running" },
  },
} as const;

/** `GET /jobs/{id}/tree`: the job and its descendants, each node `{job, children}` (DESIGN §7). */
export const jobTreeResponse = {
  type: "object",
  required: ["tree", "count", "truncated"],
  properties: {
    tree: {
      type: "object",
      additionalProperties: true,
      description: "`{job, children: [{job, children}, …]}`, children in creation order",
      properties: { job: { $ref: "Job#" }, children: { type: "array", items: { type: "object", additionalProperties: true } } },
    },
    count: { type: "integer", description: "Jobs in the tree, the root included" },
    truncated: { type: "boolean", description: "The tree has more jobs than the answer holds" },
  },
} as const;

export const cancelResponse = {
  type: "object",
  required: ["job", "cancellation"],
  properties: {
    job: { $ref: "Job#" },
    cancellation: { anyOf: [{ type: "null" }, { $ref: "Cancellation#" }], description: "The record; null for a dry run" },
    alreadyCancelled: { type: "boolean" },
    dryRun: { type: "boolean", description: "Present (true) on a dry run's answer" },
    preview: { ...cancelPreviewSchema, description: "Dry run: what the cancel would do" },
  },
} as const;

export const bulkCancelResponse = {
  type: "object",
  required: ["matched", "cancelled", "cancellation"],
  properties: {
    matched: { type: "integer" },
    cancelled: { type: "integer" },
    sample: { type: "array", items: { type: "string" }, description: "Dry run: ids of some matching jobs" },
    cancellation: { anyOf: [{ type: "null" }, { $ref: "Cancellation#" }], description: "The bulk record; null for a dry run" },
  },
} as const;

export const jobPageResponse = { type: "object", properties: { items: { type: "array", items: { $ref: "Job#" } }, nextCursor: { type: ["string", "null"] } } } as const;
export const eventPageResponse = { type: "object", properties: { items: { type: "array", items: { $ref: "Event#" } }, nextCursor: { type: ["string", "null"] } } } as const;
export const logPageResponse = { type: "object", properties: { items: { type: "array", items: { type: "object", additionalProperties: true } } } } as const;
export const cancellationResponse = { type: "object", properties: { cancellation: { $ref: "Cancellation#" } } } as const;
export const cancellationPageResponse = { type: "object", properties: { items: { type: "array", items: { $ref: "Cancellation#" } }, total: { type: "integer" } } } as const;

export interface JobResponse {
  job: Job;
}

export interface CancelResponse {
  job: Job;
  cancellation: CancellationRecord;
  alreadyCancelled?: boolean | undefined;
}

/** The answer of a cancel with `dryRun: true`: nothing was changed, `preview` says what the cancel would do. */
export interface CancelPreviewResponse {
  job: Job;
  cancellation: null;
  dryRun: true;
  preview: CancelPreview;
}

export interface BulkCancelResponse {
  matched: number;
  cancelled: number;
  /** Dry run: ids of some matching jobs. */
  sample?: string[] | undefined;
  /** The bulk record; null for a dry run. */
  cancellation: CancellationRecord | null;
}

export interface JobPage {
  items: Job[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export interface EventPage {
  items: BelayEvent[];
  nextCursor: string | null;
}

export interface LogPage {
  items: LogLine[];
}

export interface CancellationResponse {
  cancellation: CancellationRecord;
}

export interface CancellationPage {
  items: CancellationRecord[];
  total: number;
}

/**
 * The HTTP status of a cancel's answer (job, task or bulk): 202 while its record is still
 * in progress, 200 once it has ended (at once, or already) and for a dry run.
 */
export function cancelAnswerStatus(answer: { cancellation: Pick<CancellationRecord, "status"> | null }): 200 | 202 {
  return answer.cancellation !== null && answer.cancellation.status === "in_progress" ? 202 : 200;
}

// ---- schedules and queues (DESIGN §7) --------------------------------------------------------

const scheduleProperties = {
  id: { type: "string" },
  name: { type: "string" },
  owner: { type: "string", description: "Its jobs are owned by this principal" },
  cron: { type: "string" },
  timeZone: { type: "string" },
  job: { type: "object", additionalProperties: true, description: "The job spec each firing submits" },
  queue: { type: "string" },
  labels: { type: "object", additionalProperties: { type: "string" } },
  overlap: { type: "string", enum: ["skip", "allow", "cancel_previous"] },
  catchUp: { type: "string", enum: ["none", "latest"] },
  paused: { type: "boolean" },
  pausedBy: nullableString,
  pausedAt: nullableString,
  nextRunAt: { type: ["string", "null"], description: "The next firing; null while paused" },
  lastRunAt: nullableString,
  lastJobId: nullableString,
  lastOutcome: { type: ["string", "null"], enum: ["submitted", "skipped_overlap", "skipped_missed", "failed", null] },
  lastError: nullableString,
  createdAt: { type: "string" },
  updatedAt: { type: "string" },
} as const;

export const scheduleResponse = {
  type: "object",
  required: ["schedule"],
  properties: { schedule: { type: "object", required: Object.keys(scheduleProperties), properties: scheduleProperties } },
} as const;
export const schedulePageResponse = {
  type: "object",
  required: ["items"],
  properties: { items: { type: "array", items: { type: "object", required: Object.keys(scheduleProperties), properties: scheduleProperties } } },
} as const;

const queueProperties = {
  name: { type: "string" },
  paused: { type: "boolean" },
  pausedBy: nullableString,
  pausedAt: nullableString,
  reason: nullableString,
  pending: { type: "integer", description: "Tasks waiting in it" },
  running: { type: "integer", description: "Tasks running from it (or being cancelled)" },
} as const;

export const queueResponse = { type: "object", required: ["queue"], properties: { queue: { type: "object", required: Object.keys(queueProperties), properties: queueProperties } } } as const;
export const queuePageResponse = {
  type: "object",
  required: ["items"],
  properties: { items: { type: "array", items: { type: "object", required: Object.keys(queueProperties), properties: queueProperties } } },
} as const;

export interface ScheduleResponse {
  schedule: Schedule;
}

export interface SchedulePage {
  items: Schedule[];
}

/** A queue, known from its tasks or its pause. */
export interface Queue {
  name: string;
  paused: boolean;
  pausedBy: string | null;
  pausedAt: string | null;
  reason: string | null;
  pending: number;
  running: number;
}

export interface QueueResponse {
  queue: Queue;
}

export interface QueuePage {
  items: Queue[];
}
