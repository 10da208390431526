/**
 * The request contract of the cancel, bulk cancel and resume requests and of the list and
 * query parameters (DESIGN §5), declared once, as data. Every surface derives from these
 * objects: Fastify validates with them and turns them into the OpenAPI document
 * (src/server/routes), the MCP tools build their zod schemas from them (src/mcp/schemas.ts),
 * the client and the web UI use the types written beside them, the CLI checks its options
 * against the limits. The library's methods validate their options here, once
 * (`parseCancelOptions`, `parseBulkCancelOptions`): the HTTP API hands the bodies through.
 *
 * Lengths are in characters, counted as Unicode code points (src/core/json-schema.ts).
 */
import { invalid } from "./errors.ts";
import { validate } from "./json-schema.ts";
import type { JsonSchema } from "./json-schema.ts";
import type { CancellationStatus } from "./model.ts";
import { createScheduleBody, scheduleIdParams } from "./schedules.ts";
import { maxGraceMs } from "./grace.ts";
import { jobStatuses } from "./states.ts";
import type { JobStatus } from "./states.ts";

export type { JsonSchema };

// ---- limits ----------------------------------------------------------------------------

/** Every limit of the requests, by name (the spec's own limits live in src/core/spec.ts). */
export const requestLimits = Object.freeze({
  /** Longest cancel `reason`, in characters. */
  reasonChars: 1000,
  /** Largest `graceMs` of a cancel (as of a job spec): 24 hours. */
  graceMs: maxGraceMs,
  /** Largest `waitMs`: 10 minutes. */
  waitMs: 10 * 60 * 1000,
  /** `waitMs` when `wait` is set without it. */
  defaultWaitMs: 60_000,
  /** Longest `requestedBy` (a principal), in characters. */
  requestedByChars: 200,
  /** Longest bulk cancel `idempotencyKey`, in characters. */
  idempotencyKeyChars: 200,
  /** Most ids in a bulk cancel's `filter.ids`. */
  bulkIds: 100_000,
  /** Largest `sampleSize` of a bulk dry run, and its default. */
  sampleSize: 1000,
  defaultSampleSize: 10,
  /** Page sizes of the lists. */
  pageSize: 1000,
  defaultPageSize: 50,
  eventPageSize: 10_000,
  defaultEventPageSize: 1000,
  logTail: 100_000,
  /** Longest task key, in characters (as in a job spec). */
  taskKeyChars: 100,
});

export const cancellationStatuses = ["in_progress", "completed", "partial", "failed", "too_late"] as const satisfies readonly CancellationStatus[];

export const uuidPattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

// ---- building blocks ----------------------------------------------------------------------

export const jobIdSchema = { type: "string", pattern: uuidPattern, title: "job id (a UUID)", description: "Job id (a UUID)" } as const satisfies JsonSchema;
export const cancellationIdSchema = { type: "string", pattern: uuidPattern, title: "cancellation id (a UUID)", description: "Cancellation id (a UUID)" } as const satisfies JsonSchema;
export const taskKeySchema = { type: "string", minLength: 1, maxLength: requestLimits.taskKeyChars, description: "The task's key" } as const satisfies JsonSchema;
const jobStatusSchema = { type: "string", enum: jobStatuses } as const satisfies JsonSchema;

const reason = {
  type: ["string", "null"],
  maxLength: requestLimits.reasonChars,
  description: `Why; kept in the record. At most ${requestLimits.reasonChars} characters (Unicode code points).`,
} as const satisfies JsonSchema;
const force = { type: "boolean", description: "Skip the grace period: force-kill the running work at once. Default false." } as const satisfies JsonSchema;
const graceMs = {
  type: ["integer", "null"],
  minimum: 0,
  maximum: requestLimits.graceMs,
  description: "Grace period override, in ms: how long running work may take to stop after its signal before it is force-killed. Default: the job's graceMs.",
} as const satisfies JsonSchema;
const onlyIfPending = { type: "boolean", description: "Refuse (409 JOB_NOT_PENDING) unless the job is still queued. Default false." } as const satisfies JsonSchema;
const wait = { type: "boolean", description: "Hold the answer until the cancellation ends or waitMs elapses. Default false." } as const satisfies JsonSchema;
const waitMs = {
  type: "integer",
  minimum: 0,
  maximum: requestLimits.waitMs,
  description: `Upper bound of wait, in ms. Default ${requestLimits.defaultWaitMs}.`,
} as const satisfies JsonSchema;
const cascade = {
  type: ["boolean", "null"],
  description: "Cancel the task's dependents too (true), or let them run as if it were skipped (false). Default: each edge's onCancel (cascade unless the job said otherwise).",
} as const satisfies JsonSchema;
const dryRun = {
  type: "boolean",
  description: "Preview: answer what the cancel would do (tasks and runners to stop, compensations to run, descendants) and change nothing. Needs the same role as the cancel. Default false.",
} as const satisfies JsonSchema;
const requestedBy = { type: "string", minLength: 1, maxLength: requestLimits.requestedByChars, description: "Who asks (the library's callers; the HTTP API sets it from the token)." } as const satisfies JsonSchema;

// ---- cancel a job, a task ---------------------------------------------------------------

export const cancelJobBody = {
  type: "object",
  additionalProperties: false,
  description: "Every field is optional; no body at all means every default.",
  properties: { reason, force, graceMs, onlyIfPending, wait, waitMs, dryRun },
} as const satisfies JsonSchema;

export const cancelTaskBody = {
  type: "object",
  additionalProperties: false,
  description: "Every field is optional; no body at all means every default.",
  properties: { reason, force, graceMs, cascade, wait, waitMs, dryRun },
} as const satisfies JsonSchema;

/** The body of `POST /jobs/{id}/cancel`. */
export interface CancelJobRequest {
  /** Why; kept in the record. At most 1000 characters (Unicode code points). */
  reason?: string | null | undefined;
  /** Skip the grace period: force-kill at once. Default false. */
  force?: boolean | undefined;
  /** Grace period before runners are force-killed, in ms; overrides the job's `graceMs`. At most 24 h. */
  graceMs?: number | null | undefined;
  /** Refuse with JOB_NOT_PENDING unless the job is still queued. Default false. */
  onlyIfPending?: boolean | undefined;
  /** Resolve only when the cancellation has ended or `waitMs` has elapsed. Default false. */
  wait?: boolean | undefined;
  /** Upper bound of `wait`, in ms. Default 60 000, at most 600 000. */
  waitMs?: number | undefined;
  /** Preview: answer what the cancel would do and change nothing (`preview` in the answer). Default false. */
  dryRun?: boolean | undefined;
}

/** The body of `POST /jobs/{id}/tasks/{key}/cancel`. */
export interface CancelTaskRequest extends Omit<CancelJobRequest, "onlyIfPending"> {
  /** Cancel the transitive dependents too; unset: each edge's own `onCancel` policy. */
  cascade?: boolean | null | undefined;
}

/** The library's options: the request, and who asks. */
export interface CancelJobOptions extends CancelJobRequest {
  /** Who asks (the token's principal). Default "library". */
  requestedBy?: string | undefined;
}

export interface CancelTaskOptions extends CancelTaskRequest {
  requestedBy?: string | undefined;
}

export interface ParsedCancel {
  reason: string | null;
  force: boolean;
  graceMs: number | null;
  onlyIfPending: boolean;
  wait: boolean;
  waitMs: number;
  requestedBy: string;
  cascade: boolean | null;
  dryRun: boolean;
}

const withRequestedBy = <S extends { properties: object }>(schema: S) => ({ ...schema, properties: { ...schema.properties, requestedBy } }) as const;
const cancelJobOptionsSchema = withRequestedBy(cancelJobBody);
const cancelTaskOptionsSchema = withRequestedBy(cancelTaskBody);
const cancelAnyOptionsSchema = withRequestedBy({ ...cancelJobBody, properties: { ...cancelJobBody.properties, cascade } });

/**
 * The options of a job cancel (`scope: "job"`), a task cancel (`"task"`), or either, checked
 * against the contract and completed with their defaults. Absent (`undefined`, `null`) means
 * every default.
 */
export function parseCancelOptions(input: unknown, scope: "job" | "task" | "either" = "either"): ParsedCancel {
  const schema = scope === "job" ? cancelJobOptionsSchema : scope === "task" ? cancelTaskOptionsSchema : cancelAnyOptionsSchema;
  const o = validate(schema, input ?? {}) as CancelJobOptions & CancelTaskOptions;
  return {
    reason: o.reason ?? null,
    force: o.force ?? false,
    graceMs: o.graceMs ?? null,
    onlyIfPending: o.onlyIfPending ?? false,
    wait: o.wait ?? false,
    waitMs: o.waitMs ?? requestLimits.defaultWaitMs,
    requestedBy: o.requestedBy ?? "library",
    cascade: o.cascade ?? null,
    dryRun: o.dryRun ?? false,
  };
}

// ---- bulk cancel --------------------------------------------------------------------------

export const bulkFilterSchema = {
  type: "object",
  additionalProperties: false,
  description: "Which jobs: every field given must match (at least one is required). Finished jobs are never touched.",
  properties: {
    ids: { type: "array", items: jobIdSchema, maxItems: requestLimits.bulkIds, description: "These jobs" },
    status: { anyOf: [jobStatusSchema, { type: "array", items: jobStatusSchema }], description: "One status or several" },
    queue: { type: "string" },
    labels: { type: "object", additionalProperties: { type: "string" }, description: "Every label must match" },
    owner: { type: "string" },
    createdBefore: { type: "string", format: "date-time", description: "ISO-8601 date-time" },
    scheduleId: { type: "string", minLength: 1, maxLength: 200, description: "Jobs made by this schedule" },
  },
} as const satisfies JsonSchema;

export const bulkCancelBody = {
  type: "object",
  required: ["filter"],
  additionalProperties: false,
  properties: {
    filter: bulkFilterSchema,
    dryRun: { type: "boolean", description: "Count and sample the matching jobs; cancel nothing" },
    idempotencyKey: {
      type: ["string", "null"],
      minLength: 1,
      maxLength: requestLimits.idempotencyKeyChars,
      description: "Repeating a bulk cancel with the same key returns the first one's record",
    },
    reason,
    force,
    graceMs,
    sampleSize: { type: "integer", minimum: 0, maximum: requestLimits.sampleSize, description: `Ids in a dry run's sample. Default ${requestLimits.defaultSampleSize}.` },
    quiesce: {
      type: "boolean",
      description:
        "First pause what produces the matching jobs (DESIGN §7): the queue the filter names, and each schedule whose jobs it matches (filter.scheduleId, or the queue, labels and owner of the schedule's spec); then cancel. The record's quiesce step lists what was paused. Default false.",
    },
  },
} as const satisfies JsonSchema;

export interface BulkFilter {
  ids?: string[] | undefined;
  status?: JobStatus[] | JobStatus | undefined;
  queue?: string | undefined;
  labels?: Record<string, string> | undefined;
  owner?: string | undefined;
  /** ISO-8601 date-time. */
  createdBefore?: string | undefined;
  /** Jobs made by this schedule. */
  scheduleId?: string | undefined;
}

/** The body of `POST /jobs/cancel`. */
export interface BulkCancelRequest {
  filter: BulkFilter;
  /** Count and sample the matching jobs; cancel nothing. */
  dryRun?: boolean | undefined;
  idempotencyKey?: string | null | undefined;
  reason?: string | null | undefined;
  force?: boolean | undefined;
  graceMs?: number | null | undefined;
  /** Ids in a dry run's sample. Default 10. */
  sampleSize?: number | undefined;
  /** Pause the schedules and queue the filter names before cancelling. Default false. */
  quiesce?: boolean | undefined;
}

export interface BulkCancelOptions extends BulkCancelRequest {
  requestedBy?: string | undefined;
}

export interface ParsedBulkFilter {
  ids?: string[];
  status?: JobStatus[];
  queue?: string;
  labels?: Record<string, string>;
  owner?: string;
  createdBefore?: string;
  scheduleId?: string;
}

export interface ParsedBulkCancel {
  filter: ParsedBulkFilter;
  dryRun: boolean;
  quiesce: boolean;
  idempotencyKey: string | null;
  sampleSize: number;
  cancel: ParsedCancel;
}

const bulkCancelOptionsSchema = withRequestedBy(bulkCancelBody);
const filterFields = Object.keys(bulkFilterSchema.properties);

/** A bulk cancel's options, checked against the contract; a filter with no field at all is refused. */
export function parseBulkCancelOptions(input: unknown): ParsedBulkCancel {
  if (input === undefined || input === null || (typeof input === "object" && !Array.isArray(input) && (input as { filter?: unknown }).filter === undefined)) {
    throw invalid(`filter: required: a bulk cancel needs a filter, e.g. {"filter": {"status": ["queued"]}} (fields: ${filterFields.join(", ")})`, { field: "filter" });
  }
  const o = validate(bulkCancelOptionsSchema, input) as BulkCancelOptions;
  return {
    filter: parseBulkFilter(o.filter),
    dryRun: o.dryRun ?? false,
    quiesce: o.quiesce ?? false,
    idempotencyKey: o.idempotencyKey ?? null,
    sampleSize: o.sampleSize ?? requestLimits.defaultSampleSize,
    cancel: parseCancelOptions({ reason: o.reason, force: o.force, graceMs: o.graceMs, requestedBy: o.requestedBy }, "job"),
  };
}

/** A bulk cancel's filter, checked; statuses as a list, the date normalised to ISO. */
export function parseBulkFilter(input: unknown): ParsedBulkFilter {
  const f = validate(bulkFilterSchema, input, {}) as BulkFilter;
  const out: ParsedBulkFilter = {};
  if (f.ids !== undefined) out.ids = f.ids;
  if (f.status !== undefined) out.status = Array.isArray(f.status) ? f.status : [f.status];
  if (f.queue !== undefined) out.queue = f.queue;
  if (f.owner !== undefined) out.owner = f.owner;
  if (f.scheduleId !== undefined) out.scheduleId = f.scheduleId;
  if (f.labels !== undefined) out.labels = { ...f.labels };
  if (f.createdBefore !== undefined) out.createdBefore = new Date(f.createdBefore).toISOString();
  if (Object.keys(out).length === 0) {
    throw invalid(`filter: a bulk cancel needs at least one filter field (${filterFields.join(", ")})`, { field: "filter" });
  }
  return out;
}

// ---- resume ---------------------------------------------------------------------------------

/** `POST /jobs/{id}/resume` takes no option: no body, or an empty object. */
export const resumeBody = { type: "object", additionalProperties: false, properties: {}, description: "No options: send no body (or {})." } as const satisfies JsonSchema;

// ---- path and query parameters ------------------------------------------------------------

export const jobIdParams = { type: "object", required: ["id"], additionalProperties: false, properties: { id: jobIdSchema } } as const satisfies JsonSchema;
export const taskParams = { type: "object", required: ["id", "key"], additionalProperties: false, properties: { id: jobIdSchema, key: taskKeySchema } } as const satisfies JsonSchema;
export const cancellationIdParams = { type: "object", required: ["id"], additionalProperties: false, properties: { id: cancellationIdSchema } } as const satisfies JsonSchema;

const pageSize = (max: number, fallback: number) => ({ type: "integer", minimum: 1, maximum: max, default: fallback }) as const satisfies JsonSchema;
const seq = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const satisfies JsonSchema;

export const listJobsQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    status: { type: "string", description: `Comma-separated statuses (${jobStatuses.join(", ")})` },
    queue: { type: "string" },
    label: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }], description: "key=value, repeatable: every label must match" },
    owner: { type: "string" },
    idPrefix: { type: "string", pattern: "^[0-9a-fA-F-]{1,36}$", description: "Only jobs whose id starts with this (as the CLI resolves a short id)" },
    name: { type: "string", maxLength: 200, description: "Case-insensitive substring of the job name" },
    scheduleId: { type: "string", minLength: 1, maxLength: 200, description: "Only jobs made by this schedule" },
    createdAfter: { type: "string", description: "ISO 8601 time: jobs created at or after it" },
    createdBefore: { type: "string", description: "ISO 8601 time: jobs created before it" },
    parent: { type: "string", minLength: 1, maxLength: 100, description: "Only the children of this job (DESIGN §7)" },
    limit: pageSize(requestLimits.pageSize, requestLimits.defaultPageSize),
    cursor: { type: "string", description: "The nextCursor of the previous page" },
  },
} as const satisfies JsonSchema;

export const jobEventsQuery = {
  type: "object",
  additionalProperties: false,
  properties: { after: { ...seq, description: "Event seq to start after" }, limit: pageSize(requestLimits.eventPageSize, requestLimits.defaultEventPageSize) },
} as const satisfies JsonSchema;

export const logsQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    task: { type: "string", description: "Only this task's lines" },
    tail: { type: "integer", minimum: 1, maximum: requestLimits.logTail, description: "The last N lines" },
    after: { ...seq, description: "Lines after this log seq (to follow)" },
  },
} as const satisfies JsonSchema;

/** `GET /events`: live events, of one job or all. */
export const eventsQuery = {
  type: "object",
  additionalProperties: false,
  properties: { jobId: jobIdSchema, after: { ...seq, description: "Replay the stored events after this event id (as Last-Event-ID)" } },
} as const satisfies JsonSchema;

export const cancellationsQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    jobId: jobIdSchema,
    parentId: { ...cancellationIdSchema, description: "Only the per-job records of this bulk cancellation" },
    status: { type: "string", enum: cancellationStatuses },
    limit: pageSize(requestLimits.pageSize, requestLimits.defaultPageSize),
    offset: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
  },
} as const satisfies JsonSchema;

/** `GET /jobs/{id}/logs` as the client sends it. */
export interface LogsQuery {
  /** Only this task's lines. */
  task?: string | undefined;
  /** The last N lines. */
  tail?: number | undefined;
  /** Lines after this log seq (to follow). */
  after?: number | undefined;
}

/** `GET /cancellations` as the client sends it. */
export interface CancellationsQuery {
  jobId?: string | undefined;
  /** The per-job records of a bulk cancellation. */
  parentId?: string | undefined;
  status?: CancellationStatus | undefined;
  /** 1..1000, default 50. */
  limit?: number | undefined;
  offset?: number | undefined;
}

/** A comma-separated list of job statuses (the `status` of `GET /jobs`), checked. */
export function parseJobStatusList(text: string | undefined): JobStatus[] | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const statuses = text.split(",").map((s) => s.trim());
  for (const s of statuses) {
    if (!(jobStatuses as readonly string[]).includes(s)) throw invalid(`status: must be one of ${jobStatuses.join(", ")}, not "${s}"`, { field: "status" });
  }
  return statuses as JobStatus[];
}

// ---- queues (DESIGN §7) -------------------------------------------------------------------------

export const queueParams = {
  type: "object",
  required: ["name"],
  additionalProperties: false,
  properties: { name: { type: "string", minLength: 1, maxLength: 200, description: "The queue's name" } },
} as const satisfies JsonSchema;

export const pauseQueueBody = {
  type: "object",
  additionalProperties: false,
  description: "Optional: why (kept with the pause, shown by GET /queues).",
  properties: { reason },
} as const satisfies JsonSchema;

/** `POST /schedules/{id}/pause|resume` and `POST /queues/{name}/resume` take no option. */
export const noOptionsBody = resumeBody;

// ---- one schema per surface: what the HTTP layer validates and what it hands through ---------

/** Every request schema of the contract: the HTTP layer validates them with `validate`, not Ajv, so each mistake has one wording. */
export const contractSchemas: ReadonlySet<JsonSchema> = new Set<JsonSchema>([
  cancelJobBody,
  cancelTaskBody,
  bulkCancelBody,
  resumeBody,
  jobIdParams,
  taskParams,
  cancellationIdParams,
  listJobsQuery,
  jobEventsQuery,
  logsQuery,
  eventsQuery,
  cancellationsQuery,
  createScheduleBody,
  scheduleIdParams,
  queueParams,
  pauseQueueBody,
]);

/** Bodies the library's methods check themselves (`parseCancelOptions`, …): the HTTP layer hands them through unchecked, so they are checked once. */
export const bodiesCheckedByTheLibrary: ReadonlySet<JsonSchema> = new Set<JsonSchema>([cancelJobBody, cancelTaskBody, bulkCancelBody, createScheduleBody]);

// ---- the types above and the schemas name the same fields (a compile-time check) ----------

type Keys<S> = S extends { properties: infer P } ? keyof P : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameFields: [
  Same<keyof CancelJobRequest, Keys<typeof cancelJobBody>>,
  Same<keyof CancelTaskRequest, Keys<typeof cancelTaskBody>>,
  Same<keyof BulkCancelRequest, Keys<typeof bulkCancelBody>>,
  Same<keyof BulkFilter, Keys<typeof bulkFilterSchema>>,
  Same<keyof LogsQuery, Keys<typeof logsQuery>>,
  Same<keyof CancellationsQuery, Keys<typeof cancellationsQuery>>,
] = [true, true, true, true, true, true];
void sameFields;
