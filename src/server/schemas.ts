/**
 * Request and response JSON schemas, declared once: Fastify validates with them and
 * @fastify/swagger turns them into the OpenAPI 3.1 document. Objects that carry free-form
 * data keep `additionalProperties: true` so serialisation never drops a field.
 */
import { errorCodes } from "../core/errors.ts";
import { eventTypes } from "../core/model.ts";
import { jobStatuses, taskStatuses } from "../core/states.ts";

export const uuidPattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

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
    createdAt: { type: "string" },
    startedAt: nullableString,
    finishedAt: nullableString,
    tasks: { type: "array", items: { $ref: "Task#" } },
    cancellation: { anyOf: [{ type: "null" }, { type: "object", additionalProperties: true }] },
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
    status: { type: "string", enum: ["in_progress", "completed", "partial", "failed", "too_late"] },
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

/** Responses every authenticated route can give besides its own. */
export const errorResponses = {
  400: { $ref: "Error#" },
  401: { $ref: "Error#" },
  403: { $ref: "Error#" },
  404: { $ref: "Error#" },
  409: { $ref: "Error#" },
  429: { $ref: "Error#" },
} as const;

export const jobIdParams = {
  type: "object",
  required: ["id"],
  additionalProperties: false,
  properties: { id: { type: "string", pattern: uuidPattern, description: "Job id (UUID)" } },
} as const;

export const cancelBody = {
  type: "object",
  additionalProperties: false,
  properties: {
    reason: { type: "string", maxLength: 1000, description: "Why; kept in the record" },
    force: { type: "boolean", description: "Skip the grace period" },
    graceMs: { type: "integer", minimum: 0, maximum: 86_400_000, description: "Grace period override, ms" },
    onlyIfPending: { type: "boolean", description: "Refuse (409 JOB_NOT_PENDING) if the job has started" },
    wait: { type: "boolean", description: "Hold the response until the job is terminal or waitMs elapses" },
    waitMs: { type: "integer", minimum: 0, maximum: 600_000, description: "Upper bound of wait, ms (default 60000)" },
  },
} as const;

export const taskCancelBody = {
  type: "object",
  additionalProperties: false,
  properties: {
    reason: cancelBody.properties.reason,
    force: cancelBody.properties.force,
    graceMs: cancelBody.properties.graceMs,
    cascade: { type: "boolean", description: "Cancel the dependents too (default: each edge's onCancel, itself cascade by default)" },
    wait: cancelBody.properties.wait,
    waitMs: cancelBody.properties.waitMs,
  },
} as const;

export const cancelResponse = {
  type: "object",
  required: ["job", "cancellation"],
  properties: {
    job: { $ref: "Job#" },
    cancellation: { $ref: "Cancellation#" },
    alreadyCancelled: { type: "boolean" },
  },
} as const;
