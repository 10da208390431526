/** /api/v1/jobs: submit, list, read, events, logs, cancel (job, task, bulk), resume. */
import type { FastifyInstance } from "fastify";
import { BelayError } from "../../core/errors.ts";
import { jobStatuses } from "../../core/states.ts";
import type { JobStatus } from "../../core/states.ts";
import type { JobFilter, Role } from "../../store/store.ts";
import type { AppDeps } from "../app.ts";
import { floorOf } from "../../core/policy.ts";
import { acting } from "../auth.ts";
import { cancelBody, cancelResponse, errorResponses, jobIdParams, taskCancelBody } from "../schemas.ts";

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

/** An ISO 8601 time from the query, normalised to the stored form (UTC, milliseconds). */
function parseTimeParam(value: string | undefined, field: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new BelayError("INVALID_REQUEST", `${field}: "${value}" is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)`, { details: { field } });
  return new Date(ms).toISOString();
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
  // Each route's least role comes from the policy (the least of the actions it may do);
  // the handler then asks the policy about the action itself, through engine.as(caller).
  const policy = engine.policy;
  const floor = (...actions: Parameters<typeof floorOf>[1]): { role: Role; rule: string } => floorOf(policy, actions);
  const roleOf = {
    read: floor("job.read"),
    logs: floor("job.logs"),
    submit: floor("job.submit.template", "job.submit.handler", "job.submit.remote", "job.submit.process"),
    cancel: floor("job.cancel.own", "job.cancel.any"),
    bulk: floor("job.cancel.bulk"),
    resume: floor("job.resume.own", "job.resume.any"),
  };

  api.post<{ Body: Record<string, unknown> }>(
    "/jobs",
    {
      config: { ...roleOf.submit },
      schema: {
        summary: "Submit a job",
        description:
          "A job spec (DESIGN §4): `{name, tasks: [...]}` or the one-task shorthand `{name, command}` / `{handler, input}`. " +
          'A task `{key, kind: "template", template: NAME, params: {…}}` runs a server-defined template (docs/security.md). ' +
          "Free-command process tasks need the operator role by default (policy rule job.submit.process; 403 FORBIDDEN names the rule). " +
          'An env value `{"secret": NAME}` is resolved on the worker at spawn and never stored; an unknown name is a 400. ' +
          "With an `idempotencyKey` already used by the caller, returns that job with 200.",
        body: { type: "object", additionalProperties: true, description: "Job spec" },
        response: { 201: jobResponse, 200: jobResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { job, created } = await acting(engine, request.caller).submit(request.body);
      return reply.code(created ? 201 : 200).send({ job });
    },
  );

  api.get<{ Querystring: { status?: string; queue?: string; label?: string | string[]; owner?: string; name?: string; createdAfter?: string; createdBefore?: string; limit?: number; cursor?: string } }>(
    "/jobs",
    {
      config: { ...roleOf.read },
      schema: {
        summary: "List jobs, newest first",
        description: "A caller that is not a job's owner and not allowed job.env.any (operator by default) sees its env keys with the values replaced by ***.",
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            status: { type: "string", description: "Comma-separated statuses" },
            queue: { type: "string" },
            label: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }], description: "key=value, repeatable" },
            owner: { type: "string" },
            name: { type: "string", maxLength: 200, description: "Case-insensitive substring of the job name" },
            createdAfter: { type: "string", description: "ISO 8601 time: jobs created at or after it" },
            createdBefore: { type: "string", description: "ISO 8601 time: jobs created before it" },
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
      if (q.name !== undefined && q.name !== "") filter.nameContains = q.name;
      const createdAfter = parseTimeParam(q.createdAfter, "createdAfter");
      if (createdAfter !== undefined) filter.createdAfter = createdAfter;
      const createdBefore = parseTimeParam(q.createdBefore, "createdBefore");
      if (createdBefore !== undefined) filter.createdBefore = createdBefore;
      return acting(engine, request.caller).listJobs(filter, { limit: q.limit ?? 50, cursor: q.cursor ?? null });
    },
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id",
    {
      config: { ...roleOf.read },
      schema: {
        summary: "A job with its tasks and cancellation summary",
        description: "A caller that is not the owner and not allowed job.env.any (operator by default) sees the env keys with the values replaced by ***.",
        params: jobIdParams,
        response: { 200: jobResponse, ...errorResponses },
      },
    },
    async (request) => ({ job: await acting(engine, request.caller).getJob(request.params.id) }),
  );

  api.get<{ Params: { id: string }; Querystring: { after?: number; limit?: number } }>(
    "/jobs/:id/events",
    {
      config: { ...roleOf.read },
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
      const items = await acting(engine, request.caller).getJobEvents(request.params.id, { after: request.query.after ?? 0, limit });
      return { items, nextCursor: items.length === limit ? String(items.at(-1)?.seq) : null };
    },
  );

  api.get<{ Params: { id: string }; Querystring: { task?: string; tail?: number; after?: number } }>(
    "/jobs/:id/logs",
    {
      config: { ...roleOf.logs },
      schema: {
        summary: "Task output (stdout, stderr, handler logs)",
        description: "Values of the task's secrets are masked as *** before the lines are stored.",
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
      const items = await acting(engine, request.caller).getLogs(request.params.id, {
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
      config: { ...roleOf.cancel },
      schema: {
        summary: "Cancel a job",
        description: "200 when the job is cancelled (at once, or already); 202 while the cancellation is in progress (`wait` holds the response until it ends).",
        params: jobIdParams,
        body: cancelBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await acting(engine, request.caller).cancelJob(request.params.id, request.body ?? {});
      return reply.code(result.cancellation.status === "in_progress" ? 202 : 200).send(result);
    },
  );

  api.post<{ Params: { id: string; key: string }; Body: Record<string, unknown> | undefined }>(
    "/jobs/:id/tasks/:key/cancel",
    {
      config: { ...roleOf.cancel },
      schema: {
        summary: "Cancel one task",
        params: { type: "object", required: ["id", "key"], additionalProperties: false, properties: { id: jobIdParams.properties.id, key: { type: "string", minLength: 1, maxLength: 100 } } },
        body: taskCancelBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await acting(engine, request.caller).cancelTask(request.params.id, request.params.key, request.body ?? {});
      return reply.code(result.cancellation.status === "in_progress" ? 202 : 200).send(result);
    },
  );

  api.post<{ Body: { filter: Record<string, unknown>; dryRun?: boolean; idempotencyKey?: string; reason?: string; force?: boolean; graceMs?: number; sampleSize?: number } }>(
    "/jobs/cancel",
    {
      config: { ...roleOf.bulk },
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
      const result = await acting(engine, request.caller).cancelJobs(request.body as Parameters<typeof engine.cancelJobs>[0]);
      return reply.code(result.cancellation !== null && result.cancellation.status === "in_progress" ? 202 : 200).send(result);
    },
  );

  api.post<{ Params: { id: string } }>(
    "/jobs/:id/resume",
    { config: { ...roleOf.resume }, schema: { summary: "Resume a cancelled, failed or partial job", params: jobIdParams, response: { 200: jobResponse, ...errorResponses } } },
    async (request) => ({ job: await acting(engine, request.caller).resumeJob(request.params.id) }),
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id/cancellation",
    {
      config: { ...roleOf.read },
      schema: { summary: "The job's latest cancellation record, with its steps", params: jobIdParams, response: { 200: { type: "object", properties: { cancellation: { $ref: "Cancellation#" } } }, ...errorResponses } },
    },
    async (request) => {
      const job = await engine.getJob(request.params.id);
      if (job.cancellation === null) throw new BelayError("NOT_FOUND", `job ${job.id} has no cancellation`, { details: { jobId: job.id } });
      return { cancellation: await engine.getCancellation(job.cancellation.id) };
    },
  );
}
