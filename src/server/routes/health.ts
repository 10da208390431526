/**
 * /healthz (the process answers: liveness) and /readyz (the store answers too, and the node is
 * not draining: from the first SIGTERM a load balancer stops sending it requests). No token needed.
 */
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../deps.ts";

export function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get("/healthz", { config: { role: "public" }, schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { role: "public" }, schema: { hide: true } }, async (_request, reply) => {
    if (deps.engine.draining) return reply.code(503).send({ status: "draining" });
    try {
      await deps.engine.countJobs();
      return { status: "ready" };
    } catch (error) {
      return reply.code(503).send({ status: "unavailable", error: (error as Error).message });
    }
  });
}
