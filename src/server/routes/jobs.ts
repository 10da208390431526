/** /api/v1/jobs: submit, list, read, events, logs, cancel (job, task, bulk), resume. */
import type { FastifyInstance } from "fastify";
import { BelayError } from "../../core/errors.ts";
import {
  bulkCancelBody,
  cancelJobBody,
  cancelTaskBody,
  jobEventsQuery,
  jobIdParams,
  listJobsQuery,
  logsQuery,
  parseJobStatusList,
  requestLimits,
  resumeBody,
  taskParams,
} from "../../core/requests.ts";
import type { BulkCancelRequest, CancelJobRequest, CancelTaskRequest } from "../../core/requests.ts";
import { bulkCancelResponse, cancelAnswerStatus, cancelResponse, cancellationResponse, eventPageResponse, jobPageResponse, jobResponse, jobTreeResponse, logPageResponse } from "../../core/responses.ts";
import type { JobFilter, Role } from "../../store/store.ts";
import type { AppDeps } from "../deps.ts";
import { floorOf } from "../../core/policy.ts";
import { acting } from "../auth.ts";
import { errorResponses } from "../schemas.ts";

import { maxBatchJobs } from "../../engine/submissions.ts";

/** The largest body `POST /jobs/batch` accepts (10,000 specs of about 1.6 KiB each). */
const batchBodyLimitBytes = 16 * 2 ** 20;

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
          "Time limits: `timeoutMs`, `queueTimeoutMs` (job) and `stallTimeoutMs` (job or task, ≥ 1000 ms: a running task with no progress, checkpoint or log line for that long is cancelled by the system, reason `stalled`). " +
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

  api.post<{ Body: { jobs: unknown } }>(
    "/jobs/batch",
    {
      config: { ...roleOf.submit },
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
      const results = await acting(engine, request.caller).submitJobs(request.body.jobs);
      return { jobs: results };
    },
  );

  api.get<{ Querystring: { status?: string; queue?: string; label?: string | string[]; owner?: string; idPrefix?: string; name?: string; scheduleId?: string; createdAfter?: string; createdBefore?: string; parent?: string; limit?: number; cursor?: string } }>(
    "/jobs",
    {
      config: { ...roleOf.read },
      schema: {
        summary: "List jobs, newest first",
        description: "A caller that is not a job's owner and not allowed job.env.any (operator by default) sees its env keys with the values replaced by ***.",
        querystring: listJobsQuery,
        response: { 200: jobPageResponse, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const filter: JobFilter = {};
      const status = parseJobStatusList(q.status);
      if (status !== undefined) filter.status = status;
      if (q.queue !== undefined) filter.queue = q.queue;
      if (q.owner !== undefined) filter.owner = q.owner;
      if (q.idPrefix !== undefined) filter.idPrefix = q.idPrefix.toLowerCase();
      if (q.parent !== undefined) filter.parentJobId = q.parent;
      const labels = parseLabels(q.label);
      if (labels !== undefined) filter.labels = labels;
      if (q.name !== undefined && q.name !== "") filter.nameContains = q.name;
      if (q.scheduleId !== undefined) filter.scheduleId = q.scheduleId;
      const createdAfter = parseTimeParam(q.createdAfter, "createdAfter");
      if (createdAfter !== undefined) filter.createdAfter = createdAfter;
      const createdBefore = parseTimeParam(q.createdBefore, "createdBefore");
      if (createdBefore !== undefined) filter.createdBefore = createdBefore;
      return acting(engine, request.caller).listJobs(filter, { limit: q.limit ?? requestLimits.defaultPageSize, cursor: q.cursor ?? null });
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

  api.get<{ Params: { id: string } }>(
    "/jobs/:id/tree",
    {
      config: { ...roleOf.read },
      schema: {
        summary: "A job with its tree of child jobs",
        description:
          "The job and every descendant (DESIGN §7: child jobs started by `ctx.submitChild` or by tasks of kind `job`), each node `{job, children}`, children in creation order, at most 1000 jobs (`truncated` says when there are more). Each job carries `parentJobId`, `parentTaskKey`, `onParentCancel` and `depth`.",
        params: jobIdParams,
        response: { 200: jobTreeResponse, ...errorResponses },
      },
    },
    async (request) => {
      const tree = await acting(engine, request.caller).getJobTree(request.params.id);
      return { tree: tree.root, count: tree.count, truncated: tree.truncated };
    },
  );

  api.get<{ Params: { id: string }; Querystring: { after?: number; limit?: number } }>(
    "/jobs/:id/events",
    {
      config: { ...roleOf.read },
      schema: {
        summary: "The job's event log",
        params: jobIdParams,
        querystring: jobEventsQuery,
        response: { 200: eventPageResponse, ...errorResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? requestLimits.defaultEventPageSize;
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
        querystring: logsQuery,
        response: { 200: logPageResponse, ...errorResponses },
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

  const noBody = "Every field is optional: no body (or an empty one, with or without Content-Type: application/json) means every default.";

  api.post<{ Params: { id: string }; Body: CancelJobRequest | undefined }>(
    "/jobs/:id/cancel",
    {
      config: { ...roleOf.cancel },
      schema: {
        summary: "Cancel a job",
        description: `200 when the job is cancelled (at once, or already); 202 while the cancellation is in progress (\`wait\` holds the answer until it ends). ${noBody}`,
        params: jobIdParams,
        body: cancelJobBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await acting(engine, request.caller).cancelJob(request.params.id, request.body ?? {});
      return reply.code(cancelAnswerStatus(result)).send(result);
    },
  );

  api.post<{ Params: { id: string; key: string }; Body: CancelTaskRequest | undefined }>(
    "/jobs/:id/tasks/:key/cancel",
    {
      config: { ...roleOf.cancel },
      schema: {
        summary: "Cancel one task",
        description: `200 when the task is cancelled (at once, or already); 202 while its cancellation is in progress. ${noBody}`,
        params: taskParams,
        body: cancelTaskBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await acting(engine, request.caller).cancelTask(request.params.id, request.params.key, request.body ?? {});
      return reply.code(cancelAnswerStatus(result)).send(result);
    },
  );

  api.post<{ Body: BulkCancelRequest | undefined }>(
    "/jobs/cancel",
    {
      config: { ...roleOf.bulk },
      schema: {
        summary: "Cancel every job matching a filter",
        description: "200 for a dry run or a bulk cancel that ended at once; 202 while it is in progress. The body is required: it carries the filter.",
        body: bulkCancelBody,
        response: { 200: bulkCancelResponse, 202: bulkCancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await acting(engine, request.caller).cancelJobs(request.body as Parameters<typeof engine.cancelJobs>[0]);
      return reply.code(cancelAnswerStatus(result)).send(result);
    },
  );

  api.post<{ Params: { id: string } }>(
    "/jobs/:id/resume",
    {
      config: { ...roleOf.resume },
      schema: { summary: "Resume a cancelled, failed or partial job", description: "No options: send no body, or {}.", params: jobIdParams, body: resumeBody, response: { 200: jobResponse, ...errorResponses } },
    },
    async (request) => ({ job: await acting(engine, request.caller).resumeJob(request.params.id) }),
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id/cancellation",
    {
      config: { ...roleOf.read },
      schema: { summary: "The job's latest cancellation record, with its steps", params: jobIdParams, response: { 200: cancellationResponse, ...errorResponses } },
    },
    async (request) => {
      const job = await engine.getJob(request.params.id);
      if (job.cancellation === null) throw new BelayError("NOT_FOUND", `job ${job.id} has no cancellation`, { details: { jobId: job.id } });
      return { cancellation: await engine.getCancellation(job.cancellation.id) };
    },
  );
}
