/** /api/v1/jobs: submit, list, read, events, logs, cancel (job, task, bulk), resume. */
import type { FastifyInstance } from "fastify";
import { BelayError } from "../../core/errors.ts";
import { jobStatuses } from "../../core/states.ts";
import type { JobStatus } from "../../core/states.ts";
import type { JobFilter } from "../../store/store.ts";
import { maxBatchJobs } from "../../engine/engine.ts";
import type { AppDeps } from "../app.ts";
import { hasRole, requireOwnerOrOperator } from "../auth.ts";
import type { Caller } from "../auth.ts";
import { cancelBody, cancelResponse, errorResponses, jobIdParams, taskCancelBody } from "../schemas.ts";

/** The largest body `POST /jobs/batch` accepts (10,000 specs of about 1.6 KiB each). */
const batchBodyLimitBytes = 16 * 2 ** 20;

const jobResponse = { type: "object", required: ["job"], properties: { job: { $ref: "Job#" } } } as const;

function parseStatuses(value: string | undefined): JobStatus[] | undefined {
  if (value === undefined || value === "") return undefined;
  const statuses = value.split(",").map((s) => s.trim());
  for (const s of statuses) {
    if (!(jobStatuses as readonly string[]).includes(s)) {
      throw new BelayError("INVALID_REQUEST", `status: "${s}" is not one of ${jobStatuses.join(", ")}`, { details: { field: "status" } });
    }
  }
  return statuses as JobStatus[];
}

function parseLabels(value: string | string[] | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const labels: Record<string, string> = {};
  for (const pair of Array.isArray(value) ? value : [value]) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new BelayError("INVALID_REQUEST", `label: "${pair}" must be key=value`, { details: { field: "label" } });
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

export function registerJobRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { engine } = deps;

  /**
   * The job a caller may act on: any job for an operator (no read needed, the action
   * itself answers JOB_NOT_FOUND), only its own for a user.
   */
  const ownJob = async (caller: Caller, id: string, action: string): Promise<{ id: string }> => {
    if (hasRole(caller, "operator")) return { id };
    const job = await engine.getJob(id);
    requireOwnerOrOperator(caller, job.owner, action);
    return job;
  };

  api.post<{ Body: Record<string, unknown> }>(
    "/jobs",
    {
      config: { role: "user" },
      schema: {
        summary: "Submit a job",
        description: "A job spec (DESIGN §4): `{name, tasks: [...]}` or the one-task shorthand `{name, command}` / `{handler, input}`. With an `idempotencyKey` already used by the caller, returns that job with 200.",
        body: { type: "object", additionalProperties: true, description: "Job spec" },
        response: { 201: jobResponse, 200: jobResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { job, created } = await engine.submit(request.body, { owner: request.caller.principal });
      return reply.code(created ? 201 : 200).send({ job });
    },
  );

  api.post<{ Body: { jobs: unknown } }>(
    "/jobs/batch",
    {
      config: { role: "user" },
      // 10,000 specs do not fit the 1 MiB that every other body gets.
      bodyLimit: Math.max(deps.bodyLimitBytes ?? 0, batchBodyLimitBytes),
      schema: {
        summary: "Submit many jobs at once",
        description:
          `Bulk submit: \`{jobs: [spec, …]}\`, 1 to ${maxBatchJobs} job specs, stored all or none in one transaction. A spec that is not valid refuses the whole batch with 400 INVALID_REQUEST whose \`details.index\` is its position. Idempotency keys are honoured as by \`POST /jobs\`, also between specs of one batch: \`created\` is false for a spec whose key its caller already used (the job returned is the one that has the key). Results are in the specs' order. Body limit ${batchBodyLimitBytes / 2 ** 20} MiB.`,
        body: {
          type: "object",
          required: ["jobs"],
          additionalProperties: false,
          properties: { jobs: { type: "array", description: "Job specs, as for POST /jobs" } },
        },
        response: {
          200: {
            type: "object",
            required: ["jobs"],
            properties: {
              jobs: {
                type: "array",
                items: { type: "object", required: ["job", "created"], properties: { job: { $ref: "Job#" }, created: { type: "boolean" } } },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const results = await engine.submitJobs(request.body.jobs, { owner: request.caller.principal });
      return { jobs: results };
    },
  );

  api.get<{ Querystring: { status?: string; queue?: string; label?: string | string[]; owner?: string; limit?: number; cursor?: string } }>(
    "/jobs",
    {
      config: { role: "viewer" },
      schema: {
        summary: "List jobs, newest first",
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            status: { type: "string", description: "Comma-separated statuses" },
            queue: { type: "string" },
            label: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }], description: "key=value, repeatable" },
            owner: { type: "string" },
            limit: { type: "integer", minimum: 1, maximum: 1000, default: 50 },
            cursor: { type: "string" },
          },
        },
        response: { 200: { type: "object", properties: { items: { type: "array", items: { $ref: "Job#" } }, nextCursor: { type: ["string", "null"] } } }, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const filter: JobFilter = {};
      const status = parseStatuses(q.status);
      if (status !== undefined) filter.status = status;
      if (q.queue !== undefined) filter.queue = q.queue;
      if (q.owner !== undefined) filter.owner = q.owner;
      const labels = parseLabels(q.label);
      if (labels !== undefined) filter.labels = labels;
      return engine.listJobs(filter, { limit: q.limit ?? 50, cursor: q.cursor ?? null });
    },
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id",
    { config: { role: "viewer" }, schema: { summary: "A job with its tasks and cancellation summary", params: jobIdParams, response: { 200: jobResponse, ...errorResponses } } },
    async (request) => ({ job: await engine.getJob(request.params.id) }),
  );

  api.get<{ Params: { id: string }; Querystring: { after?: number; limit?: number } }>(
    "/jobs/:id/events",
    {
      config: { role: "viewer" },
      schema: {
        summary: "The job's event log",
        params: jobIdParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { after: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "Event seq to start after" }, limit: { type: "integer", minimum: 1, maximum: 10_000, default: 1000 } },
        },
        response: { 200: { type: "object", properties: { items: { type: "array", items: { $ref: "Event#" } }, nextCursor: { type: ["string", "null"] } } }, ...errorResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 1000;
      const items = await engine.getJobEvents(request.params.id, { after: request.query.after ?? 0, limit });
      return { items, nextCursor: items.length === limit ? String(items.at(-1)?.seq) : null };
    },
  );

  api.get<{ Params: { id: string }; Querystring: { task?: string; tail?: number; after?: number } }>(
    "/jobs/:id/logs",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Task output (stdout, stderr, handler logs)",
        params: jobIdParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { task: { type: "string" }, tail: { type: "integer", minimum: 1, maximum: 100_000 }, after: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
        },
        response: { 200: { type: "object", properties: { items: { type: "array", items: { type: "object", additionalProperties: true } } } }, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const items = await engine.getLogs(request.params.id, {
        ...(q.task === undefined ? {} : { taskKey: q.task }),
        ...(q.tail === undefined ? {} : { tail: q.tail }),
        ...(q.after === undefined ? {} : { afterSeq: q.after }),
      });
      return { items };
    },
  );

  api.post<{ Params: { id: string }; Body: Record<string, unknown> | undefined }>(
    "/jobs/:id/cancel",
    {
      config: { role: "user" },
      schema: {
        summary: "Cancel a job",
        description: "200 when the job is cancelled (at once, or already); 202 while the cancellation is in progress (`wait` holds the response until it ends).",
        params: jobIdParams,
        body: cancelBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const job = await ownJob(request.caller, request.params.id, "cancelling a job");
      const result = await engine.cancelJob(job.id, { ...(request.body ?? {}), requestedBy: request.caller.principal });
      return reply.code(result.cancellation.status === "in_progress" ? 202 : 200).send(result);
    },
  );

  api.post<{ Params: { id: string; key: string }; Body: Record<string, unknown> | undefined }>(
    "/jobs/:id/tasks/:key/cancel",
    {
      config: { role: "user" },
      schema: {
        summary: "Cancel one task",
        params: { type: "object", required: ["id", "key"], additionalProperties: false, properties: { id: jobIdParams.properties.id, key: { type: "string", minLength: 1, maxLength: 100 } } },
        body: taskCancelBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const job = await ownJob(request.caller, request.params.id, "cancelling a task");
      const result = await engine.cancelTask(job.id, request.params.key, { ...(request.body ?? {}), requestedBy: request.caller.principal });
      return reply.code(result.cancellation.status === "in_progress" ? 202 : 200).send(result);
    },
  );

  api.post<{ Body: { filter: Record<string, unknown>; dryRun?: boolean; idempotencyKey?: string; reason?: string; force?: boolean; graceMs?: number; sampleSize?: number } }>(
    "/jobs/cancel",
    {
      config: { role: "operator" },
      schema: {
        summary: "Cancel every job matching a filter",
        body: {
          type: "object",
          required: ["filter"],
          additionalProperties: false,
          properties: {
            filter: {
              type: "object",
              additionalProperties: false,
              properties: {
                ids: { type: "array", items: { type: "string", pattern: jobIdParams.properties.id.pattern }, maxItems: 100_000 },
                status: { anyOf: [{ type: "string", enum: [...jobStatuses] }, { type: "array", items: { type: "string", enum: [...jobStatuses] } }] },
                queue: { type: "string" },
                labels: { type: "object", additionalProperties: { type: "string" } },
                owner: { type: "string" },
                createdBefore: { type: "string", description: "ISO-8601 date-time" },
              },
            },
            dryRun: { type: "boolean" },
            idempotencyKey: { type: "string", minLength: 1, maxLength: 200 },
            reason: { type: "string", maxLength: 1000 },
            force: { type: "boolean" },
            graceMs: { type: "integer", minimum: 0, maximum: 86_400_000 },
            sampleSize: { type: "integer", minimum: 0, maximum: 1000 },
          },
        },
        response: {
          200: {
            type: "object",
            properties: { matched: { type: "integer" }, cancelled: { type: "integer" }, sample: { type: "array", items: { type: "string" } }, cancellation: { anyOf: [{ type: "null" }, { $ref: "Cancellation#" }] } },
          },
          202: {
            type: "object",
            properties: { matched: { type: "integer" }, cancelled: { type: "integer" }, cancellation: { $ref: "Cancellation#" } },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const result = await engine.cancelJobs({ ...request.body, requestedBy: request.caller.principal } as Parameters<typeof engine.cancelJobs>[0]);
      return reply.code(result.cancellation !== null && result.cancellation.status === "in_progress" ? 202 : 200).send(result);
    },
  );

  api.post<{ Params: { id: string } }>(
    "/jobs/:id/resume",
    { config: { role: "user" }, schema: { summary: "Resume a cancelled, failed or partial job", params: jobIdParams, response: { 200: jobResponse, ...errorResponses } } },
    async (request) => {
      const job = await ownJob(request.caller, request.params.id, "resuming a job");
      return { job: await engine.resumeJob(job.id, { requestedBy: request.caller.principal }) };
    },
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id/cancellation",
    {
      config: { role: "viewer" },
      schema: { summary: "The job's latest cancellation record, with its steps", params: jobIdParams, response: { 200: { type: "object", properties: { cancellation: { $ref: "Cancellation#" } } }, ...errorResponses } },
    },
    async (request) => {
      const job = await engine.getJob(request.params.id);
      if (job.cancellation === null) throw new BelayError("NOT_FOUND", `job ${job.id} has no cancellation`, { details: { jobId: job.id } });
      return { cancellation: await engine.getCancellation(job.cancellation.id) };
    },
  );
}
