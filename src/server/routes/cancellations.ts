/** /api/v1/cancellations: the history of cancellation records. */
import type { FastifyInstance } from "fastify";
import type { CancellationStatus } from "../../core/model.ts";
import type { AppDeps } from "../app.ts";
import { errorResponses, uuidPattern } from "../schemas.ts";

export function registerCancellationRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { engine } = deps;
  api.get<{ Querystring: { jobId?: string; parentId?: string; status?: CancellationStatus; limit?: number; offset?: number } }>(
    "/cancellations",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Cancellation records, newest first",
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            jobId: { type: "string", pattern: uuidPattern },
            parentId: { type: "string", pattern: uuidPattern, description: "Only the per-job records of this bulk cancellation" },
            status: { type: "string", enum: ["in_progress", "completed", "partial", "failed", "too_late"] },
            limit: { type: "integer", minimum: 1, maximum: 1000, default: 50 },
            offset: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
          },
        },
        response: { 200: { type: "object", properties: { items: { type: "array", items: { $ref: "Cancellation#" } }, total: { type: "integer" } } }, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      return engine.listCancellations(
        { ...(q.jobId === undefined ? {} : { jobId: q.jobId }), ...(q.parentId === undefined ? {} : { parentId: q.parentId }), ...(q.status === undefined ? {} : { status: q.status }) },
        { limit: q.limit ?? 50, offset: q.offset ?? 0 },
      );
    },
  );

  api.get<{ Params: { id: string } }>(
    "/cancellations/:id",
    {
      config: { role: "viewer" },
      schema: {
        summary: "One cancellation record",
        params: { type: "object", required: ["id"], additionalProperties: false, properties: { id: { type: "string", pattern: uuidPattern } } },
        response: { 200: { type: "object", properties: { cancellation: { $ref: "Cancellation#" } } }, ...errorResponses },
      },
    },
    async (request) => ({ cancellation: await engine.getCancellation(request.params.id) }),
  );
}
