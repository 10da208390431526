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
import { bulkCancelResponse, cancelAnswerStatus, cancelResponse, cancellationResponse, eventPageResponse, jobPageResponse, jobResponse, logPageResponse } from "../../core/responses.ts";
import type { JobFilter } from "../../store/store.ts";
import type { AppDeps } from "../deps.ts";
import { hasRole, requireOwnerOrOperator } from "../auth.ts";
import type { Caller } from "../auth.ts";
import { errorResponses } from "../schemas.ts";

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

  api.get<{ Querystring: { status?: string; queue?: string; label?: string | string[]; owner?: string; limit?: number; cursor?: string } }>(
    "/jobs",
    {
      config: { role: "viewer" },
      schema: {
        summary: "List jobs, newest first",
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
      const labels = parseLabels(q.label);
      if (labels !== undefined) filter.labels = labels;
      return engine.listJobs(filter, { limit: q.limit ?? requestLimits.defaultPageSize, cursor: q.cursor ?? null });
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
        querystring: jobEventsQuery,
        response: { 200: eventPageResponse, ...errorResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? requestLimits.defaultEventPageSize;
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
        querystring: logsQuery,
        response: { 200: logPageResponse, ...errorResponses },
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

  const noBody = "Every field is optional: no body (and no Content-Type) means every default.";

  api.post<{ Params: { id: string }; Body: CancelJobRequest | undefined }>(
    "/jobs/:id/cancel",
    {
      config: { role: "user" },
      schema: {
        summary: "Cancel a job",
        description: `200 when the job is cancelled (at once, or already); 202 while the cancellation is in progress (\`wait\` holds the answer until it ends). ${noBody}`,
        params: jobIdParams,
        body: cancelJobBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const job = await ownJob(request.caller, request.params.id, "cancelling a job");
      const result = await engine.cancelJob(job.id, { ...request.body, requestedBy: request.caller.principal });
      return reply.code(cancelAnswerStatus(result)).send(result);
    },
  );

  api.post<{ Params: { id: string; key: string }; Body: CancelTaskRequest | undefined }>(
    "/jobs/:id/tasks/:key/cancel",
    {
      config: { role: "user" },
      schema: {
        summary: "Cancel one task",
        description: `200 when the task is cancelled (at once, or already); 202 while its cancellation is in progress. ${noBody}`,
        params: taskParams,
        body: cancelTaskBody,
        response: { 200: cancelResponse, 202: cancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const job = await ownJob(request.caller, request.params.id, "cancelling a task of a job");
      const result = await engine.cancelTask(job.id, request.params.key, { ...request.body, requestedBy: request.caller.principal });
      return reply.code(cancelAnswerStatus(result)).send(result);
    },
  );

  api.post<{ Body: BulkCancelRequest | undefined }>(
    "/jobs/cancel",
    {
      config: { role: "operator" },
      schema: {
        summary: "Cancel every job matching a filter",
        description: "200 for a dry run or a bulk cancel that ended at once; 202 while it is in progress. The body is required: it carries the filter.",
        body: bulkCancelBody,
        response: { 200: bulkCancelResponse, 202: bulkCancelResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const result = await engine.cancelJobs(body === undefined ? (body as never) : { ...body, requestedBy: request.caller.principal });
      return reply.code(cancelAnswerStatus(result)).send(result);
    },
  );

  api.post<{ Params: { id: string } }>(
    "/jobs/:id/resume",
    {
      config: { role: "user" },
      schema: { summary: "Resume a cancelled, failed or partial job", description: "No options: send no body, or {}.", params: jobIdParams, body: resumeBody, response: { 200: jobResponse, ...errorResponses } },
    },
    async (request) => {
      const job = await ownJob(request.caller, request.params.id, "resuming a job");
      return { job: await engine.resumeJob(job.id, { requestedBy: request.caller.principal }) };
    },
  );

  api.get<{ Params: { id: string } }>(
    "/jobs/:id/cancellation",
    {
      config: { role: "viewer" },
      schema: { summary: "The job's latest cancellation record, with its steps", params: jobIdParams, response: { 200: cancellationResponse, ...errorResponses } },
    },
    async (request) => {
      const job = await engine.getJob(request.params.id);
      if (job.cancellation === null) throw new BelayError("NOT_FOUND", `job ${job.id} has no cancellation`, { details: { jobId: job.id } });
      return { cancellation: await engine.getCancellation(job.cancellation.id) };
    },
  );
}
