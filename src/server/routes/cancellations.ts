/** /api/v1/cancellations: the history of cancellation records. */
import type { FastifyInstance } from "fastify";
import type { CancellationStatus } from "../../core/model.ts";
import type { AppDeps } from "../deps.ts";
import { cancellationIdParams, cancellationsQuery, requestLimits } from "../../core/requests.ts";
import { cancellationPageResponse, cancellationResponse } from "../../core/responses.ts";
import { errorResponses } from "../schemas.ts";

export function registerCancellationRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { engine } = deps;
  api.get<{ Querystring: { jobId?: string; status?: CancellationStatus; limit?: number; offset?: number } }>(
    "/cancellations",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Cancellation records, newest first",
        querystring: cancellationsQuery,
        response: { 200: cancellationPageResponse, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      return engine.listCancellations(
        { ...(q.jobId === undefined ? {} : { jobId: q.jobId }), ...(q.status === undefined ? {} : { status: q.status }) },
        { limit: q.limit ?? requestLimits.defaultPageSize, offset: q.offset ?? 0 },
      );
    },
  );

  api.get<{ Params: { id: string } }>(
    "/cancellations/:id",
    {
      config: { role: "viewer" },
      schema: {
        summary: "One cancellation record",
        params: cancellationIdParams,
        response: { 200: cancellationResponse, ...errorResponses },
      },
    },
    async (request) => ({ cancellation: await engine.getCancellation(request.params.id) }),
  );
}
