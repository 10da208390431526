/** Parts of the server that live beside the core routes (webhooks, metrics, the web UI). */
import type { FastifyInstance } from "fastify";

export interface ServerExtensions {
  /** Routes under /api/v1 (role checks and rate limits apply). */
  registerApiRoutes?: (api: FastifyInstance) => void;
  /** Routes outside /api/v1 (e.g. /metrics, the UI). */
  registerRootRoutes?: (app: FastifyInstance) => void;
}
